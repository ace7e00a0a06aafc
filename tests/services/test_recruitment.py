"""Recruitment counts for the dashboard: site scope for site-bound roles, arms only unblinded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from physiotrial.services.recruitment import ArmCount, recruitment
from tests.services.helpers_admin import Trial, populate


@pytest.fixture
def trial(database_url: str) -> Iterator[Trial]:
    made = populate(database_url)
    yield made
    made.store.close()


def _arms(trial: Trial) -> tuple[ArmCount, ...]:
    by_arm = {"DN": 0, "SHAM": 0}
    for person in trial.people.values():
        if person.arm is not None:
            by_arm[person.arm] += 1
    names = {"DN": "Dry needling + exercise", "SHAM": "Sham needling + exercise"}
    return tuple(ArmCount(code, names[code], n) for code, n in by_arm.items())


@pytest.mark.parametrize(
    ("actor", "site", "screened", "eligible", "randomised", "sees_arms"),
    [
        ("dm", None, 3, 2, 2, True),  # a withdrawn participant stays randomised (ITT)
        ("therapist", "SEV", 2, 2, 2, True),
        ("coord", "SEV", 2, 2, 2, False),
        ("coord_uni", "UNI", 1, 0, 0, False),
        ("assessor", "SEV", 2, 2, 2, False),
        ("stat", None, 3, 2, 2, False),
    ],
)
def test_recruitment_by_role(
    trial: Trial,
    actor: str,
    site: str | None,
    screened: int,
    eligible: int,
    randomised: int,
    sees_arms: bool,
) -> None:
    found = recruitment(trial.store, actor)
    assert (found.site, found.screened, found.eligible, found.randomised) == (
        site,
        screened,
        eligible,
        randomised,
    )
    assert found.target == 38  # 19 per arm in the reference protocol's sample size
    if sees_arms:  # both randomised participants are at SEV: the same counts at SEV and overall
        assert found.arms == _arms(trial)
        assert sum(arm.randomised for arm in found.arms) == 2
    else:
        assert found.arms is None
