#!/usr/bin/env python3
"""Writes the FEBRL data sets as Braid extracts with their mapping files.

    export.py probe --braid PATH/braid --work DIR
        Finds which optional identity fields (postcode, address, a
        soc_sec_id identifier) the mapping format of this `braid` accepts,
        by pseudonymising a few FEBRL rows with a trial mapping. Prints JSON.

    export.py write --out DIR --sets 1,2,3,4 --fields core|all [--extra F,...]
        Writes DIR/febrlN/ for each set: one CSV and one mapping per agency
        and manifest.json (the files, the link type, the record count, the
        number of true pairs and the fields used).

FEBRL 1-3 are deduplication tasks: one agency (FEBRL-N), each row its own
case and its own person. FEBRL 4 is two files, A and B, from two agencies
(FEBRL-4A, FEBRL-4B). `true_id` names the original record of every row.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_set, pairs, true_id  # noqa: E402

CONSTANTS = {"role": "VICTIM", "case_type": "CSA", "event_date": "2024-01-01"}

# Identity fields always mapped (mapping key -> extract column).
CORE = {"forename": "given_name", "surname": "surname", "date_of_birth": "date_of_birth"}
# Optional identity fields for `--fields all`, in the order they are tried.
# `ids.NAME` is an entry of an [identity.ids] table.
OPTIONAL = {"postcode": "postcode", "address": "address", "ids.soc_sec_id": "soc_sec_id"}


def agencies_of(number: int):
    if number == 4:
        return [("A", "FEBRL-4A"), ("B", "FEBRL-4B")]
    return [("", f"FEBRL-{number}")]


def extract_rows(frame):
    """The extract's rows: the FEBRL columns, the built address, the
    constant columns Braid requires and the true person."""
    rows = []
    for record in frame.to_dict("records"):
        row = dict(record)
        row["address"] = " ".join(
            part for part in (record["street_number"].strip(), record["address_1"].strip()) if part
        )
        row.update(CONSTANTS)
        row["true_id"] = true_id(record["rec_id"])
        rows.append(row)
    return rows


def write_csv(path: Path, rows):
    columns = list(rows[0].keys())
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def mapping_text(code: str, fields: list[str]) -> str:
    """A mapping for one FEBRL agency; `fields` are the optional identity
    fields to map as well as the core ones."""
    identity = dict(CORE)
    ids = {}
    for field in fields:
        if field.startswith("ids."):
            ids[field[len("ids."):]] = OPTIONAL[field]
        else:
            identity[field] = OPTIONAL[field]
    lines = [
        "[agency]",
        f"code = {toml_string(code)}",
        'type = "voluntary"',
        "",
        "[columns]",
        'record_ref = "rec_id"',
        'person_ref = "rec_id"',
        'role = "role"',
        'case_type = "case_type"',
        'event_date = "event_date"',
        'date_format = "%Y-%m-%d"',
        "",
        "[identity]",
    ]
    for key, column in identity.items():
        lines.append(f"{key} = {toml_string(column)}")
    lines.append('date_of_birth_format = "%Y%m%d"')
    if ids:
        lines += ["", "[identity.ids]"]
        lines += [f"{key} = {toml_string(column)}" for key, column in ids.items()]
    lines += [
        "",
        "[roles]",
        'VICTIM = "known_victim"',
        "",
        "[case_types]",
        'CSA = "CSA"',
        "",
    ]
    return "\n".join(lines)


# --- probe -------------------------------------------------------------------

UNKNOWN_FIELD = re.compile(r"unknown field `([^`]+)`")
ISSUE = re.compile(r"^(rejected|warning) row \d+: ([^:]+): (.*)$")


def issues_by_field(text: str):
    """`{kind: {field: {reason: count}}}` from pseudonymise's messages."""
    found: dict = {}
    for line in text.splitlines():
        match = ISSUE.match(line.strip())
        if match:
            kind, field, reason = match.groups()
            bucket = found.setdefault(kind, {}).setdefault(field.strip(), {})
            bucket[reason.strip()] = bucket.get(reason.strip(), 0) + 1
    return found


def probe(braid: str, work: Path) -> dict:
    env = dict(os.environ, RUST_BACKTRACE="0", RUST_LIB_BACKTRACE="0")
    keys = work / "keys"
    done = subprocess.run(
        [braid, "keys", "init", "--out", str(keys), "--agency", "FEBRL-PROBE"],
        capture_output=True, text=True, env=env,
    )
    if done.returncode != 0:
        raise SystemExit(f"braid keys init failed:\n{done.stdout}{done.stderr}")
    _, frame = load_set(1)[0]
    rows = extract_rows(frame.head(50))
    extract = work / "probe.csv"
    write_csv(extract, rows)
    candidates = list(OPTIONAL)
    refused = {}
    while True:
        mapping = work / "probe.mapping.toml"
        mapping.write_text(mapping_text("FEBRL-PROBE", candidates), encoding="utf-8")
        done = subprocess.run(
            [braid, "agency", "pseudonymise", "--mapping", str(mapping),
             "--secret", str(keys / "scheme.secret"), "--input", str(extract),
             "--out", str(work / "probe.bpx"), "--truth-column", "true_id"],
            capture_output=True, text=True, env=env,
        )
        output = done.stdout + done.stderr
        if done.returncode == 0:
            break
        match = UNKNOWN_FIELD.search(output)
        name = match.group(1) if match else None
        dropped = [
            field for field in candidates
            if name is not None and (field == name or field == f"ids.{name}"
                                     or (name == "ids" and field.startswith("ids.")))
        ]
        if not dropped:
            raise SystemExit(
                "braid agency pseudonymise refused the trial mapping for a reason other than an "
                f"unknown field:\n{output.strip()}"
            )
        first_line = next((line.strip() for line in output.splitlines() if "unknown field" in line), "")
        for field in dropped:
            refused[field] = first_line
            candidates.remove(field)
    issues = issues_by_field(output)
    # Fields that were accepted by the mapping but not used for a row.
    unused = {}
    for field, reasons in issues.get("warning", {}).items():
        for reason, count in reasons.items():
            if "not used" in reason:
                unused[field] = f"{reason} (on {count} of the trial rows listed)"
    return {"accepted": candidates, "refused": refused, "unused_on_trial_rows": unused}


# --- write -------------------------------------------------------------------

def write(out: Path, sets: list[int], fields: str, extra: list[str]) -> None:
    chosen = [] if fields == "core" else extra
    for field in chosen:
        if field not in OPTIONAL:
            raise SystemExit(f"unknown optional field {field!r}; known: {', '.join(OPTIONAL)}")
    splink_columns = list(CORE.values()) + [OPTIONAL[field] for field in chosen]
    for number in sets:
        directory = out / f"febrl{number}"
        directory.mkdir(parents=True, exist_ok=True)
        files = dict(load_set(number))
        agencies = []
        truth_sizes: dict = {}
        for label, code in agencies_of(number):
            rows = extract_rows(files[label])
            for row in rows:
                truth_sizes[row["true_id"]] = truth_sizes.get(row["true_id"], 0) + 1
            stem = code
            csv_path = directory / f"{stem}.csv"
            mapping_path = directory / f"{stem}.mapping.toml"
            write_csv(csv_path, rows)
            mapping_path.write_text(mapping_text(code, chosen), encoding="utf-8")
            agencies.append({
                "code": code, "csv": str(csv_path), "mapping": str(mapping_path), "rows": len(rows),
            })
        manifest = {
            "set": number,
            "name": f"FEBRL {number}",
            "link_type": "link_only" if number == 4 else "dedupe_only",
            "agencies": agencies,
            "records": sum(agency["rows"] for agency in agencies),
            "true_pairs": sum(pairs(n) for n in truth_sizes.values()),
            "field_set": fields,
            "braid_identity_fields": list(CORE) + chosen,
            "columns": splink_columns,
        }
        (directory / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        print(
            f"FEBRL {number}: {manifest['records']} records in {len(agencies)} file(s), "
            f"{manifest['true_pairs']} true pairs -> {directory}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    probe_parser = commands.add_parser("probe", help="which optional identity fields braid accepts")
    probe_parser.add_argument("--braid", required=True, help="path of the braid binary")
    probe_parser.add_argument("--work", help="scratch directory (default: a temporary one)")
    write_parser = commands.add_parser("write", help="write the extracts and mappings")
    write_parser.add_argument("--out", required=True, type=Path)
    write_parser.add_argument("--sets", default="1,2,3,4")
    write_parser.add_argument("--fields", choices=["core", "all"], default="core")
    write_parser.add_argument("--extra", default="", help="optional fields for --fields all (from probe)")
    args = parser.parse_args()
    if args.command == "probe":
        if args.work:
            work = Path(args.work)
            work.mkdir(parents=True, exist_ok=True)
            print(json.dumps(probe(args.braid, work), indent=2))
        else:
            with tempfile.TemporaryDirectory(prefix="braid-febrl-probe-") as scratch:
                print(json.dumps(probe(args.braid, Path(scratch)), indent=2))
    else:
        try:
            sets = sorted({int(part) for part in args.sets.split(",") if part.strip()})
        except ValueError:
            raise SystemExit(f"--sets takes numbers from 1 to 4, e.g. 1,2,3,4 (got {args.sets!r})")
        if not sets or any(number not in (1, 2, 3, 4) for number in sets):
            raise SystemExit(f"--sets takes numbers from 1 to 4 (got {args.sets!r})")
        extra = [part.strip() for part in args.extra.split(",") if part.strip()]
        write(args.out, sets, args.fields, extra)


if __name__ == "__main__":
    main()
