"""The dashboard: recruitment over time against the target, visits to act on, open adverse
events and data entry per visit, by role and site, and never an arm for a blinded role.

The study is tests/services/test_progress.py's (six participants at SEV and UNI, counts worked
out by hand there), seen on its TODAY (2025-03-25).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from physiotrial.services.access import set_password
from physiotrial.services.recruitment import RecruitmentPoint, RecruitmentTimeline
from physiotrial.web.routes.pages import recruitment_chart
from tests.services.test_blinding_matrix import ARM_WORDS
from tests.services.test_progress import TODAY, populate
from tests.web.conftest import PASSWORD, Page, Site, sign_in


@pytest.fixture
def study(site: Site) -> Site:
    populate(site.store, site.participant)
    set_password(site.store, "dm", "coord_uni", PASSWORD)
    site.clock.moment = datetime(TODAY.year, TODAY.month, TODAY.day, 9, tzinfo=UTC)
    return site


def _dashboard(site: Site, username: str) -> Page:
    client = site.browser()
    assert sign_in(client, username).status_code == 303
    page = client.get("/")
    assert page.status_code == 200, page.text[:300]
    return page


def _count(page: Page, name: str) -> int:
    found = re.search(rf'<dd id="count-{name}">(\d+)', page.text)
    assert found, name
    return int(found.group(1))


def _counts(page: Page, *names: str) -> tuple[int, ...]:
    return tuple(_count(page, name) for name in names)


def _completeness(page: Page, visit: str) -> list[str]:
    row = re.search(rf'<tr id="complete-{visit}">(.*?)</tr>', page.text, re.S)
    assert row, visit
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in cells[1:]]


def _table_rows(page: Page, table: str) -> list[list[str]]:
    body = re.search(rf'<table class="table {table}">.*?<tbody>(.*?)</tbody>', page.text, re.S)
    assert body, table
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    return [
        [
            " ".join(re.sub(r"<[^>]+>", " ", c).split())
            for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r, re.S)
        ]
        for r in rows
    ]


def test_data_manager_sees_every_site_and_the_arms(study: Site) -> None:
    page = _dashboard(study, "dm")
    assert _counts(page, "screened", "eligible", "randomised") == (6, 5, 4)
    assert "of 38 planned" in page.text
    assert _counts(page, "today", "open", "late", "missed") == (1, 2, 1, 9)
    assert _count(page, "ae") == 2
    assert _table_rows(page, "events") == [
        ["UNI-001", "fainting", "2025-03-20", "serious"],
        ["SEV-001", "knee pain", "2025-03-19", "mild"],
    ]
    assert _completeness(page, "BL") == ["4", "3", "14 of 44", "32%"]
    assert _completeness(page, "W3") == ["2", "0", "0 of 26", "0%"]
    assert _completeness(page, "M6") == ["0", "0", "0 of 0", "—"]
    # the arm table: the unblinded view proves the blinded pages' arm search can find arms
    assert ARM_WORDS.search(page.text)
    assert "Randomised per arm" in page.text


def test_the_due_list_links_each_visit_late_first(study: Site) -> None:
    page = _dashboard(study, "coord")
    rows = _table_rows(page, "due")
    assert rows[0] == ["SEV-001", "Post-treatment assessment (week 3) (W3)", "late", "2025-03-31"]
    assert rows[1] == ["SEV-002", "Treatment session 3 (T3)", "open (today)", "2025-03-27"]
    assert len(rows) == 7
    assert 'href="/participants/SEV-001/visits/W3"' in page.text
    assert 'href="/participants/SEV-002/visits/T3"' in page.text


def test_a_coordinator_sees_their_own_site_only(study: Site) -> None:
    page = _dashboard(study, "coord")
    assert "Recruitment at SEV" in page.text
    assert _counts(page, "screened", "eligible", "randomised") == (3, 3, 2)
    assert "of 38 planned" not in page.text
    assert "The study plans 38 randomised across all sites" in page.text
    assert _counts(page, "today", "open", "late", "missed") == (1, 1, 1, 5)
    assert _table_rows(page, "events") == [["SEV-001", "knee pain", "2025-03-19", "mild"]]
    assert _completeness(page, "BL") == ["2", "2", "13 of 22", "59%"]
    assert "UNI-" not in page.text
    other = _dashboard(study, "coord_uni")
    assert _counts(other, "screened", "randomised", "open", "missed", "ae") == (3, 2, 1, 4, 1)
    assert _completeness(other, "BL") == ["2", "1", "1 of 22", "5%"]
    assert "SEV-" not in other.text


def test_the_statistician_sees_no_visit_list_and_no_adverse_events(study: Site) -> None:
    page = _dashboard(study, "stats")
    assert "Visit lists are not part of your role." in page.text
    assert 'id="count-ae"' not in page.text
    assert "Open adverse events" not in page.text
    assert _completeness(page, "BL") == ["4", "3", "14 of 44", "32%"]


def test_the_chart_and_its_table(study: Site) -> None:
    page = _dashboard(study, "dm")
    chart = re.search(r'<figure class="chart".*?</figure>', page.text, re.S)
    assert chart
    svg = chart.group(0)
    assert 'role="img"' in svg
    assert '<title id="chart-title">Recruitment by week</title>' in svg
    assert "6 screened and 4 randomised by today, against a target of 38 randomised" in svg
    randomised = re.search(r'<polyline class="randomised" points="([^"]+)"', svg)
    assert randomised
    assert len(randomised.group(1).split()) == 5
    assert "Target 38" in svg
    table = re.search(
        r'<table class="table" id="recruitment-table">.*?<tbody>(.*?)</tbody>', page.text, re.S
    )
    assert table
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", table.group(1))
    assert cells == [
        *("2025-03-02", "3", "0"),
        *("2025-03-09", "4", "3"),
        *("2025-03-16", "4", "4"),
        *("2025-03-23", "6", "4"),
        *("2025-03-25 (today)", "6", "4"),
    ]
    site_page = _dashboard(study, "coord")
    assert "Recruitment by week at SEV" in site_page.text
    assert "Target 38" not in site_page.text  # the study-wide target is no line for one site


def test_chart_geometry() -> None:
    timeline = RecruitmentTimeline(
        site=None,
        period="week",
        points=(
            RecruitmentPoint(date(2025, 3, 2), 3, 0),
            RecruitmentPoint(date(2025, 3, 9), 4, 3),
            RecruitmentPoint(date(2025, 3, 12), 6, 4),
        ),
        target=38,
    )
    chart = recruitment_chart(timeline)
    assert chart is not None
    # plot area x 52..628, y 16..212; the target 38 rounds the scale up to 40, in steps of 10
    assert chart.y_ticks == ((212.0, 0), (163.0, 10), (114.0, 20), (65.0, 30), (16.0, 40))
    assert chart.target_y == pytest.approx(212 - 196 * 38 / 40, abs=0.05)
    assert chart.randomised == "52.0,212.0 340.0,197.3 628.0,192.4"  # 0, 3, 4 of 40
    assert chart.screened == "52.0,197.3 340.0,192.4 628.0,182.6"  # 3, 4, 6 of 40
    assert chart.x_ticks == ((52.0, "2 Mar"), (340.0, "9 Mar"), (628.0, "12 Mar"))
    one_site = recruitment_chart(RecruitmentTimeline("SEV", "month", timeline.points[:1], 38))
    assert one_site is not None
    assert (one_site.target, one_site.target_y) == (None, None)
    assert one_site.y_ticks[-1] == (16.0, 3)  # 3 screened: steps of 1 up to 3
    assert one_site.x_ticks == ((340.0, "Mar 2025"),)
    assert recruitment_chart(RecruitmentTimeline(None, "week", (), 38)) is None


@pytest.mark.parametrize("username", ["coord", "assessor", "stats", "coord_uni"])
def test_a_blinded_role_sees_no_arm_on_the_dashboard(study: Site, username: str) -> None:
    page = _dashboard(study, username)
    assert not ARM_WORDS.search(page.text)
    assert "Randomised per arm" not in page.text


def test_the_therapist_sees_the_arms_of_their_site(study: Site) -> None:
    page = _dashboard(study, "therapist")
    assert ARM_WORDS.search(page.text)
    arms = _table_rows(page, "arms")
    assert sorted(row[1] for row in arms) == ["DN", "SHAM"]
    assert sum(int(row[2]) for row in arms) == 2
