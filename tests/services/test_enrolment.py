"""Screening and consent on SQLite and PostgreSQL: codes, decisions with reasons, refusals;
and the enrolment commands of the CLI end to end (screen, consent, randomise, unblind, verify).

The helpers here (``make_study``, ``enrol``, ``state``) are shared by the randomisation and
concurrency tests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from physiotrial.cli import app
from physiotrial.core.protocol import Role
from physiotrial.errors import (
    ConflictError,
    EligibilityError,
    NotFoundError,
    PermissionDeniedError,
    RandomisationError,
)
from physiotrial.services.enrolment import consent, screen
from physiotrial.services.study import add_site, add_user, init_study
from physiotrial.store import schema
from physiotrial.store.audit import verify_chain, verify_data
from physiotrial.store.store import Store, snapshot

DAY = date(2025, 3, 3)
ELIGIBLE: dict[str, object] = {
    "age": 63,
    "acr_knee_oa": "yes",
    "pain_months": "12",
    "popliteus_trigger_point": True,
    "needle_phobia": "no",
    "anticoagulants": False,
    "recent_knee_procedure": "NO",
    "other_lower_limb_condition": "no",
    "consent_capacity": "yes",
}
USERS = (
    ("carla", Role.COORDINATOR, "SEV"),
    ("ulises", Role.COORDINATOR, "UNI"),
    ("tomas", Role.THERAPIST, "SEV"),
    ("ana", Role.ASSESSOR, "SEV"),
    ("sara", Role.STATISTICIAN, None),
    ("dora", Role.DATA_MANAGER, None),
)


def make_study(url: str, protocol: str = "popliteus-dn-koa", seed: str = "test-seed") -> Store:
    """A study with sites SEV and UNI and one user of each role (admin is the first DM)."""
    init_study(url, protocol, admin="admin", admin_name="Ada Admin", seed=seed)
    store = Store(url)
    add_site(store, "admin", "SEV", "Seville health centre")
    add_site(store, "admin", "UNI", "University department")
    for username, role, site in USERS:
        add_user(store, "admin", username, username.title(), role, site)
    return store


def enrol(
    store: Store,
    count: int,
    *,
    site: str = "SEV",
    coordinator: str = "carla",
    levels: Mapping[str, str] | None = None,
) -> list[str]:
    """Screen (eligible) and consent ``count`` people; sexes alternate unless ``levels`` given."""
    codes = []
    for i in range(count):
        factors = dict(levels) if levels else {"sex": ("female", "male")[i % 2]}
        result = screen(store, coordinator, site, DAY, ELIGIBLE, factors, f"Person {i}")
        consent(store, coordinator, result.study_code, "2.1", DAY)
        codes.append(result.study_code)
    return codes


def state(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, for 'nothing changed' comparisons."""
    with store.read() as connection:
        return {
            table.name: sorted(
                (snapshot(table, row) for row in connection.execute(select(table)).mappings()),
                key=repr,
            )
            for table in schema.metadata.sorted_tables
        }


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = make_study(database_url)
    yield opened
    opened.close()


def _rows(store: Store, table: Any) -> list[dict[str, Any]]:
    with store.read() as connection:
        return [dict(r) for r in connection.execute(select(table)).mappings()]


# --- screening ------------------------------------------------------------------------------


def test_eligible_screening_creates_participant_identity_screening_and_one_audit_row(
    store: Store,
) -> None:
    before = len(_rows(store, schema.audit))
    result = screen(store, "carla", "SEV", DAY, ELIGIBLE, {"sex": "female"}, "Rosa Díaz", "600")
    assert (result.study_code, result.eligible, result.status) == ("SEV-001", True, "eligible")
    assert result.reasons == ()
    assert result.stratum == "sex=female"
    [participant] = _rows(store, schema.participants)
    assert participant["status"] == "eligible"
    assert participant["factor_levels"] == {"sex": "female"}
    assert "name" not in participant
    [identity] = _rows(store, schema.identities)
    assert (identity["name"], identity["contact"]) == ("Rosa Díaz", "600")
    [screening] = _rows(store, schema.screenings)
    assert screening["screened_on"] == DAY
    assert screening["eligible"] is True
    assert screening["answers"]["age"] == 63.0
    assert screening["answers"]["recent_knee_procedure"] is False
    assert screening["entered_by"] == "carla"
    audit = _rows(store, schema.audit)
    assert len(audit) == before + 1
    assert (audit[-1]["action"], audit[-1]["participant"]) == ("screen", "SEV-001")
    with store.read() as connection:
        assert verify_chain(connection) == []
        assert verify_data(connection, snapshot) == []


def test_study_codes_count_per_site(store: Store) -> None:
    codes = [
        screen(store, user, site, DAY, ELIGIBLE, {"sex": "male"}, "P").study_code
        for user, site in (("carla", "SEV"), ("carla", "SEV"), ("ulises", "UNI"), ("carla", "SEV"))
    ]
    assert codes == ["SEV-001", "SEV-002", "UNI-001", "SEV-003"]


def test_screenings_racing_at_one_site_get_consecutive_codes(store: Store) -> None:
    # The code is guessed before the write and re-checked under the write lock; losers retry.
    def work() -> None:
        for _ in range(5):
            screen(store, "carla", "SEV", DAY, ELIGIBLE, {"sex": "male"}, "P")

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(row["study_code"] for row in _rows(store, schema.participants))
    assert codes == [f"SEV-{n:03d}" for n in range(1, 16)]
    audited = [r["participant"] for r in _rows(store, schema.audit) if r["action"] == "screen"]
    assert sorted(audited) == codes


@pytest.mark.parametrize(
    ("changes", "reasons"),
    [
        ({"age": 47}, ["age 47 years: below the minimum of 50 years"]),
        (
            {"needle_phobia": "yes"},
            ["needle_phobia yes: excluded (Fear of needles (needle phobia))"],
        ),
        ({"pain_months": None}, ["pain_months: not answered"]),
        (
            {"age": 49.5, "consent_capacity": "no"},
            [
                "age 49.5 years: below the minimum of 50 years",
                "consent_capacity no: inclusion not met "
                "(Able to understand the study and give written consent)",
            ],
        ),
    ],
)
def test_ineligible_screening_is_recorded_as_screen_failed_with_every_reason(
    store: Store, changes: dict[str, object], reasons: list[str]
) -> None:
    answers = {**ELIGIBLE, **changes}
    result = screen(store, "carla", "SEV", DAY, answers, {"sex": "female"}, "Luis")
    assert (result.eligible, result.status) == (False, "screen_failed")
    assert list(result.reasons) == reasons
    [screening] = _rows(store, schema.screenings)
    assert screening["reasons"] == reasons
    assert screening["eligible"] is False
    assert _rows(store, schema.participants)[0]["status"] == "screen_failed"


@pytest.mark.parametrize(
    ("user", "site", "answers", "levels", "name", "error", "message"),
    [
        ("carla", "SEV", {"age": "forty"}, {"sex": "female"}, "P", EligibilityError,
         "age: 'forty' is not a number; allowed: a number in years (50 years or more)"),
        ("carla", "SEV", {"bmi": 31}, {"sex": "female"}, "P", EligibilityError,
         "unknown eligibility criterion 'bmi' (answer 31)"),
        ("carla", "SEV", {}, {"sex": "other"}, "P", RandomisationError,
         "factor sex: 'other' is not a level; allowed levels: female, male"),
        ("carla", "SEV", {}, {}, "P", RandomisationError,
         "stratification factor sex: not given; allowed levels: female, male"),
        ("carla", "SEV", {}, {"sex": "male", "bmi": "high"}, "P", RandomisationError,
         "factor 'bmi' (level 'high') is not a factor of this protocol; allowed factors: sex"),
        ("carla", "SEV", {}, {"sex": "male"}, "  ", ConflictError,
         "name: '  ' is blank; allowed: a non-blank text"),
        ("carla", "MAD", {}, {"sex": "male"}, "P", NotFoundError,
         "site 'MAD' does not exist; known sites: SEV, UNI"),
        ("tomas", "SEV", {}, {"sex": "male"}, "P", PermissionDeniedError,
         "tomas (therapist) may not screen; allowed roles: coordinator"),
        ("ulises", "SEV", {}, {"sex": "male"}, "P", PermissionDeniedError,
         "ulises works at another site and may not screen for this participant"),
        ("nobody", "SEV", {}, {"sex": "male"}, "P", NotFoundError, "no active user 'nobody'"),
    ],
)  # fmt: skip
def test_bad_screening_input_is_refused_and_nothing_is_written(
    store: Store,
    user: str,
    site: str,
    answers: dict[str, object],
    levels: dict[str, str],
    name: str,
    error: type[Exception],
    message: str,
) -> None:
    before = state(store)
    with pytest.raises(error) as excinfo:
        screen(store, user, site, DAY, {**ELIGIBLE, **answers}, levels, name)
    assert message in str(excinfo.value)
    assert state(store) == before


# --- consent --------------------------------------------------------------------------------


def test_consent_of_an_eligible_participant(store: Store) -> None:
    code = screen(store, "carla", "SEV", DAY, ELIGIBLE, {"sex": "male"}, "P").study_code
    result = consent(store, "carla", code, " 2.1 ", date(2025, 3, 5))
    assert (result.status, result.form_version, result.consented_on) == (
        "consented",
        "2.1",
        date(2025, 3, 5),
    )
    [row] = _rows(store, schema.consents)
    assert (row["form_version"], row["consented_on"], row["entered_by"]) == (
        "2.1",
        date(2025, 3, 5),
        "carla",
    )
    assert _rows(store, schema.participants)[0]["status"] == "consented"
    audit = _rows(store, schema.audit)[-1]
    assert (audit["action"], audit["participant"]) == ("consent", code)


@pytest.mark.parametrize(
    ("case", "user", "form", "day", "error", "message"),
    [
        ("ineligible", "carla", "2.1", DAY, ConflictError,
         "participant SEV-002 was not screened eligible (status screen_failed); only a "
         "participant screened eligible can consent"),
        ("twice", "carla", "2.1", DAY, ConflictError,
         "participant SEV-001 already consented on 2025-03-03 (form 2.1); consent is recorded "
         "once"),
        ("eligible", "carla", "2.1", date(2025, 3, 2), ConflictError,
         "consented_on 2025-03-02 is before the screening on 2025-03-03; allowed: 2025-03-03 "
         "or later"),
        ("eligible", "carla", "", DAY, ConflictError,
         "form_version: '' is blank; allowed: a non-blank text"),
        ("eligible", "ana", "2.1", DAY, PermissionDeniedError,
         "ana (assessor) may not consent; allowed roles: coordinator"),
        ("eligible", "ulises", "2.1", DAY, PermissionDeniedError,
         "ulises works at another site and may not consent for this participant"),
        ("unknown", "carla", "2.1", DAY, NotFoundError, "no participant 'SEV-999'"),
    ],
)  # fmt: skip
def test_consent_refusals_write_nothing(
    store: Store,
    case: str,
    user: str,
    form: str,
    day: date,
    error: type[Exception],
    message: str,
) -> None:
    consented = enrol(store, 1)[0]
    failed = screen(store, "carla", "SEV", DAY, {**ELIGIBLE, "age": 30}, {"sex": "male"}, "Q")
    eligible = screen(store, "carla", "SEV", DAY, ELIGIBLE, {"sex": "male"}, "R")
    code = {
        "ineligible": failed.study_code,
        "twice": consented,
        "eligible": eligible.study_code,
        "unknown": "SEV-999",
    }[case]
    before = state(store)
    with pytest.raises(error) as excinfo:
        consent(store, user, code, form, day)
    assert message in str(excinfo.value)
    assert state(store) == before


# --- the command line -----------------------------------------------------------------------


def test_cli_screen_consent_randomise_unblind_verify(database_url: str, tmp_path: Path) -> None:
    make_study(database_url).close()
    runner = CliRunner()
    common = ["--study", str(tmp_path), "--database", database_url]
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({**ELIGIBLE, "age": 45}))

    def run(*args: str) -> Any:
        return runner.invoke(app, [*args, *common])

    screened = run(
        "screen", "--site", "SEV", "--name", "Rosa", "--answers", str(answers),
        "--answer", "age=66", "--factor", "sex=female", "--on", "2025-03-03", "--as", "carla",
    )  # fmt: skip
    assert screened.exit_code == 0, screened.output
    assert screened.output.strip() == "SEV-001: eligible, screened 2025-03-03"
    consented = run("consent", "SEV-001", "--form-version", "2.1", "--on", "2025-03-04",
                    "--as", "carla")  # fmt: skip
    assert consented.output.strip() == "SEV-001: consented on 2025-03-04 (form 2.1)"
    hidden = run("randomise", "SEV-001", "--on", "2025-03-05", "--as", "carla", "--json")
    data = json.loads(hidden.output)
    assert (data["arm"], data["status"], data["visits"][0]["planned"]) == (
        None,
        "randomised",
        "2025-03-05",
    )
    unblinded = run("unblind", "SEV-001", "--reason", "SAE", "--as", "dora", "--json")
    assert json.loads(unblinded.output)["arm"] in {"DN", "SHAM"}
    no_reason = run("unblind", "SEV-001", "--as", "dora")
    assert no_reason.exit_code == 2
    assert "--reason" in no_reason.output
    bad_date = run("consent", "SEV-001", "--form-version", "2", "--on", "3/4/25", "--as", "carla")
    assert bad_date.exit_code == 1
    assert bad_date.output.strip() == "error: --on: '3/4/25' is not a date; allowed: YYYY-MM-DD"
    twice = run("randomise", "SEV-001", "--as", "carla")
    assert twice.exit_code == 1
    assert twice.output.startswith("error: participant SEV-001 is already randomised")
    verified = run("randomisation", "verify", "--as", "sara")
    assert verified.exit_code == 0, verified.output
    assert verified.output.startswith("randomisation verified")
