"""Clinic mode's pages (issue 7) through the web app: who may open them and what they say.

The clinic is tests/web/clinic_helpers.py's (:func:`build_clinic`): six knee patients at CLN
whose numbers can be checked by eye, two at OTH. Sessions to a meaningful improvement in pain
(≥ 19.9): CLN-001 3, CLN-005 3 (−30), CLN-002 6; censored CLN-003 at 3, CLN-004 at 3, CLN-006
at 2 (and OTH-001 at 2). Kaplan–Meier: at 2 sessions no event; at 3, 5 at risk and 2 events
(S = 3/5 = 0.6, responded 40 %), then 2 censored; at 6, one at risk and one event (S = 0): the
median is 6 sessions. The statistician sees every site; site staff their own. A second study,
the reference trial (tests/web/conftest.py ``site``), shows that every clinic page refuses a
trial with a 409; a simulated hip clinic (simulate.clinic) that every page opens.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from physiotrial.services.access import set_password
from physiotrial.services.protocols import load_protocol
from physiotrial.services.schedule import withdraw
from physiotrial.services.study import init_study
from physiotrial.simulate.clinic import simulate_clinic
from physiotrial.store.store import Store
from physiotrial.web.app import create_app
from physiotrial.web.clinic_words import duration_words
from tests.services.test_blinding_matrix import ARM_WORDS
from tests.web.clinic_helpers import NOT_A_CLINIC_WORD, NOW, Clinic, build_clinic
from tests.web.conftest import PASSWORD, SECRET, Clock, Site, sign_in


@pytest.fixture
def clinic(database_url: str, tmp_path: Path) -> Iterator[Clinic]:
    store, codes, other = build_clinic(database_url)
    app = create_app(tmp_path, database_url, secret=SECRET, now=Clock(NOW))
    with TestClient(app) as client:
        yield Clinic(store, client, codes, other)
    store.close()


FOLLOWERS = ("coord", "assessor", "therapist", "dm")
POOLED = (
    "/clinic/response",
    "/clinic/response?rule=omeract_oarsi",
    "/clinic/safety",
    "/clinic/planning.csv",
)
"""The clinic's pooled figures: every staff role (a site-bound one sees its own site's)."""
"""Roles that follow a patient (``follow progress``); the statistician sees pooled figures."""


ACCESS = [
    *((u, "/clinic", 200) for u in (*FOLLOWERS, "stats")),
    *((u, "/clinic/patients/CLN-001", 200) for u in FOLLOWERS),
    *((u, "/clinic/patients/CLN-001/summary", 200) for u in FOLLOWERS),
    ("stats", "/clinic/patients/CLN-001", 403),
    ("stats", "/clinic/patients/CLN-001/summary", 403),
    ("therapist_oth", "/clinic/patients/CLN-001", 403),
    ("therapist_oth", "/clinic/patients/CLN-001/summary", 403),
    ("therapist_oth", "/clinic/patients/OTH-001", 200),
    ("therapist", "/clinic/patients/CLN-999", 404),
    ("therapist_oth", "/clinic/patients/OTH-002", 409),  # consented, care not started
    *((u, page, 200) for u in (*FOLLOWERS, "stats", "therapist_oth") for page in POOLED),
]
"""(user, page, status): who may open which clinic page (one study serves the whole table)."""


def test_who_may_open_which_page(clinic: Clinic) -> None:
    browsers: dict[str, TestClient] = {}
    for username, path, status in ACCESS:
        browser = browsers.setdefault(username, clinic.as_user(username))
        page = browser.get(path)
        assert page.status_code == status, (username, path, page.text[:600])


def test_the_dashboard_of_a_clinic_is_the_clinic_dashboard(clinic: Clinic) -> None:
    browser = clinic.as_user("therapist")
    home = browser.get("/", follow_redirects=False)
    assert (home.status_code, home.headers["location"]) == (303, "/clinic")
    page = browser.get("/clinic").text
    assert "Recruitment" not in page
    assert "Randomised" not in page
    assert not ARM_WORDS.search(page)
    assert '<dd id="count-in-care">6</dd>' in page  # OTH-001 is another site's
    assert '<dd id="count-finished">0</dd>' in page
    assert '<dd id="count-stopped">0</dd>' in page
    # flagged: CLN-004 (no change, worse on pain and function, a significant event); CLN-003
    # (no meaningful change after the planned 3 sessions)
    assert 'id="flagged-CLN-004"' in page
    assert 'id="flagged-CLN-003"' in page
    assert "Significant adverse event: prolonged aggravation of symptoms" in page
    assert 'id="flagged-CLN-001"' not in page
    assert 'href="/clinic/patients/CLN-006"' in page
    assert 'href="/clinic/response"' in page
    assert 'href="/clinic/safety"' in page
    # reassessments due: none missed by 2025-05-05. CLN-003 and -004 stopped needling at 3
    # sessions and CLN-006 at 2, so R2 (after session 6), and R1 for CLN-006, never became due
    assert '<dd id="count-missed">0</dd>' in page
    assert 'id="complete-R1"' in page


def test_the_statistician_sees_the_pooled_figures_not_the_patients(clinic: Clinic) -> None:
    page = clinic.as_user("stats").get("/clinic").text
    assert "CLN-001" not in page
    assert "your role sees the clinic's pooled figures" in page


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (
            "CLN-001",
            [
                'id="verdict-pain_max"><span class="icon" aria-hidden="true">✓</span> Meaningful'
                " improvement reached at R1 (after 3 sessions)",
                "68 → 25: a meaningful improvement (better by 43 points; 20 points or more counts)",
                "R1: responder",
                "Exercised on at least 4 days in 3 of 5 weeks",
                "No adverse event recorded.",
                "Nothing to review",
            ],
        ),
        (
            "CLN-004",
            [
                "Worse than at the start by more than the MCID",
                "50 → 75: worse by 25 points, more than the 20 points that counts as meaningful",
                "R1: not a responder",
                "Significant adverse event: prolonged aggravation of symptoms",
                "<td>about 4 days</td>",
                "To review (4)",
            ],
        ),
        ("CLN-002", ["<td>about 30 hours</td>", "Dry needling of the popliteus, session 1"]),
    ],
)
def test_the_progress_page(clinic: Clinic, code: str, expected: list[str]) -> None:
    page = clinic.as_user("therapist").get(f"/clinic/patients/{code}").text
    for text in expected:
        assert text in page, text
    assert f'href="/clinic/patients/{code}/summary"' in page
    assert page.count('class="outcome-chart"') == 4  # VAS, WOMAC pain and function, DN4
    assert not ARM_WORDS.search(page)
    assert "randomised" not in page.lower()
    assert "allocation" not in page.lower()


def test_a_patient_who_stopped_care_is_shown_as_stopped(clinic: Clinic) -> None:
    code = clinic.codes[5]  # CLN-006: two sessions, then lost
    withdraw(clinic.store, "coord", code, "lost_to_follow_up", NOW.date(), "moved away", NOW.date())
    page = clinic.as_user("therapist").get(f"/clinic/patients/{code}").text
    assert "<strong>stopped (lost to follow up)</strong>" in page
    assert "in care ·" not in page


@pytest.mark.parametrize(
    ("code", "lines"),
    [
        (
            "CLN-001",
            [
                "<strong>Your knee pain: 68 → 25</strong> — a meaningful improvement (better by 43"
                " points; 20 points or more counts)",
                "<strong>Difficulty with daily activities: 75 → 25</strong> — a meaningful"
                " improvement (better by 50 points; 9.1 points or more counts)",
                "you are <strong>responding to treatment</strong>",
                "Dry needling of the popliteus: 6 sessions (3 planned)",
                "You exercised on 4 or more days in 3 of 5 weeks (the aim is 4 days a week).",
                "No side effects were recorded.",
            ],
        ),
        (
            "CLN-003",
            [
                "<strong>Your knee pain: 72 → 70</strong> — better by 2 points, not yet the 20"
                " points that counts as meaningful",
                "you are <strong>not yet responding</strong> to treatment",
            ],
        ),
        (
            "CLN-002",
            [
                "Post-needling soreness (mild) after dry needling of the popliteus session 1:"
                " went away after about 30 hours.",
            ],
        ),
    ],
)
def test_the_summary_speaks_plainly(clinic: Clinic, code: str, lines: list[str]) -> None:
    page = clinic.as_user("therapist").get(f"/clinic/patients/{code}/summary").text
    for line in lines:
        assert line in page, line
    assert "the smallest change that patients notice as a real difference" in page
    shown = re.sub(r"<[^>]+>", " ", page[page.index('<main id="main"') :])
    jargon = re.search(r"\b(MCID|R1|R2|BL|needling 1|counted|OMERACT|arms?|CARE)\b", shown)
    assert jargon is None, shown[max(0, jargon.start() - 200) : jargon.end() + 50]
    assert not ARM_WORDS.search(page)
    assert "randomis" not in page.lower()
    assert "allocation" not in page.lower()
    assert '<link rel="stylesheet" href="/static/clinic.css">' in page


def test_every_clinic_page_refuses_a_trial(site: Site) -> None:
    browser = TestClient(site.app)
    assert sign_in(browser, "therapist").status_code == 303
    for path in ("/clinic", f"/clinic/patients/{site.participant}", *POOLED):
        page = browser.get(path)
        assert page.status_code == 409, (path, page.text[:400])
        assert "is a trial; clinic pages need a study started from a care plan" in page.text
    assert browser.get("/", follow_redirects=False).status_code == 200


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            "mcid",
            "Half of our patients reached a meaningful improvement in maximum knee pain (at least"
            " 20 points) by session 6 (95 % CI from session 3; no upper limit yet).",
        ),
        (
            "omeract_oarsi",
            "Half of our patients reached an OMERACT-OARSI response (meaningful improvement in pain"
            " and function together) by session 6 (95 % CI from session 3; no upper limit yet).",
        ),
    ],
)
def test_sessions_to_response_answers_how_many_treatments(
    clinic: Clinic, rule: str, expected: str
) -> None:
    """The statistician sees every site: the six CLN patients and OTH-001, censored at 2
    sessions. S(3) = 1 − 2/5 = 0.6 (responded 40 %), S(6) = 0: the median is 6 sessions."""
    page = clinic.as_user("stats").get(f"/clinic/response?rule={rule}").text
    assert f'<p class="answer" id="answer">{expected}</p>' in page
    assert "All patients (7; 3 improved so far)" in page
    table = page[page.index('id="km-table"') :]
    assert '<td class="num">3</td><td class="num">5</td><td class="num">2</td>' in table
    assert "40 % (12 to 87 %)" in table
    assert f'<a href="/clinic/response?rule={rule}" aria-current="page">' in page
    assert 'class="km-band"' in page
    assert "censored" in page
    assert "<td>knee osteoarthritis · knee</td>" in page
    assert "<td>6 (3 to —)</td>" in page
    assert 'href="/clinic/planning.csv"' in page


def test_a_site_sees_its_own_sessions_to_response(clinic: Clinic) -> None:
    page = clinic.as_user("therapist").get("/clinic/response").text
    assert "All patients (6; 3 improved so far)" in page


def test_safety_against_brady_and_boyce(clinic: Clinic) -> None:
    """26 needling sessions (6 + 6 + 3 + 3 + 6 + 2) at CLN; 3 followed by an event."""
    page = clinic.as_user("therapist").get("/clinic/safety").text
    assert "3 of 26 sessions (11.5 %; 95 % CI 2.4 % to 30.2 %) were followed by" in page
    mild = page[page.index('id="rate-mild"') :]
    mild = mild[: mild.index("</tr>")]
    assert "<strong>7.7 %</strong>" in mild
    assert 'Brady 2014: 19.2 %</span><br><span class="hint">ours is compatible with it' in mild
    assert 'Boyce 2020: 36.7 %</span><br><span class="hint">ours is lower than it' in mild
    assert 'id="rate-pain-after-treatment"' in page  # post-needling soreness, merged
    assert "Brady S, et al. Adverse events following trigger point dry needling" in page
    assert "Int J Sports Phys Ther 2020;15(1):103-113" in page
    assert 'id="forest-chart"' in page


def test_the_planning_export(clinic: Clinic) -> None:
    response = clinic.as_user("stats").get("/clinic/planning.csv")
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="knee-clinic-variability.csv"' in response.headers["content-disposition"]
    lines = response.text.splitlines()
    assert lines[0] == (
        "condition,joint,outcome,visit,n,mean,sd,n_pairs,change_mean,change_sd,correlation,"
        "ancova_sd"
    )
    # VAS max at BL: 68, 60, 72, 50, 80, 66 → mean 66, SD 10.2762
    assert lines[1] == "knee osteoarthritis,knee,pain_max,BL,6,66,10.2762,,,,,"
    assert all("CLN-" not in line for line in lines)


def test_every_page_of_a_simulated_hip_clinic(tmp_path: Path) -> None:
    """The second shipped care plan (hip-oa-clinic) through the clinic simulator: every page
    opens for the data manager (every patient's progress and summary among them) and none
    names an arm, a randomisation or an allocation."""
    url = f"sqlite:///{tmp_path / 'hip.sqlite'}"
    init_study(url, "hip-oa-clinic", admin="dm", admin_name="Data Manager", seed="hip")
    store = Store(url)
    try:
        summary = simulate_clinic(store, load_protocol("hip-oa-clinic"), n_patients=16, seed=5)
        set_password(store, "dm", "dm", PASSWORD)
        moment = datetime.combine(summary.last_day + timedelta(days=1), time(9), tzinfo=UTC)
        app = create_app(tmp_path, url, secret=SECRET, now=Clock(moment))
        with TestClient(app) as browser:
            assert sign_in(browser, "dm").status_code == 303
            dashboard = browser.get("/clinic").text
            codes = sorted(set(re.findall(r'href="/clinic/patients/(CLN-\d+)"', dashboard)))
            assert len(codes) == summary.started
            pages = ["/clinic", *POOLED]
            pages += [f"/clinic/patients/{c}{end}" for c in codes for end in ("", "/summary")]
            for path in pages:
                page = browser.get(path)
                assert page.status_code == 200, (path, page.text[:400])
                if path.endswith(".csv"):
                    continue
                assert not NOT_A_CLINIC_WORD.search(re.sub(r"<[^>]+>", " ", page.text)), path
            answer = browser.get("/clinic/response").text
            assert re.search(r'id="answer">(Half|Fewer than half) of our patients', answer)
            assert "Your hip pain:" in browser.get(f"/clinic/patients/{codes[0]}/summary").text
    finally:
        store.close()


@pytest.mark.parametrize(
    ("hours", "words"),
    [
        (None, "how long it lasted was not recorded"),
        (0.5, "less than an hour"),
        (1, "about 1 hour"),
        (30, "about 30 hours"),
        (47.6, "about 48 hours"),
        (48, "about 2 days"),
        (60, "about 2.5 days"),
        (96, "about 4 days"),
    ],
)
def test_how_long_a_side_effect_lasted(hours: float | None, words: str) -> None:
    assert duration_words(hours) == words


def test_safety_before_any_adverse_event(clinic: Clinic) -> None:
    """OTH-001's two needling sessions, no event: 0 of 2, exact upper limit 1 − 0.025^(1/2)."""
    page = clinic.as_user("therapist_oth").get("/clinic/safety").text
    assert "0 of 2 sessions (0.0 %; 95 % CI 0.0 % to 84.2 %) were followed by" in page
    assert "No adverse event has been recorded." in page
    mild = page[page.index('id="rate-mild"') :]
    assert "Brady 2014: 19.2 %" in mild[: mild.index("</tr>")]
