#!/usr/bin/env bash
# Generates a UK multi-agency extract with gen.py (written apart from
# braid synth and from tests/indepgen) and runs it through Braid's CLI and
# node under several scheme secrets, printing pairwise scores.
#
#   scripts/ukgen/run.sh [--secrets N] [--seed S] [--households H] [--out DIR] [--no-build]
#
# --secrets N     runs, each under a new scheme secret (default 3)
# --seed S        generator seed (default 7)
# --households H  households to generate (default 1000, about 2,900 people)
# --out DIR       where the extracts, the runs and results.txt go
#                 (default: <cargo target directory>/ukgen)
# --no-build      use the braid and braid-node binaries already built
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
secrets=3; seed=7; households=1000; out=""; build=1
die() { echo "run.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
    case "$1" in
        --secrets) [ $# -ge 2 ] || die "--secrets needs a number"; secrets="$2"; shift 2 ;;
        --seed) [ $# -ge 2 ] || die "--seed needs a number"; seed="$2"; shift 2 ;;
        --households) [ $# -ge 2 ] || die "--households needs a number"; households="$2"; shift 2 ;;
        --out) [ $# -ge 2 ] || die "--out needs a directory"; out="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1" ;;
    esac
done
for n in "$secrets" "$seed" "$households"; do [[ "$n" =~ ^[0-9]+$ ]] || die "numbers only (got '$n')"; done
target="${CARGO_TARGET_DIR:-$repo/target}"
out="${out:-$target/ukgen}"
if [ "$build" = 1 ]; then (cd "$repo" && cargo build --release --locked -p braid-cli -p braid-node); fi
B="$target/release/braid"; N="$target/release/braid-node"
[ -x "$B" ] && [ -x "$N" ] || die "no release binaries in $target/release (build them, or drop --no-build)"
rm -rf "$out"; mkdir -p "$out"; out="$(cd "$out" && pwd)"
python3 "$here/gen.py" --out "$out/data" --seed "$seed" --households "$households" > /dev/null
codes=(CSC POL YOT VOL)
node_pid=""
trap '[ -n "$node_pid" ] && kill "$node_pid" 2>/dev/null; true' EXIT
for i in $(seq 1 "$secrets"); do
    run="$out/run$i"; mkdir -p "$run"
    args=(); for c in "${codes[@]}"; do args+=(--agency "$c"); done
    "$B" keys init --out "$run/keys" "${args[@]}" > "$run/keys.log" 2>&1
    truth=(); reid=()
    for c in "${codes[@]}"; do
        "$B" agency pseudonymise --mapping "$out/data/$c.mapping.toml" --secret "$run/keys/scheme.secret" \
            --input "$out/data/$c.csv" --out "$run/$c.bpx" --truth-column true_id > "$run/$c.pseudonymise.log" 2>&1
        truth+=(--truth "$run/$c.truth.csv"); reid+=(--reid "$run/$c.reid.csv")
    done
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$N" --data-dir "$run/node-data" --listen "127.0.0.1:$port" --operations-listen 127.0.0.1:0 \
        --tls "$run/keys/node" --policy "$run/keys/node/policy.toml" > "$run/node.log" 2>&1 &
    node_pid=$!
    for _ in $(seq 1 300); do grep -q "listening" "$run/node.log" 2>/dev/null && break; sleep 0.1; done
    for c in "${codes[@]}"; do
        bundle="$(sed -n "s/^\"\\([^\"]*\\)\" *= *\"agency:$c\"\$/\\1/p" "$run/keys/node/policy.toml" | head -n 1)"
        "$B" agency upload --node "https://127.0.0.1:$port" --tls "$run/keys/$bundle" "$run/$c.bpx" > "$run/$c.upload.log" 2>&1
    done
    "$B" admin clusters --node "https://127.0.0.1:$port" --tls "$run/keys/admin" --out "$run/clusters.csv" > "$run/clusters.log" 2>&1
    kill "$node_pid"; wait "$node_pid" 2>/dev/null || true; node_pid=""
    "$B" eval --clusters "$run/clusters.csv" "${truth[@]}" "${reid[@]}" --json > "$run/eval.json"
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('secret %s: P %.4f R %.4f F1 %.4f' % (sys.argv[2], d['precision'], d['recall'], d['f1']))" "$run/eval.json" "$i" | tee -a "$out/results.txt"
done
