"""Answer files for examples, tests and benchmarks (e.g. a large WOMAC CSV to score)."""

from __future__ import annotations

import numpy as np

WOMAC_ITEMS = [f"{p}{i}" for p, n in (("p", 5), ("s", 2), ("f", 17)) for i in range(1, n + 1)]


def womac_csv(rows: int, seed: int) -> str:
    """WOMAC LK3.1 answers with a participant column and about 2 % of answers left blank.

    Items share a latent severity per row, as real WOMAC answers do, so subscale sums spread
    realistically over their range.
    """
    rng = np.random.default_rng(seed)
    severity = rng.normal(1.8, 0.7, size=(rows, 1))
    codes = np.clip(np.rint(severity + rng.normal(0, 0.6, size=(rows, 24))), 0, 4).astype(int)
    blank = rng.random((rows, 24)) < 0.02
    lines = ["participant," + ",".join(WOMAC_ITEMS)]
    for r in range(rows):
        cells = ["" if blank[r, j] else str(codes[r, j]) for j in range(24)]
        lines.append(f"P{r + 1:05d}," + ",".join(cells))
    return "\n".join(lines) + "\n"
