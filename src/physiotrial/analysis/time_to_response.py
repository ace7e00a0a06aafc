"""How many treatments will I need? Kaplan–Meier sessions to response in a clinic.

Each patient has the number of sessions delivered and whether a response (MCID reached, or the
OMERACT-OARSI responder criteria) was first seen after the last of them; a patient who stopped,
or is still in care, before responding is right-censored at the sessions they had
(``clinic_progress.response_times`` builds this frame). Ignoring the censored patients, or
counting them as non-responders, would bias the answer, hence the product-limit estimate of
Kaplan & Meier (JASA 1958;53:457-481)::

    S(k) = Π_{t ≤ k} (1 − d_t / n_t)        share still not responded after k sessions

with Greenwood's variance (Greenwood, Reports on Public Health and Medical Subjects 33, HMSO
1926): Var(log S) = Σ d / (n (n − d)), SE(S) = S · sqrt(Σ d / (n (n − d))).

The pointwise band is ``log-log`` by default ("exponential Greenwood", Kalbfleisch & Prentice,
The Statistical Analysis of Failure Time Data, Wiley 1980, §1.3), as lifelines gives it, because
it stays inside [0, 1] and behaves well in small clinics; R survival's default ``log`` band and
the ``plain`` band are options. Conventions follow R survival (survfit_confint): no band where S
is 0 (every patient still at risk responded); the log-log band is [1, 1] before the first
response (R leaves it NA there, lifelines gives 1).

The median sessions to response and its CI follow Brookmeyer & Crowley (Biometrics
1982;38:29-41) as R reads them off the curve and its band: the median is the first time at which
S ≤ 0.5, the limits where the band's limits first fall to 0.5; when S is exactly 0.5 over an
interval the median is the midpoint of that interval. ``rule="print"`` is print.survfit's and
``summary(fit)$table``'s rule (survmean), ``rule="quantile"`` is quantile.survfit's, which differs
only when the curve stays at 0.5 to the last follow-up (it then averages with the last time).
"Not reached" is None.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from physiotrial.errors import ModelError

Band = Literal["log-log", "log", "plain"]
MedianRule = Literal["print", "quantile"]
BANDS: tuple[Band, ...] = ("log-log", "log", "plain")
TOLERANCE = float(np.sqrt(np.finfo(float).eps))
"""R survival's tolerance for "S is exactly 0.5" (sqrt(.Machine$double.eps))."""
TABLE_COLUMNS = (
    "time",
    "at_risk",
    "events",
    "censored",
    "survival",
    "se",
    "lower",
    "upper",
    "responded",
    "responded_lower",
    "responded_upper",
)
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class KaplanMeier:
    """Sessions to response: the curve at each distinct time and the median with its CI.

    ``table`` has one row per distinct number of sessions at which someone responded or was
    censored (``TABLE_COLUMNS``); ``survival`` is the share not yet responded, ``responded`` is
    1 − survival with its band (``responded_lower`` = 1 − ``upper``). ``median`` is None when
    fewer than half are seen to respond, and so for each limit.
    """

    table: pd.DataFrame
    median: float | None
    median_lower: float | None
    median_upper: float | None
    n: int
    events: int
    alpha: float
    band: Band


def sessions_to_response(
    data: pd.DataFrame, alpha: float = 0.05, band: Band = "log-log"
) -> KaplanMeier:
    """Kaplan–Meier estimate from ``data`` with columns ``sessions`` and ``responded``."""
    sessions, responded = _checked(data, alpha, band)
    times = np.unique(sessions)
    at_risk = np.array([(sessions >= t).sum() for t in times], dtype=float)
    events = np.array([(responded & (sessions == t)).sum() for t in times], dtype=float)
    censored = np.array([(~responded & (sessions == t)).sum() for t in times], dtype=float)
    survival = np.cumprod(1.0 - events / at_risk)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(events > 0, events / (at_risk * (at_risk - events)), 0.0)
    se_log = np.sqrt(np.cumsum(terms))  # R's fit$std.err: SE of −log S; inf once S = 0
    with np.errstate(invalid="ignore"):
        se = np.where(survival > 0, survival * se_log, np.nan)
    lower, upper = pointwise_band(survival, se_log, alpha, band)
    table = pd.DataFrame(
        {
            "time": times,
            "at_risk": at_risk.astype(int),
            "events": events.astype(int),
            "censored": censored.astype(int),
            "survival": survival,
            "se": se,
            "lower": lower,
            "upper": upper,
            "responded": 1.0 - survival,
            "responded_lower": 1.0 - upper,
            "responded_upper": 1.0 - lower,
        },
        columns=list(TABLE_COLUMNS),
    )
    km = KaplanMeier(table, None, None, None, len(sessions), int(responded.sum()), alpha, band)
    median, median_lower, median_upper = median_sessions(km)
    return KaplanMeier(table, median, median_lower, median_upper, km.n, km.events, alpha, band)


def pointwise_band(
    survival: Floats, se_log: Floats, alpha: float, band: Band
) -> tuple[Floats, Floats]:
    """(lower, upper) of S at level 1 − α on the scale ``band`` (R survival's survfit_confint).

    ``se_log`` is Greenwood's SE of log S. log-log: S^exp(±z·se/log S); log: S·exp(±z·se) with
    the upper limit capped at 1; plain: S ± z·S·se inside [0, 1]. NaN where S = 0.
    """
    z = float(stats.norm.ppf(1 - alpha / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(survival > 0, survival, np.nan)
        if band == "plain":
            half = z * s * se_log
            lower, upper = np.maximum(s - half, 0.0), np.minimum(s + half, 1.0)
        elif band == "log":
            lower, upper = s * np.exp(-z * se_log), np.minimum(s * np.exp(z * se_log), 1.0)
        else:
            inner = np.where(s < 1, s, np.nan)
            shift = z * se_log / np.log(inner)
            loglog = np.log(-np.log(inner))
            lower = np.where(s >= 1, 1.0, np.exp(-np.exp(loglog - shift)))
            upper = np.where(s >= 1, 1.0, np.exp(-np.exp(loglog + shift)))
    return lower.astype(float), upper.astype(float)


def median_sessions(
    km: KaplanMeier, rule: MedianRule = "print"
) -> tuple[float | None, float | None, float | None]:
    """(median, lower, upper) sessions to response; None where the curve never reaches 0.5."""
    table = km.table
    times = table["time"].to_numpy(dtype=float)
    curves = [table[c].to_numpy(dtype=float) for c in ("survival", "lower", "upper")]
    if rule == "print":
        found = [_first_below_half(curve, times) for curve in curves]
    elif rule == "quantile":
        if km.band == "log-log":  # R leaves this band NA where S = 1; it matters to findq
            survival = curves[0]
            curves[1:] = [np.where(survival >= 1, np.nan, c) for c in curves[1:]]
        found = [_r_findq(times, curve) for curve in curves]
    else:
        raise ModelError(f"median rule {rule!r} is not one of 'print', 'quantile'")
    return found[0], found[1], found[2]


def _first_below_half(curve: Floats, times: Floats) -> float | None:
    """survmean's minmin: the first time with curve ≤ 0.5, averaged with the next drop if the
    curve sits exactly at 0.5 there (R survival, print.survfit)."""
    keep = ~np.isnan(curve) & (curve < 0.5 + TOLERANCE)
    if not keep.any():
        return None
    x, y = times[keep], curve[keep]
    below = np.flatnonzero(y < y[0])
    if abs(y[0] - 0.5) < TOLERANCE and below.size:
        return float((x[0] + x[below[0]]) / 2)
    return float(x[0])


def _r_findq(times: Floats, curve: Floats, p: float = 0.5) -> float | None:
    """quantile.survfit's findq on (0, times) against 1 − curve, step for step."""
    x = np.concatenate([[0.0], times])
    y = np.concatenate([[0.0], 1.0 - curve])
    if np.isnan(y).all() or np.nanmax(y) < p:
        return None
    xmax = x[-1]
    keep: list[int] = []
    seen_nan = False
    for i, value in enumerate(y):  # R's duplicated(): the first NA is kept, later ones dropped
        if np.isnan(value):
            if not seen_nan:
                keep.append(i)
            seen_nan = True
        elif not any(y[j] == value for j in keep):
            keep.append(i)
    x, y = x[keep], y[keep]
    first = _approx_right(y + TOLERANCE, p)
    second = _approx_right(y - TOLERANCE, p)
    if first is None:
        return None
    if not np.isnan(y[-1]) and abs(p - y[-1]) < TOLERANCE:
        return float((x[first] + xmax) / 2)
    if second is None:
        return None
    return float((x[first] + x[second]) / 2)


def _approx_right(knots: Floats, p: float) -> int | None:
    """R's approx(knots, seq_along(knots), p, method="constant", f=1): the index of the smallest
    knot ≥ p (NA knots dropped), None when p lies outside the knots."""
    valid = np.flatnonzero(~np.isnan(knots))
    if valid.size == 0:
        return None
    values = knots[valid]
    if p < values.min() or p > values.max():
        return None
    candidates = valid[values >= p]
    return int(candidates[np.argmin(knots[candidates])])


def by_group(
    data: pd.DataFrame,
    group_column: str | Sequence[str],
    alpha: float = 0.05,
    band: Band = "log-log",
) -> dict[Hashable, KaplanMeier]:
    """One curve per level of ``group_column`` (one column, or several such as condition and
    joint, whose keys are then tuples), in sorted order of the levels."""
    columns = [group_column] if isinstance(group_column, str) else list(group_column)
    for column in columns:
        if column not in data.columns:
            raise ModelError(
                f"group column {column!r} is not in the data (columns: {list(data.columns)})"
            )
        if data[column].isna().any():
            row = data.index[data[column].isna()][0]
            raise ModelError(f"group column {column!r} is missing at row {row}; give every row one")
    key: str | list[str] = columns[0] if isinstance(group_column, str) else columns
    return {
        level: sessions_to_response(part, alpha, band)
        for level, part in data.groupby(key, sort=True)
    }


def step_points(km: KaplanMeier) -> pd.DataFrame:
    """Vertices of the cumulative-response step curve and its band, for an SVG path.

    Columns x, y, y_lower, y_upper; starts at (0, 0), steps up at each time the curve moves and
    runs flat to the last follow-up. The band is NaN where it is undefined (S = 0), so a chart
    should break its band path there.
    """
    table = km.table
    times = table["time"].to_numpy(dtype=float)
    curves = table[["responded", "responded_lower", "responded_upper"]].to_numpy(dtype=float)
    rows: list[tuple[float, ...]] = [(0.0, 0.0, 0.0, 0.0)]
    for time, now in zip(times, curves, strict=True):
        before = rows[-1][1:]
        if np.array_equal(now, before, equal_nan=True):
            continue
        if time != rows[-1][0]:
            rows.append((float(time), *before))
        rows.append((float(time), *map(float, now)))
    last = float(table["time"].iloc[-1])
    if last != rows[-1][0]:
        rows.append((last, *rows[-1][1:]))
    return pd.DataFrame(rows, columns=["x", "y", "y_lower", "y_upper"])


def _checked(
    data: pd.DataFrame, alpha: float, band: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    if not 0 < alpha < 1:
        raise ModelError(f"alpha {alpha!r} must lie strictly between 0 and 1")
    if band not in BANDS:
        raise ModelError(f"band {band!r} is not one of {', '.join(BANDS)}")
    for column in ("sessions", "responded"):
        if column not in data.columns:
            raise ModelError(
                f"column {column!r} is missing (columns: {list(data.columns)}); "
                "sessions to response needs 'sessions' and 'responded'"
            )
    if len(data) == 0:
        raise ModelError("no rows: sessions to response needs at least one patient")
    for column in ("sessions", "responded"):
        if data[column].isna().any():
            row = data.index[data[column].isna()][0]
            raise ModelError(f"column {column!r} is missing at row {row}; every patient needs one")
    sessions = pd.to_numeric(data["sessions"], errors="coerce")
    bad = sessions.isna() | (sessions < 0) | (sessions != np.floor(sessions))
    if bad.any():
        row = data.index[bad.to_numpy()][0]
        raise ModelError(
            f"column 'sessions' is {_plain(data['sessions'].loc[row])!r} at row {row}; "
            "allowed: whole numbers of sessions ≥ 0"
        )
    flags = data["responded"]
    allowed = flags.map(lambda v: isinstance(v, bool | np.bool_) or v in (0, 1))
    if not allowed.all():
        row = data.index[~allowed.to_numpy()][0]
        raise ModelError(
            f"column 'responded' is {_plain(flags.loc[row])!r} at row {row}; "
            "allowed: True/False (or 1/0)"
        )
    return sessions.to_numpy(dtype=np.int64), flags.astype(bool).to_numpy()


def _plain(value: object) -> object:
    """A numpy scalar as the Python value, so a message shows -2 and not np.int64(-2)."""
    return value.item() if isinstance(value, np.generic) else value
