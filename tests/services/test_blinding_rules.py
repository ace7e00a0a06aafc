"""Rules found in review: what a blinded role may see after an amendment, when a study may be
unlocked, emergency unblinding during a lock, site-bound users, logged analyses, blinded reports.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from physiotrial.core.protocol import Role
from physiotrial.errors import ConflictError
from physiotrial.report.render import render_html
from physiotrial.services import randomisation, safety
from physiotrial.services.analysis import analyse
from physiotrial.services.locking import lock, unlock
from physiotrial.services.study import add_user, amend_protocol
from physiotrial.store import schema
from physiotrial.store.store import Store
from tests.report.fixtures import reference_results
from tests.services.helpers_capture import DAY0, arm_of, enrol, make_study

REFERENCE = resources.files("physiotrial.protocols").joinpath("popliteus-dn-koa.toml").read_text()
TWITCH = re.compile(
    r'\[\[sessions\.records\]\]\nid = "local_twitch_responses".*?unblinded_only = true[^\n]*\n',
    re.DOTALL,
)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = make_study(database_url)
    yield opened
    opened.close()


def test_a_field_dropped_by_an_amendment_stays_hidden_from_blinded_roles(
    store: Store, tmp_path: Path
) -> None:
    code = enrol(store)
    details = {"muscle": "popliteus", "side": "left", "insertions": 5, "local_twitch_responses": 3}
    day = DAY0 + timedelta(days=1)
    safety.record_session(store, "therapist", code, "needling", 1, day, True, details, day)
    amended = tmp_path / "v2.toml"
    text = REFERENCE.replace('version = "1.0"', 'version = "2.0"', 1)
    assert TWITCH.search(text)
    amended.write_text(TWITCH.sub("", text))
    amend_protocol(store, "dm", str(amended), "twitch responses no longer recorded")
    seen = safety.participant_sessions(store, "assessor", code)[0]
    assert "local_twitch_responses" not in seen.details
    assert seen.details["insertions"] == 5
    assert seen.arm is None


def test_a_study_unblinded_after_lock_cannot_be_unlocked(store: Store) -> None:
    enrol(store)
    lock(store, "dm", "final analysis")
    randomisation.unblind_study(store, "dm", "analysis done")
    with pytest.raises(ConflictError, match="the study was unblinded after this lock"):
        unlock(store, "dm", "one more visit")


def test_emergency_unblinding_works_while_the_database_is_locked(store: Store) -> None:
    code = enrol(store)
    lock(store, "dm", "interim look")
    assert randomisation.unblind(store, "dm", code, "serious adverse event") == arm_of(store, code)


def test_site_bound_roles_need_a_site(store: Store) -> None:
    with pytest.raises(ConflictError, match="a therapist works at one site"):
        add_user(store, "dm", "roaming", "Roaming Therapist", Role.THERAPIST)
    add_user(store, "dm", "stat2", "Second Statistician", Role.STATISTICIAN)


def test_every_analysis_is_on_the_record(store: Store) -> None:
    enrol(store)
    lock(store, "dm", "final analysis")
    analyse(store, "stats")
    with store.read() as connection:
        rows = connection.execute(
            select(schema.audit.c.actor, schema.audit.c.reason).where(
                schema.audit.c.action == "analyse"
            )
        ).all()
    assert [(r.actor, r.reason) for r in rows] == [("stats", "analysis of lock 1 (blinded)")]


def test_a_blinded_report_keeps_the_all_participants_column() -> None:
    results = reference_results(blinded=True)
    baseline = results.table("baseline")
    everyone = baseline[baseline["arm"] == baseline["arm"].iloc[0]].assign(arm="All")
    results.tables["baseline"] = pd.concat([baseline, everyone], ignore_index=True)
    html = render_html(results)
    assert "Dry needling + exercise" not in html
    assert re.search(r"\bDN\b|\bSHAM\b", html) is None
