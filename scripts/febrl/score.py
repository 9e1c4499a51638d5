#!/usr/bin/env python3
"""Scores Braid's clusters on a FEBRL set, and writes the comparison table.

    score.py braid --manifest M --run DIR --out result.json
        DIR holds clusters.csv, eval.json (`braid eval --json`), each
        agency's CODE.reid.csv and CODE.pseudonymise.log. Scores the
        clusters over every record of the set: a row that pseudonymise
        rejected was never uploaded and counts as a record of its own, so
        Braid and Splink are scored on the same records. `braid eval`'s own
        figures (over the uploaded rows) are kept alongside.

    score.py table --results DIR --fields core,all --out-md results.md --out-json results.json
        Reads DIR/<fields>/febrlN-braid-*.json, febrlN-splink.json and
        timings.jsonl, and writes one markdown table per field set.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import pairwise_scores  # noqa: E402

SUMMARY = re.compile(
    r"read (\d+) rows?; (\d+) involvements? in (\d+) records? written to .*?; (\d+) rows? rejected, (\d+) warnings?"
)
ISSUE = re.compile(r"^(rejected|warning) row \d+: ([^:]+): (.*)$")


def read_csv(path: Path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def pseudonymise_summary(log: Path) -> dict:
    text = log.read_text(encoding="utf-8", errors="replace")
    summary: dict = {"rows": None, "rejected": None, "warnings": None, "rejected_reasons": {}, "warning_reasons": {}}
    match = SUMMARY.search(text)
    if match:
        summary["rows"] = int(match.group(1))
        summary["rejected"] = int(match.group(4))
        summary["warnings"] = int(match.group(5))
    for line in text.splitlines():
        issue = ISSUE.match(line.strip())
        if issue:
            kind, field, reason = issue.groups()
            key = f"{field.strip()}: {reason.strip()}"
            bucket = summary["rejected_reasons" if kind == "rejected" else "warning_reasons"]
            bucket[key] = bucket.get(key, 0) + 1
    return summary


def score_braid(manifest: dict, run: Path) -> dict:
    truth = {}
    for agency in manifest["agencies"]:
        for row in read_csv(Path(agency["csv"])):
            truth[row["rec_id"]] = row["true_id"]
    case_of = {}
    for agency in manifest["agencies"]:
        for row in read_csv(run / f"{agency['code']}.reid.csv"):
            case_of[(row["agency"], row["record_ref"])] = row["case_id"]
    profile_of = {}
    identified = set()
    for row in read_csv(run / "clusters.csv"):
        case = case_of.get((row["agency"], row["record_ref"]))
        if case is None:
            raise SystemExit(f"clusters.csv names {row['agency']} {row['record_ref']}, which no re-identification map has")
        profile_of[case] = row["profile_id"]
        if row.get("identified", "yes") == "yes":
            identified.add(case)
    all_records = pairwise_scores(profile_of, truth)
    # `braid eval` leaves out involvements with no identity at all.
    uploaded = pairwise_scores(profile_of, truth, records=[r for r in truth if r in identified])
    braid_eval = json.loads((run / "eval.json").read_text(encoding="utf-8"))
    agencies = {
        agency["code"]: pseudonymise_summary(run / f"{agency['code']}.pseudonymise.log")
        for agency in manifest["agencies"]
    }
    # The clusters scored here over the uploaded rows should give what
    # `braid eval` reports; say so when they do not.
    consistent = (
        abs(uploaded["precision"] - braid_eval["precision"]) < 1e-9
        and abs(uploaded["recall"] - braid_eval["recall"]) < 1e-9
    )
    return {
        "set": manifest["set"],
        "all_records": all_records,
        "uploaded_records": uploaded,
        "braid_eval": braid_eval,
        "consistent_with_braid_eval": consistent,
        "pseudonymise": agencies,
        "not_uploaded": len(truth) - len(profile_of),
        "uploaded_without_identity": len(profile_of) - len(identified),
    }


def span(values, digits=3):
    low, high = min(values), max(values)
    if f"{low:.{digits}f}" == f"{high:.{digits}f}":
        return f"{low:.{digits}f}"
    return f"{low:.{digits}f}–{high:.{digits}f}"


def timing_lines(fields_dir: Path) -> tuple[list[str], dict]:
    """A table of how long each part took, from run.sh's timings.jsonl."""
    path = fields_dir / "timings.jsonl"
    if not path.exists():
        return [], {}
    entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    braid_steps = ["keys", "pseudonymise", "node_start", "upload", "clusters", "eval"]
    summary: dict = {"export": sum(e["seconds"] for e in entries if e["step"] == "export"), "sets": {}}
    lines = [
        "| data set | Braid per secret: keys | pseudonymise | node start | upload (linking) | export clusters | eval | Braid total (all secrets) | Splink |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for number in sorted({e["set"] for e in entries if e["set"]}):
        mine = [e for e in entries if e["set"] == number]
        secrets = {e["secret"] for e in mine if e["secret"]}
        per_step = {
            step: sum(e["seconds"] for e in mine if e["step"] == step) / max(len(secrets), 1)
            for step in braid_steps
        }
        braid_total = sum(e["seconds"] for e in mine if e["step"] in braid_steps)
        splink = sum(e["seconds"] for e in mine if e["step"] == "splink")
        summary["sets"][f"FEBRL {number}"] = {
            "braid_mean_per_secret": per_step, "braid_total": braid_total, "splink": splink,
        }
        lines.append(
            f"| FEBRL {number} | " + " | ".join(f"{per_step[step]:.2f}" for step in braid_steps)
            + f" | {braid_total:.1f} | {splink:.1f} |"
        )
    return lines, summary


def table(results: Path, field_sets: list[str], out_md: Path, out_json: Path, setup_seconds=None, build_seconds=None) -> str:
    everything: dict = {}
    if setup_seconds is not None:
        everything["seconds"] = {"python_environment": setup_seconds, "cargo_build": build_seconds}
    sections = []
    for fields in field_sets:
        fields_dir = results / fields
        manifests = sorted(fields_dir.glob("febrl*.manifest.json"))
        if not manifests:
            continue
        rows = []
        notes = []
        for manifest_path in manifests:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            stem = f"febrl{manifest['set']}"
            braid_runs = [
                json.loads(p.read_text(encoding="utf-8")) for p in sorted(fields_dir.glob(f"{stem}-braid-*.json"))
            ]
            splink_path = fields_dir / f"{stem}-splink.json"
            splink = json.loads(splink_path.read_text(encoding="utf-8")) if splink_path.exists() else None
            everything.setdefault("fields", {}).setdefault(fields, {})[manifest["name"]] = {
                "records": manifest["records"],
                "true_pairs": manifest["true_pairs"],
                "braid_identity_fields": manifest["braid_identity_fields"],
                "splink_columns": manifest["columns"],
                "braid": braid_runs,
                "splink": splink,
            }
            if braid_runs:
                scores = [run["all_records"] for run in braid_runs]
                braid_cell = (
                    f"{span([s['f1'] for s in scores])} "
                    f"(P {span([s['precision'] for s in scores])}, R {span([s['recall'] for s in scores])})"
                )
                eval_cell = span([run["braid_eval"]["f1"] for run in braid_runs])
                rejected = braid_runs[0]["not_uploaded"]
                if not all(run["consistent_with_braid_eval"] for run in braid_runs):
                    notes.append(f"{manifest['name']}: the clusters scored here differ from `braid eval`'s figures")
                reasons: dict = {}
                for agency in braid_runs[0]["pseudonymise"].values():
                    for reason, count in agency["rejected_reasons"].items():
                        reasons[reason] = reasons.get(reason, 0) + count
                if rejected:
                    listed = "; ".join(f"{reason} ×{count}" for reason, count in sorted(reasons.items()))
                    shown = sum(reasons.values())
                    which = "" if shown >= rejected else f"the {shown} listed: "
                    notes.append(f"{manifest['name']}: {rejected} rows rejected by pseudonymise ({which}{listed})")
                unidentified = braid_runs[0].get("uploaded_without_identity", 0)
                if unidentified:
                    notes.append(
                        f"{manifest['name']}: {unidentified} uploaded rows had no usable identity "
                        "(left out by `braid eval`, scored here as records)"
                    )
                warnings = sum(a["warnings"] or 0 for a in braid_runs[0]["pseudonymise"].values())
                seen = sorted({r for a in braid_runs[0]["pseudonymise"].values() for r in a["warning_reasons"]})
                if warnings:
                    notes.append(
                        f"{manifest['name']}: {warnings} pseudonymise warnings (those listed: {'; '.join(seen)})"
                    )
            else:
                braid_cell, eval_cell, rejected = "—", "—", "—"
            if splink:
                s = splink["clusters"]
                splink_cell = f"{s['f1']:.3f} (P {s['precision']:.3f}, R {s['recall']:.3f})"
            else:
                splink_cell = "—"
            rows.append(
                f"| {manifest['name']} | {manifest['records']} | {manifest['true_pairs']} | {rejected} | "
                f"{braid_cell} | {eval_cell} | {splink_cell} |"
            )
        first = json.loads(manifests[0].read_text(encoding="utf-8"))
        secrets = len(list(fields_dir.glob(f"febrl{first['set']}-braid-*.json")))
        lines = [
            f"### Fields: {fields} — Braid maps {', '.join(first['braid_identity_fields'])}; "
            f"Splink compares {', '.join(first['columns'])}",
            "",
            f"Pairwise scores of the clusters over all records; Braid: min–max over {secrets} scheme secret(s).",
            "",
            "| data set | records | true pairs | rows not uploaded | Braid F1 (P, R) | braid eval F1 (uploaded rows) | Splink F1 (P, R) |",
            "| --- | ---: | ---: | ---: | --- | --- | --- |",
            *rows,
        ]
        if notes:
            lines += [""] + [f"- {note}" for note in notes]
        timings, timing_summary = timing_lines(fields_dir)
        if timings:
            everything.setdefault("timings", {})[fields] = timing_summary
            lines += ["", "Seconds (Splink: the whole script, including reading the data and training):", "", *timings]
        sections.append("\n".join(lines))
    text = "\n\n".join(sections) + "\n"
    out_md.write_text(text, encoding="utf-8")
    out_json.write_text(json.dumps(everything, indent=2), encoding="utf-8")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    braid = commands.add_parser("braid")
    braid.add_argument("--manifest", required=True, type=Path)
    braid.add_argument("--run", required=True, type=Path)
    braid.add_argument("--out", required=True, type=Path)
    summary = commands.add_parser("table")
    summary.add_argument("--results", required=True, type=Path)
    summary.add_argument("--out-md", required=True, type=Path)
    summary.add_argument("--out-json", required=True, type=Path)
    summary.add_argument("--fields", default="core,all", help="field sets to tabulate, e.g. core,all")
    summary.add_argument("--setup-seconds", type=float)
    summary.add_argument("--build-seconds", type=float)
    args = parser.parse_args()
    if args.command == "braid":
        manifest = json.loads(args.manifest.read_text(encoding="utf-8"))
        result = score_braid(manifest, args.run)
        args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
        scores = result["all_records"]
        print(
            f"{manifest['name']} Braid: F1 {scores['f1']:.4f} (P {scores['precision']:.4f}, R {scores['recall']:.4f}) "
            f"over all {scores['records']} records; braid eval F1 {result['braid_eval']['f1']:.4f} over the "
            f"{result['uploaded_records']['records']} uploaded"
        )
    else:
        field_sets = [f for f in args.fields.split(",") if f]
        print(table(args.results, field_sets, args.out_md, args.out_json, args.setup_seconds, args.build_seconds), end="")


if __name__ == "__main__":
    main()
