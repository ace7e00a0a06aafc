"""Vectorised scoring against the row-by-row baseline, in the same process.

Baseline: scoring each response on its own through ``score_response`` (what a naive
per-response scorer does). Measured: ``score_text`` on the whole CSV (parse, validate, score).
Prints rows per second for each and the speed-up ratio; also the time for 100,000 rows, the size
the foundation issue asks to score "in seconds".
"""

from __future__ import annotations

import csv
import io
import time

from physiotrial.core.instruments import get_instrument, score_response
from physiotrial.services.scoring import render, score_text
from physiotrial.simulate.files import womac_csv


def _per_row(text: str) -> float:
    womac = get_instrument("womac")
    started = time.perf_counter()
    for row in csv.DictReader(io.StringIO(text)):
        row.pop("participant")
        score_response(womac, row)
    return time.perf_counter() - started


def _vectorised(text: str) -> float:
    started = time.perf_counter()
    render(score_text("womac", text, "bench.csv"), "csv")
    return time.perf_counter() - started


def main() -> None:
    baseline_rows = 2_000
    sample = womac_csv(baseline_rows, seed=1)
    baseline = min(_per_row(sample) for _ in range(3))
    vectorised = min(_vectorised(sample) for _ in range(3))
    print(f"WOMAC, {baseline_rows:,} rows, best of 3")
    print(f"  baseline row by row (score_response): {baseline_rows / baseline:>12,.0f} rows/s")
    print(f"  vectorised CSV (score_text + render): {baseline_rows / vectorised:>12,.0f} rows/s")
    print(f"  ratio vectorised / baseline: {baseline / vectorised:.1f}x faster")
    big = womac_csv(100_000, seed=2)
    elapsed = _vectorised(big)
    print(f"WOMAC, 100,000 rows from CSV text to CSV text: {elapsed:.2f} s")


if __name__ == "__main__":
    main()
