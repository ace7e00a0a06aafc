"""Analysis populations: intention to treat and per protocol.

- ITT: every randomised participant, analysed in the arm they were randomised to, whatever they
  received (ICH E9 §5.2.1; CONSORT 2010 item 16).
- Per protocol (ICH E9 §5.2.2), our rule for the reference trial: the participant received at
  least 2 of the 3 needling (or sham) sessions and at least 75 % of the exercise sessions
  (counted as delivered sessions over the protocol's planned number), has no major protocol
  deviation (categories eligibility, consent, randomisation, intervention, blinding), and had the
  primary visit done within its window. For other session plans the 75 % rule applies; for a
  plan named ``needling`` 2/3. These thresholds are our assumption, not the published trial's.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from physiotrial.core.protocol import Protocol

MAJOR_DEVIATIONS = frozenset(
    {"eligibility", "consent", "randomisation", "intervention", "blinding"}
)
MINIMUM_SHARE: Mapping[str, float] = {"needling": 2 / 3}
DEFAULT_SHARE = 0.75


def per_protocol(
    protocol: Protocol,
    study_codes: pd.Series,
    sessions: pd.DataFrame,
    deviations: pd.DataFrame,
    visits: pd.DataFrame,
) -> pd.Series:
    """True/False per study code (index) by the rule of the module docstring."""
    codes = pd.Index(study_codes.astype(str).unique())
    ok = pd.Series(True, index=codes)
    delivered = sessions[sessions["delivered"].astype(bool)]
    for plan in protocol.sessions:
        counts = delivered[delivered["plan"] == plan.code].groupby("study_code")["number"].nunique()
        share = MINIMUM_SHARE.get(plan.code, DEFAULT_SHARE)
        got = counts.reindex(codes, fill_value=0)
        ok &= got >= share * plan.count - 1e-9
    major = deviations[deviations["category"].isin(MAJOR_DEVIATIONS)]["study_code"]
    ok &= ~codes.isin(set(major))
    visit = protocol.contrast.visit
    at = visits[(visits["visit"] == visit) & visits["done_on"].notna()]
    in_window = at[(at["done_on"] >= at["opens"]) & (at["done_on"] <= at["closes"])]
    ok &= codes.isin(set(in_window["study_code"]))
    result: pd.Series = ok.astype(bool)
    return result
