"""The CONSORT flow counts and the statistical methods paragraph, both written from the data and
the protocol so that the report never restates them by hand.

CONSORT 2010 (Schulz et al., BMJ 2010;340:c332), item 13 and the flow diagram: assessed for
eligibility = everyone screened; excluded = screened but not randomised, by reason (the eligibility
reasons recorded at screening, or "eligible but not randomised"); randomised, received the
allocated intervention (at least one session delivered), lost to follow-up and discontinued
(withdrawals) with their reasons, and analysed (complete cases of the primary analysis) per arm.
"""

from __future__ import annotations

import pandas as pd

from physiotrial.analysis.dataset import TrialFrames
from physiotrial.analysis.results import Consort
from physiotrial.core.protocol import Protocol

MISSING_DATA = {
    "mmrm_mar": "through the repeated-measures likelihood, assuming missing at random",
    "multiple_imputation": "by multiple imputation under missing at random",
    "complete_case": "by complete-case analysis",
}

POPULATIONS = {
    "itt": "intention to treat (all randomised participants, as randomised)",
    "per_protocol": "per protocol",
}


def exclusion_reason(protocol: Protocol, reason: str) -> str:
    """The CONSORT wording of one screening reason: grouped by criterion, not by the answer.

    Screening reasons start with the criterion id ("age 47 years: below the minimum…"); the
    diagram counts people per criterion ("Not meeting inclusion: Aged 50 years or over",
    "Exclusion: Takes anticoagulant medication"), as CONSORT 2010 item 13a reports them.
    """
    criterion_id = reason.split(" ", 1)[0].rstrip(":")
    for criterion in protocol.eligibility:
        if criterion.id == criterion_id:
            if criterion.kind == "inclusion":
                return f"Not meeting inclusion: {criterion.sentence}"
            return f"Exclusion: {criterion.sentence}"
    return reason


def consort_counts(
    frames: TrialFrames,
    itt: pd.DataFrame,
    analysed: pd.DataFrame,
    order: list[str],
    protocol: Protocol,
) -> Consort:
    screening = frames.screening
    excluded = screening[~screening["randomised"].astype(bool)]
    reasons: dict[str, int] = {}
    for _, row in excluded.iterrows():
        why = list(row["reasons"]) if row["eligible"] is False or not bool(row["eligible"]) else []
        grouped = {exclusion_reason(protocol, str(r)) for r in why}
        for reason in sorted(grouped) or ["Eligible but not randomised"]:
            reasons[reason] = reasons.get(reason, 0) + 1
    treated = set(frames.sessions.loc[frames.sessions["delivered"].astype(bool), "study_code"])

    def departures(kind: str) -> dict[str, dict[str, int]]:
        left = itt[itt["departure"] == kind]
        return {
            arm: {
                str(k): int(v)
                for k, v in left[left["arm"] == arm]["departure_reason"].value_counts().items()
            }
            for arm in order
        }

    return Consort(
        assessed=len(screening),
        excluded=len(excluded),
        exclusion_reasons=reasons,
        randomised={arm: int((itt["arm"] == arm).sum()) for arm in order},
        received={
            arm: int(
                (itt["arm"] == arm).sum()
                and itt[(itt["arm"] == arm) & itt["study_code"].isin(treated)].shape[0]
            )
            for arm in order
        },
        lost=departures("lost_to_follow_up"),
        discontinued=departures("withdrawn"),
        analysed={arm: int((analysed["arm"] == arm).sum()) for arm in order},
    )


def methods_text(protocol: Protocol, blinded: bool) -> str:
    """The statistical methods paragraph, written from the protocol's analysis plan."""
    plan = protocol.analysis
    contrast = protocol.contrast
    primary = protocol.primary_outcome
    visit = protocol.visit(contrast.visit)
    covariates = ", ".join(
        "the baseline value" if c == "baseline" else c for c in plan.covariates or ("baseline",)
    )
    sensitivity = ", ".join(POPULATIONS[p] for p in plan.sensitivity_populations)
    arms = (
        "arms labelled A and B (blinded analysis)"
        if blinded
        else f"{contrast.experimental} versus {contrast.control}"
    )
    level = round(100 * (1 - plan.alpha))
    text = [
        f"The primary outcome was {primary.name} at {visit.name.lower()}; the primary analysis "
        f"population was {POPULATIONS[plan.population]}"
        + (f", with {sensitivity} as sensitivity analysis." if sensitivity else "."),
        f"Between-group differences ({arms}) at each follow-up visit were estimated by analysis "
        f"of covariance adjusted for {covariates}, with {level}% confidence intervals and "
        f"two-sided tests at alpha = {plan.alpha}.",
        f"The protocol's repeated-measures model, a mixed model for repeated measures (MMRM) "
        f"with {plan.covariance} covariance over the follow-up visits, fixed effects baseline "
        "by visit, arm by visit and the covariates, fitted by REML with Kenward-Roger degrees "
        "of freedom (falling back to Toeplitz, AR(1) and compound symmetry if a structure "
        "cannot be estimated), is reported beside the ANCOVA.",
    ]
    if plan.multiplicity != "none":
        text.append(
            "Secondary outcomes at the primary visit were adjusted for multiplicity by the "
            f"{plan.multiplicity.title()} method."
        )
    text.append(
        "Standardised effects are Hedges' g of the change from baseline with the Hedges and "
        "Olkin small-sample correction."
    )
    if plan.responders:
        text.append(
            f"Responders ({', '.join(r.id for r in plan.responders)}) were compared by the risk "
            "difference with Newcombe's hybrid score interval and the number needed to treat "
            "(Altman)."
        )
    text.append(
        "Blinding was assessed with Bang's blinding index; adverse events are reported per "
        "session and per participant with exact Clopper-Pearson intervals."
    )
    strategy = MISSING_DATA[plan.missing_data.strategy]
    text.append(
        f"The protocol plans to handle missing data {strategy}; the ANCOVA tables here use "
        "every participant with the visit observed (available cases)."
    )
    imputation = (
        f"For the primary outcome, missing follow-up values were multiply imputed under MAR "
        f"({plan.missing_data.imputations} imputations, by arm from a multivariate normal model "
        "with unstructured covariance), each completed data set analysed by the same MMRM and "
        "the results pooled by Rubin's rules with Barnard-Rubin degrees of freedom"
    )
    if "tipping_point" in plan.missing_data.sensitivity and not blinded:
        imputation += (
            "; departures from MAR were explored by adding a penalty delta to the experimental "
            "arm's imputed values, in steps of an eighth of the baseline SD, to find the tipping "
            "point at which the primary difference is no longer significant"
        )
    text.append(imputation + ".")
    return " ".join(text)
