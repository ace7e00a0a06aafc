"""Adverse event rates per session and per participant by arm, with exact CIs.

Per session: sessions of the session plan that were delivered (the denominator) and how many of
them had at least one adverse event linked to them. Per participant: participants who received
at least one session and how many had at least one adverse event of any kind. Serious events are
counted apart (White et al. classification, reference/instruments.md §12). Exact binomial CIs by
Clopper & Pearson (Biometrika 1934;26:404-413) through the beta quantiles, which is what
``scipy.stats.binomtest(k, n).proportion_ci(method="exact")`` and R's ``binom.test`` give.
"""

from __future__ import annotations

import math

import pandas as pd
from scipy import stats

from physiotrial.analysis.results import COLUMNS


def clopper_pearson(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact two-sided CI of k/n; (0, 1 − (α/2)^(1/n)) at k = 0 and so on at k = n."""
    if n == 0:
        return float("nan"), float("nan")
    low = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k == n else float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return low, high


def safety_table(
    participants: pd.DataFrame,
    sessions: pd.DataFrame,
    adverse_events: pd.DataFrame,
    plan: str,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """One row per arm × unit ("session" of ``plan``, "participant").

    ``participants``: study_code, arm; ``sessions``: study_code, plan, number, delivered;
    ``adverse_events``: study_code, severity, session_plan, session_number.
    """
    rows: list[dict[str, object]] = []
    arm_of = participants.set_index("study_code")["arm"]
    held = sessions[(sessions["plan"] == plan) & sessions["delivered"].astype(bool)]
    events = adverse_events.assign(arm=adverse_events["study_code"].map(arm_of))
    held = held.assign(arm=held["study_code"].map(arm_of))
    for arm in sorted(participants["arm"].dropna().unique()):
        mine = held[held["arm"] == arm]
        keys = set(zip(mine["study_code"], mine["number"], strict=True))
        arm_events = events[events["arm"] == arm]
        linked = arm_events[arm_events["session_plan"] == plan]
        linked_keys = set(zip(linked["study_code"], linked["session_number"], strict=True))
        serious_keys = set(
            zip(
                linked.loc[linked["severity"] == "serious", "study_code"],
                linked.loc[linked["severity"] == "serious", "session_number"],
                strict=True,
            )
        )
        rows.append(
            _row(
                arm, "session", len(keys), len(keys & linked_keys), len(keys & serious_keys), alpha
            )
        )
        treated = set(sessions.loc[sessions["delivered"].astype(bool), "study_code"])
        people = set(participants.loc[participants["arm"] == arm, "study_code"]) & treated
        with_event = people & set(arm_events["study_code"])
        serious = people & set(arm_events.loc[arm_events["severity"] == "serious", "study_code"])
        rows.append(_row(arm, "participant", len(people), len(with_event), len(serious), alpha))
    return pd.DataFrame(rows, columns=list(COLUMNS["safety"]))


def _row(arm: str, unit: str, n: int, k: int, serious: int, alpha: float) -> dict[str, object]:
    low, high = clopper_pearson(k, n, alpha)
    rate = k / n if n else math.nan
    return {
        "arm": arm,
        "unit": unit,
        "denominator": n,
        "with_event": k,
        "rate": rate,
        "ci_low": low,
        "ci_high": high,
        "serious": serious,
    }
