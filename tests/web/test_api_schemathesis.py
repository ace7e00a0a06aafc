"""schemathesis against the served OpenAPI document: no 500s, and every 4xx says what was wrong.

The schema is loaded from the app itself (``/api/v1/openapi.json``), and every operation gets
generated requests authenticated with a real API token, for a data manager and for a blinded
assessor. Each response must pass schemathesis's stateless checks (not a server error, a status,
content type and body the document declares) and :func:`error_has_field_and_reason`. Requests
with generated path parameters mostly hit unknown participants (404); a second pass pins the
participant and the visit to real ones, so the capture endpoints' 201, 409 and 422 answers are
checked too.

Runs on SQLite only: the checks test the HTTP contract, which is the same on both backends (the
API tests in test_api.py run on both). Examples are bounded and derandomised, so the run is the
same every time and takes well under a minute.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from physiotrial.services.access import issue_api_token
from tests.services.test_blinding_matrix import ARM_WORDS
from tests.web.conftest import Site

EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@schemathesis.check
def error_has_field_and_reason(ctx: Any, response: Any, case: Case) -> bool | None:
    """Every 4xx body is ``{"error": {"field": str | null, "reason": non-empty str}}``."""
    if not 400 <= response.status_code < 500:
        return None
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"field", "reason"}, body
    field, reason = body["error"]["field"], body["error"]["reason"]
    assert field is None or (isinstance(field, str) and field), body
    assert isinstance(reason, str), body
    assert reason.strip(), body
    return True


MM = st.one_of(
    st.integers(-10, 110),
    st.floats(0, 100),
    st.floats(allow_nan=False, allow_infinity=False),
    st.none(),
    st.text(max_size=5),
)
"""Answers to the one item of a VAS (mm), most of them out of range or of the wrong type."""


def _answering_mm(case: Case, mm: object) -> Case:
    """``case`` with its answers replaced by one to item ``mm`` (a generated item id is never a
    real one, so without this no generated record would be stored)."""
    case.body = {**case.body, "answers": {"mm": mm}}
    return case


def _run(site: Site, username: str) -> dict[str, int]:
    """Every operation with generated requests as ``username``: requests sent per operation.

    An operation on a participant runs twice: with generated path parameters, and with the
    participant, the visit and the measure pinned to real ones (SEV-001, BL, vas_min; the body
    is still generated, with answers to the VAS item).
    """
    token = issue_api_token(site.store, username, "schemathesis")
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", site.app)
    real = {"study_code": site.participant, "visit": "BL", "measure": "vas_min"}
    sent: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        names = {p.name for p in operation.path_parameters}
        pinned = {k: v for k, v in real.items() if k in names}
        for fixed in [{}, pinned] if pinned else [{}]:
            strategy = operation.as_strategy(path_parameters=fixed or None)
            if "measure" in fixed:
                strategy = st.builds(_answering_mm, strategy, MM)

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def check(case: Case) -> None:
                response = case.call(headers=headers)
                case.validate_response(
                    response, checks=CHECKS, additional_checks=[error_has_field_and_reason]
                )
                if username != "dm":
                    assert not ARM_WORDS.search(response.text), (case.path, response.text[:300])
                label = case.operation.label
                sent[label] = sent.get(label, 0) + 1

            check()
    return sent


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("username", ["dm", "assessor"])
def test_every_operation_conforms_to_the_document(site: Site, username: str) -> None:
    sent = _run(site, username)
    assert len(sent) == 8, sorted(sent)  # every operation of the document ran
    assert min(sent.values()) >= 1
