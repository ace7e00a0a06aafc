"""Synthetic participants of the reference trial: who they are and what their scores will be.

Pure (numpy and pandas): no store, no clock. Calibrated to the published abstract of the popliteus
dry-needling trial (Sci Rep 2025;15:44117; shared/reference/trial.md): both arms improve, and at
W3, M3 and M6 the expected between-group difference in change, experimental − control, is 30 mm
on maximum pain (VAS) and 16 points on WOMAC total 0-100, with an SD of change of 18 and 12 (the
SDs the published 95 % CIs imply at n = 18 and 20). Change is drawn independently of baseline, so
a change-score analysis and a baseline-adjusted one (ANCOVA, MMRM) both see that SD and the CI
width of the abstract. Secondary outcomes move in the published direction (strength, kinesiophobia,
catastrophizing, TUG, 6MWT, range of motion and DN4 favour DN) by amounts we chose as plausible.

Baselines share a latent severity factor (loading λ: pain, WOMAC, TSK, PCS, DN4 and TUG go up
with it; strength, 6MWT and flexion range go down; corr ≈ λ₁λ₂), and changes share a latent
responsiveness factor, so outcomes and visits correlate as in real trials.

Scores are clipped to each instrument's range. Clipping at 0 would shrink the difference in the
arm that improves most, so the simulated latent shift is solved (:func:`_latent_effect`) such that
the expected difference on the clipped, observed scale is the published one.

Each participant is simulated under every arm from the same random numbers (:class:`Cohort`);
the driver randomises through the real services, then takes the allocated arm's trajectory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from physiotrial.core.protocol import Measure, Protocol, Visit, VisitKind

FOLLOW_UP_DAYS = (21.0, 90.0, 180.0)
"""Days at which the improvement profiles below are given; other days are interpolated."""


@dataclass(frozen=True)
class Quantity:
    """How one score behaves: baseline, control improvement, experimental effect, noise.

    ``worse`` is +1 when a higher score is worse (pain), −1 when better (strength).
    Improvements are in the "better" direction, at FOLLOW_UP_DAYS; ``effect`` is the expected
    between-group difference in improvement on the observed scale, at every follow-up.
    """

    mean: float
    sd: float
    loading: float
    worse: int
    control: tuple[float, float, float]
    effect: float
    change_sd: float
    low: float
    high: float


QUANTITIES: dict[str, Quantity] = {
    # VAS maximum pain: published primary (30 mm, SD of change 18).
    "vas:maximum.score": Quantity(72, 13, 0.6, 1, (20, 18, 15), 30.0, 19.2, 0, 100),
    "vas:current.score": Quantity(45, 18, 0.6, 1, (12, 10, 8), 15.0, 16.0, 0, 100),
    "vas:minimum.score": Quantity(22, 14, 0.5, 1, (6, 5, 4), 8.0, 12.0, 0, 100),
    # WOMAC total 0-100: published 16.0 points, SD of change 12.
    "womac.total_100": Quantity(48, 14, 0.75, 1, (12, 11, 10), 16.0, 12.6, 0, 100),
    "dn4.total": Quantity(3.2, 1.8, 0.35, 1, (0.5, 0.5, 0.4), 0.8, 1.5, 0, 10),
    "tsk11.total": Quantity(27, 6, 0.45, 1, (2.0, 2.0, 1.5), 3.0, 4.5, 11, 44),
    "pcs.total": Quantity(20, 10, 0.5, 1, (4.0, 3.5, 3.0), 5.0, 7.0, 0, 52),
    "tug.time_s": Quantity(11, 3, 0.5, 1, (0.8, 0.7, 0.6), 1.0, 1.5, 1, 300),
    "six_mwt.distance_m": Quantity(0, 60, 0.55, -1, (25, 20, 15), 25.0, 40.0, 0, 1000),
    # Strength and 6MWT: mean 0 here, set per person by sex (and body size) below.
    "hhd_knee.extension_torque_nm_kg": Quantity(
        0, 0.3, 0.45, -1, (0.1, 0.08, 0.06), 0.12, 0.18, 0, 36
    ),
    "hhd_knee.flexion_torque_nm_kg": Quantity(
        0, 0.15, 0.4, -1, (0.05, 0.04, 0.03), 0.06, 0.1, 0, 36
    ),
    "knee_rom.flexion_deg": Quantity(112, 12, 0.35, -1, (4, 3, 3), 5.0, 7.0, 0, 170),
    "knee_rom.extension_deficit_deg": Quantity(6, 4, 0.3, 1, (1.0, 1.0, 0.8), 1.0, 2.5, -20, 60),
}
"""Baselines: VAS and WOMAC from knee-OA trials of needling and exercise (trial.md, precursor
J Clin Med 2024); TUG, 6MWT as a share of the Enright–Sherrill prediction, HHD torque per kg by
sex, and ROM are typical knee-OA values (instruments.md §7-10). Secondary effects: our choice."""

STRENGTH_BY_SEX = {
    "hhd_knee.extension_torque_nm_kg": {"female": 1.05, "male": 1.35},
    "hhd_knee.flexion_torque_nm_kg": {"female": 0.55, "male": 0.70},
}
SIX_MWT_SHARE = 0.88
"""Knee-OA walk distance as a share of the healthy-adult prediction (Enright–Sherrill 1998)."""
SCORES = {
    "vas": ("score",),
    "womac": ("total_100", "pain_100", "stiffness_100", "function_100"),
    "dn4": ("total",),
    "tsk11": ("total",),
    "pcs": ("total",),
    "tug": ("time_s",),
    "six_mwt": ("distance_m",),
    "hhd_knee": ("extension_torque_nm_kg", "flexion_torque_nm_kg"),
    "knee_rom": ("flexion_deg", "extension_deficit_deg"),
    "pgic": ("code",),
    "blinding_guess": ("guess", "certainty"),
}
"""The targets simulated for each instrument (score keys; ``certainty`` is an item)."""
GUESSES = {
    # P(guess active, guess sham, don't know): participants needled for real notice it more
    # often (sham-needling trials report James/Bang indices near 0.3-0.5 for the active arm);
    # assessors near chance.
    ("participant", "experimental"): (0.60, 0.15, 0.25),
    ("participant", "control"): (0.35, 0.35, 0.30),
    ("assessor", "experimental"): (0.32, 0.28, 0.40),
    ("assessor", "control"): (0.30, 0.30, 0.40),
}
DROPOUT, MISSED = 0.10, 0.04
"""Share lost to follow-up (about 4 of 38), and the chance of missing one follow-up visit and
coming back to the next."""


@dataclass(frozen=True)
class Cohort:
    """Participants and their targets under every arm (same random numbers for each arm)."""

    people: pd.DataFrame
    targets: dict[str, pd.DataFrame]

    def person(self, index: int | None) -> dict[str, Any]:
        """Who participant ``index`` (1-based study index) is: the ``people`` row as a dict."""
        return {str(k): v for k, v in self.people.loc[index].to_dict().items()}

    def row(self, index: int, arm: str) -> dict[str, float]:
        """Targets of participant ``index`` (1-based study index) under ``arm``."""
        frame = self.targets[arm]
        values = frame.loc[index].to_numpy(dtype=float)
        return dict(zip(map(str, frame.columns), map(float, values), strict=True))


def target_column(measure: str, score: str, visit: str) -> str:
    """The column of a target: ``vas_max.score@M6``."""
    return f"{measure}.{score}@{visit}"


def simulate_participants(protocol: Protocol, n_randomised: int, seed: int) -> pd.DataFrame:
    """One row per randomised participant: demographics, dropout, an arm (1:1 permuted blocks of
    2 and 4 within sex) and every target of that arm (``target_column`` names)."""
    cohort = simulate_cohort(protocol, n_randomised, seed)
    people = cohort.people.copy()
    people["arm"] = permuted_blocks(
        people["sex"].tolist(), [a.code for a in protocol.arms], np.random.default_rng([seed, 1])
    )
    chosen = [cohort.targets[arm].loc[[i]] for i, arm in people["arm"].items()]
    return pd.concat([people, pd.concat(chosen)], axis=1)


def permuted_blocks(strata: list[str], arms: list[str], rng: np.random.Generator) -> list[str]:
    """Arms for a list of stratum labels: permuted blocks of random size 2 or 4 per stratum."""
    queues: dict[str, list[str]] = {}
    arms_out: list[str] = []
    for stratum in strata:
        queue = queues.setdefault(stratum, [])
        if not queue:
            size = int(rng.choice([2, 4])) // len(arms) or 1
            block = [a for a in arms for _ in range(size)]
            queue.extend(rng.permutation(block).tolist())
        arms_out.append(queue.pop(0))
    return arms_out


def simulate_cohort(protocol: Protocol, n: int, seed: int) -> Cohort:
    """``n`` participants of ``protocol`` with targets under each of its arms."""
    rng = np.random.default_rng([seed, 0])
    people = _people(n, rng)
    exp, draws = protocol.contrast.experimental, _Draws(rng, n)
    targets = {a.code: _targets(protocol, people, draws, a.code == exp) for a in protocol.arms}
    return Cohort(people=people, targets=targets)


def _people(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Who the participants are: knee-OA adults aged 50+ (eligibility), two thirds women."""
    sex = np.where(rng.random(n) < 0.65, "female", "male")
    age = np.clip(np.rint(rng.normal(66, 8, n)), 50, 90)
    height = np.round(np.where(sex == "male", rng.normal(171, 7, n), rng.normal(158, 6, n)), 0)
    bmi = np.clip(rng.normal(29, 4, n), 19, 45)
    weight = np.round(bmi * (height / 100) ** 2, 1)
    severity = rng.normal(0, 1, n)
    kl = 2 + (severity + rng.normal(0, 1, n) > -0.35) + (severity + rng.normal(0, 1, n) > 1.2)
    lost = rng.random(n) < DROPOUT
    lost_after = np.where(lost, np.where(rng.random(n) < 0.5, "W3", "M3"), "")
    departure = np.where(lost, np.where(rng.random(n) < 0.75, "lost_to_follow_up", "withdrawn"), "")
    missed = [
        ",".join(v for v in ("W3", "M3") if rng.random() < MISSED) if not gone else ""
        for gone in lost
    ]
    return pd.DataFrame(
        {
            "sex": sex,
            "age": age.astype(int),
            "height_cm": height,
            "weight_kg": weight,
            "bmi": np.round(weight / (height / 100) ** 2, 1),
            "kl_grade": kl.astype(int),
            "symptom_months": np.clip(np.rint(rng.lognormal(math.log(36), 0.8, n)), 3, 480),
            "side": np.where(rng.random(n) < 0.5, "left", "right"),
            "severity": severity,
            "lost_after": lost_after,
            "departure": departure,
            "missed": missed,
        },
        index=pd.RangeIndex(1, n + 1, name="index"),
    )


class _Draws:
    """Random numbers shared by every arm, drawn once per (quantity, visit) on first use, so a
    participant's noise is the same whichever arm they are given."""

    def __init__(self, rng: np.random.Generator, n: int) -> None:
        self.rng, self.n = rng, n
        self.responsive = rng.normal(0, 1, n)
        self._cache: dict[str, np.ndarray] = {}

    def normal(self, key: str) -> np.ndarray:
        if key not in self._cache:
            self._cache[key] = self.rng.normal(0, 1, self.n)
        return self._cache[key]

    def uniform(self, key: str) -> np.ndarray:
        if key not in self._cache:
            self._cache[key] = self.rng.random(self.n)
        return self._cache[key]


def _targets(
    protocol: Protocol, people: pd.DataFrame, draws: _Draws, experimental: bool
) -> pd.DataFrame:
    columns: dict[str, np.ndarray] = {}
    timeline = [
        v
        for v in protocol.visits
        if v.kind in (VisitKind.BASELINE, VisitKind.ASSESSMENT, VisitKind.FOLLOW_UP)
    ]
    for measure in protocol.measures:
        visits = [v for v in protocol.visits if measure.key in v.measures]
        if measure.instrument == "blinding_guess":
            for visit in visits:
                columns |= _guesses(measure, visit.code, draws, experimental)
            continue
        for score in SCORES.get(measure.instrument, ()):
            key = _quantity_key(measure, score)
            if key not in QUANTITIES:
                continue
            q = QUANTITIES[key]
            base = _baseline(key, q, people, draws)
            for visit in (v for v in timeline if measure.key in v.measures):
                change = _improvement(key, q, visit.day, draws, experimental)
                value = base if visit.kind is VisitKind.BASELINE else base - q.worse * change
                columns[target_column(measure.key, score, visit.code)] = np.clip(
                    value, q.low, q.high
                )
        if measure.instrument == "womac":
            columns |= _womac_subscales(measure.key, timeline, columns, draws)
    columns |= _pgic(protocol, timeline, columns, draws)
    return pd.DataFrame(columns, index=people.index)


def _quantity_key(measure: Measure, score: str) -> str:
    if measure.instrument == "vas":
        return f"vas:{measure.options.get('pain', 'current')}.{score}"
    return f"{measure.instrument}.{score}"


def _baseline(key: str, q: Quantity, people: pd.DataFrame, draws: _Draws) -> np.ndarray:
    """Latent (unclipped) baseline: mean + worse·sd·(λ·severity + √(1−λ²)·own noise)."""
    mean = np.full(len(people), q.mean, dtype=float)
    if key in STRENGTH_BY_SEX:
        mean = people["sex"].map(STRENGTH_BY_SEX[key]).to_numpy(dtype=float)
    if key == "six_mwt.distance_m":
        mean = SIX_MWT_SHARE * enright_sherrill(people)
    own = draws.normal(f"baseline {key}")
    latent = q.loading * people["severity"].to_numpy() + math.sqrt(1 - q.loading**2) * own
    return mean + q.worse * q.sd * latent


def enright_sherrill(people: pd.DataFrame) -> np.ndarray:
    """Predicted 6MWT distance in healthy adults (Enright & Sherrill 1998; instruments.md §8)."""
    h, w, a = (people[c].to_numpy(dtype=float) for c in ("height_cm", "weight_kg", "age"))
    men = 7.57 * h - 5.02 * a - 1.76 * w - 309
    women = 2.11 * h - 2.29 * w - 5.78 * a + 667
    return np.where(people["sex"].to_numpy() == "male", men, women)


def _improvement(key: str, q: Quantity, day: int, draws: _Draws, experimental: bool) -> np.ndarray:
    """Improvement from baseline at ``day``: control mean, plus the calibrated experimental
    shift, plus noise of SD change_sd (0.6 shared responsiveness, 0.5 own person-level, the
    rest visit noise: changes correlate about 0.6 across visits of one outcome)."""
    mean = float(np.interp(day, FOLLOW_UP_DAYS, q.control))
    if experimental:
        mean += _latent_effect(q, mean)
    noise = (
        0.6 * draws.responsive
        + 0.5 * draws.normal(f"person {key}")
        + math.sqrt(1 - 0.36 - 0.25) * draws.normal(f"visit {key} {day}")
    )
    return mean + q.change_sd * noise


def _latent_effect(q: Quantity, control: float) -> float:
    """The shift whose expected difference on the clipped scale is ``q.effect`` (bisection on
    the mean of a clipped normal; follow-up SD = √(sd² + change_sd²), change ⟂ baseline)."""
    if q.mean == 0:  # covariate-dependent baselines far from the bounds: no clipping to undo
        return q.effect
    sd = math.hypot(q.sd, q.change_sd)
    wanted = clipped_mean(q.mean - q.worse * control, sd, q.low, q.high) - q.worse * q.effect
    low, high = 0.0, 4 * q.effect + 6 * sd
    for _ in range(60):
        mid = (low + high) / 2
        got = clipped_mean(q.mean - q.worse * (control + mid), sd, q.low, q.high)
        if (got - wanted) * q.worse > 0:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def clipped_mean(mu: float, sd: float, low: float, high: float) -> float:
    """E[min(max(X, low), high)] for X ~ N(mu, sd²); either bound may be infinite."""
    a, b = (low - mu) / sd, (high - mu) / sd
    below = low * _cdf(a) if math.isfinite(low) else 0.0
    above = high * (1 - _cdf(b)) if math.isfinite(high) else 0.0
    return below + above + mu * (_cdf(b) - _cdf(a)) + sd * (_pdf(a) - _pdf(b))


def _cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _pdf(x: float) -> float:
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def _womac_subscales(
    key: str, timeline: list[Visit], columns: Mapping[str, np.ndarray], draws: _Draws
) -> dict[str, np.ndarray]:
    """Pain, stiffness and function around the total, keeping 5·pain + 2·stiffness +
    17·function = 24·total (LK3.1 item counts), offsets shrunk near 0 and 100 to stay in range."""
    found: dict[str, np.ndarray] = {}
    pain_off = np.clip(4 + 8 * draws.normal("womac pain"), -20, 20)
    stiff_off = np.clip(2 + 12 * draws.normal("womac stiffness"), -24, 24)
    for visit in timeline:
        total = columns.get(target_column(key, "total_100", visit.code))
        if total is None:
            continue
        shrink = np.minimum(1.0, np.minimum(total, 100 - total) / 25)
        dp = np.clip(pain_off + 4 * draws.normal(f"womac pain {visit.code}"), -20, 20) * shrink
        ds = np.clip(stiff_off + 4 * draws.normal(f"womac stiff {visit.code}"), -24, 24) * shrink
        found[target_column(key, "pain_100", visit.code)] = total + dp
        found[target_column(key, "stiffness_100", visit.code)] = total + ds
        found[target_column(key, "function_100", visit.code)] = total - (5 * dp + 2 * ds) / 17
    return found


def _pgic(
    protocol: Protocol, timeline: list[Visit], columns: Mapping[str, np.ndarray], draws: _Draws
) -> dict[str, np.ndarray]:
    """PGIC code (1 very much improved … 7 very much worse) from the standardised improvement
    of the primary outcome: about 1 per change SD, with half a category of noise."""
    primary = protocol.primary_outcome
    measure = protocol.measure(primary.measure)
    q = QUANTITIES.get(_quantity_key(measure, primary.score))
    baseline = columns.get(target_column(primary.measure, primary.score, protocol.baseline.code))
    found: dict[str, np.ndarray] = {}
    for m in (m for m in protocol.measures if m.instrument == "pgic"):
        for visit in (v for v in timeline if m.key in v.measures):
            later = columns.get(target_column(primary.measure, primary.score, visit.code))
            if q is None or baseline is None or later is None:
                continue
            improvement = q.worse * (baseline - later) / q.change_sd
            noise = 0.8 * draws.normal(f"pgic {m.key} {visit.code}")
            found[target_column(m.key, "code", visit.code)] = np.clip(
                4 - 1.1 * improvement + noise, 1, 7
            )
    return found


def _guesses(
    measure: Measure, visit: str, draws: _Draws, experimental: bool
) -> dict[str, np.ndarray]:
    """Blinding guesses (1 active, 2 sham, 3 don't know) and certainty (1 somewhat, 2 strongly)
    from one uniform per person, so the same person guesses consistently across arms."""
    rater = "participant" if measure.rater.value == "participant" else "assessor"
    p_active, p_sham, _ = GUESSES[(rater, "experimental" if experimental else "control")]
    u = draws.uniform(f"guess {measure.key} {visit}")
    guess = np.where(u < p_active, 1.0, np.where(u < p_active + p_sham, 2.0, 3.0))
    certainty = np.where(draws.uniform(f"certainty {measure.key} {visit}") < 0.6, 1.0, 2.0)
    return {
        target_column(measure.key, "guess", visit): guess,
        target_column(measure.key, "certainty", visit): np.where(guess == 3, np.nan, certainty),
    }
