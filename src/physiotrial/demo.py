"""``make demo``: the reference protocol and real scoring of sample answer sets.

Until the simulated trial lands (the demo issue), the demo shows what the foundation does end to
end: it loads and validates the built-in protocol, prints its schedule, scores published worked
examples of several instruments through the same service the CLI uses, and scores a generated
1,000-row CSV of WOMAC answers.
"""

from __future__ import annotations

import json
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from physiotrial.cli.render import render_protocol
from physiotrial.services.protocols import load_protocol
from physiotrial.services.scoring import render, score_text

# (instrument, answers, where the example comes from)
SAMPLES: list[tuple[str, dict[str, object], str]] = [
    ("vas", {"mm": 62}, "a maximum-pain rating at baseline"),
    (
        "womac",
        {f"{p}{i}": 2 for p, n in (("p", 5), ("s", 2), ("f", 17)) for i in range(1, n + 1)},
        "awell-score vector: all items 'moderate' → 10/4/34/48",
    ),
    (
        "koos",
        {
            **{f"p{i}": v for i, v in enumerate([3, 2, 1, 2, 3, 4, 1, 2, 3], 1)},
            **{f"s{i}": v for i, v in enumerate([2, 3, 1, 4, 2, 1, 3], 1)},
            **{
                f"a{i}": v
                for i, v in enumerate([2, 3, 1, 2, 4, 1, 3, 2, 3, 1, 2, 3, 4, 1, 2, 3, 2], 1)
            },
            **{f"sp{i}": v for i, v in enumerate([3, 4, 3, 2, 4], 1)},
            **{f"q{i}": v for i, v in enumerate([3, 2, 3, 2], 1)},
        },
        "awell-score KOOS vector → pain 41.7, symptoms 42.9, ADL 42.6",
    ),
    (
        "pcs",
        dict(
            zip(
                [f"q{i}" for i in range(1, 14)],
                [0, 1, 2, 3, 0, 0, 1, 4, 2, 1, 3, 0, 4],
                strict=True,
            )
        ),
        "awell-score PCS vector → rumination 10, magnification 5, helplessness 6, total 21",
    ),
    (
        "six_mwt",
        {"distance_m": 420, "sex": "male", "age_years": 60, "height_cm": 170, "weight_kg": 70},
        "Enright–Sherrill 1998: predicted 553.5 m",
    ),
]


def main() -> None:
    console = Console(width=120)
    console.rule("[bold]physiotrial demo: the reference protocol")
    protocol = load_protocol("popliteus-dn-koa")
    render_protocol(protocol, console)

    console.rule("[bold]Scoring worked examples through the scoring service")
    for name, answers, origin in SAMPLES:
        scored = score_text(name, json.dumps(answers), f"sample {name}")
        result = json.loads(render(scored, "json"))
        shown = {k: _short(v) for k, v in result["scores"].items() if v is not None}
        console.print(f"[bold]{name}[/bold] ({origin})")
        console.print(f"  {shown}")

    console.rule("[bold]Scoring a 1,000-row CSV of WOMAC answers")
    text = womac_csv(1000, seed=2025)
    started = time.perf_counter()
    scored = score_text("womac", text, "generated.csv")
    elapsed = time.perf_counter() - started
    table = Table(title=f"1,000 responses scored in {elapsed * 1000:.0f} ms")
    for column in ("score", "n scored", "mean", "sd"):
        table.add_column(column)
    for key in ("pain", "stiffness", "function", "total_100"):
        values = np.array([v for v in scored.table.values(key) if v is not None], dtype=float)
        table.add_row(key, str(values.size), f"{values.mean():.1f}", f"{values.std(ddof=1):.1f}")
    console.print(table)
    unscorable = sum(1 for row in range(len(scored.table)) if scored.table.row(row).unscorable)
    console.print(f"{unscorable} responses had a subscale made unscorable by missing items.")


def womac_csv(rows: int, seed: int) -> str:
    """WOMAC answers with a participant id column and about 2 % of answers left blank."""
    rng = np.random.default_rng(seed)
    items = [f"{p}{i}" for p, n in (("p", 5), ("s", 2), ("f", 17)) for i in range(1, n + 1)]
    severity = rng.normal(1.8, 0.7, size=(rows, 1))
    codes = np.clip(np.rint(severity + rng.normal(0, 0.6, size=(rows, 24))), 0, 4).astype(int)
    blank = rng.random((rows, 24)) < 0.02
    lines = ["participant," + ",".join(items)]
    for r in range(rows):
        cells = ["" if blank[r, j] else str(codes[r, j]) for j in range(24)]
        lines.append(f"P{r + 1:05d}," + ",".join(cells))
    return "\n".join(lines) + "\n"


def _short(value: object) -> object:
    return round(value, 1) if isinstance(value, float) else value


if __name__ == "__main__":
    main()
