#!/usr/bin/env python3
"""Splink (DuckDB backend) on one FEBRL set, on the same extract files and
the same identity fields that Braid was given, scored the same way.

    splink_baseline.py --manifest DIR/febrlN/manifest.json --out result.json

The model is what a Splink user would write without ground truth:
comparisons from Splink's comparison library, term-frequency adjustments on
the names, u by random sampling, m by expectation-maximisation over two
blocking rules, and the prior from a deterministic rule with an assumed
recall of 0.7. Predictions at match probability 0.5 are clustered at 0.5
(connected components), and the clusters are scored with pairwise
precision, recall and F1 over all records, as for Braid. The scores of the
predicted pairs themselves (before clustering) are reported as well.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import pairwise_scores  # noqa: E402

THRESHOLD = 0.5
SEED = 42


def build_settings(columns: list[str], link_type: str):
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    comparisons = [
        cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
        cl.NameComparison("surname").configure(term_frequency_adjustments=True),
        # FEBRL dates of birth are YYYYMMDD text, some malformed: keep the
        # malformed ones comparable as strings (exact, Levenshtein <= 1)
        # instead of treating them as missing.
        cl.DateOfBirthComparison(
            "date_of_birth",
            input_is_string=True,
            datetime_format="%Y%m%d",
            invalid_dates_as_null=False,
        ),
    ]
    blocking = [block_on("given_name"), block_on("surname"), block_on("date_of_birth")]
    if "postcode" in columns:
        comparisons.append(cl.LevenshteinAtThresholds("postcode", [1]))
        blocking.append(block_on("postcode"))
    if "soc_sec_id" in columns:
        comparisons.append(cl.ExactMatch("soc_sec_id"))
        blocking.append(block_on("soc_sec_id"))
    if "address" in columns:
        comparisons.append(cl.LevenshteinAtThresholds("address", [1, 3]))
    settings = SettingsCreator(
        link_type=link_type,
        unique_id_column_name="rec_id",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=blocking,
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )
    return settings


def run(manifest: dict) -> dict:
    import pandas as pd
    from splink import DuckDBAPI, Linker, block_on

    columns = manifest["columns"]
    link_type = manifest["link_type"]
    frames = []
    for agency in manifest["agencies"]:
        frame = pd.read_csv(agency["csv"], dtype=str, keep_default_na=False)
        frame = frame[["rec_id", "true_id", *columns]].copy()
        for column in columns:
            frame[column] = frame[column].str.strip().replace("", None)
        frames.append((agency["code"], frame))

    truth = {}
    for _, frame in frames:
        truth.update(zip(frame["rec_id"], frame["true_id"]))

    started = time.monotonic()
    db_api = DuckDBAPI()
    tables = [
        db_api.register(frame.drop(columns=["true_id"]), dataset_display_name=code.replace("-", "_").lower())
        for code, frame in frames
    ]
    settings = build_settings(columns, link_type)
    linker = Linker(tables if link_type != "dedupe_only" else tables[0], settings, log_level=logging.WARNING)

    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname", "date_of_birth")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=SEED)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("given_name", "surname"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))

    predictions = linker.inference.predict(threshold_match_probability=THRESHOLD)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=THRESHOLD
    )
    predicted_pairs = predictions.as_pandas_dataframe()
    clustered = clusters.as_pandas_dataframe()
    elapsed = time.monotonic() - started

    cluster_of = dict(zip(clustered["rec_id"].astype(str), clustered["cluster_id"].astype(str)))
    cluster_scores = pairwise_scores(cluster_of, truth)

    # The predicted pairs themselves (dedup: pairs within the file; link:
    # pairs across the two files, the only pairs Splink scores).
    edges = {
        tuple(sorted((str(left), str(right))))
        for left, right in zip(predicted_pairs["rec_id_l"], predicted_pairs["rec_id_r"])
    }
    correct = sum(1 for left, right in edges if truth[left] == truth[right])
    if link_type == "link_only":
        first = set(frames[0][1]["rec_id"])
        candidates = {}
        for _, frame in frames:
            for rec_id, person in zip(frame["rec_id"], frame["true_id"]):
                candidates.setdefault(person, [0, 0])[0 if rec_id in first else 1] += 1
        true_pairs = sum(a * b for a, b in candidates.values())
    else:
        true_pairs = cluster_scores["true_pairs"]
    edge_precision = correct / len(edges) if edges else 1.0
    edge_recall = correct / true_pairs if true_pairs else 1.0
    edge_f1 = (
        2 * edge_precision * edge_recall / (edge_precision + edge_recall)
        if edge_precision + edge_recall else 0.0
    )
    return {
        "set": manifest["set"],
        "columns": columns,
        "link_type": link_type,
        "threshold": THRESHOLD,
        "probability_two_random_records_match": linker._settings_obj._probability_two_random_records_match,
        "clusters": cluster_scores,
        "pairs": {
            "predicted_pairs": len(edges),
            "true_pairs": true_pairs,
            "true_pairs_linked": correct,
            "precision": edge_precision,
            "recall": edge_recall,
            "f1": edge_f1,
        },
        "seconds": elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", required=True, type=Path, help="manifest.json written by export.py")
    parser.add_argument("--out", required=True, type=Path, help="where to write the result (JSON)")
    args = parser.parse_args()
    manifest = json.loads(args.manifest.read_text(encoding="utf-8"))
    # Splink's progress messages go to stderr; keep only warnings and errors.
    logging.basicConfig(level=logging.WARNING, format="splink: %(message)s")
    logging.getLogger("splink").setLevel(logging.WARNING)
    result = run(manifest)
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    scores = result["clusters"]
    print(
        f"{manifest['name']} Splink: F1 {scores['f1']:.4f} (P {scores['precision']:.4f}, "
        f"R {scores['recall']:.4f}) on clusters; pairs F1 {result['pairs']['f1']:.4f}; "
        f"{result['seconds']:.1f}s"
    )


if __name__ == "__main__":
    main()
