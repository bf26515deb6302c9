"""The API fuzzed from its own OpenAPI schema: schemathesis, in-process over WSGI.

Every operation gets valid and invalid input (the "coverage" phase walks each field's
boundaries and wrong types; the "fuzzing" phase adds random cases in both modes). Every answer
must be a documented status code with a body and content type matching the schema, and never
a 5xx.
"""

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tenants.services import api_token_create

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]
EXAMPLES_PER_OPERATION = 30

# Generated ids are random numbers, which would almost never name an object, so success
# answers would hardly be checked. Non-negative numbers are therefore moved onto real objects
# of the world (negative numbers and text stay unknown ids): `path or field → kind of object`.
ID_KINDS = {
    "/extensions/": "extension",
    "/hotlines/": "hotline",
    "/number-groups/": "group",
    "hotline": "hotline",
    "supervisor": "extension",
    "outbound_hotlines": "hotline",
    "outbound_groups": "group",
    "hotlines": "hotline",
    "ids": "extension",
}


# Loaded while collecting, from the app itself (building the schema reads no database).
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler())
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=EXAMPLES_PER_OPERATION,
    deterministic=True,
    database="none",
)
schema.config.phases.update(phases=["examples", "coverage", "fuzzing"])


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    """Call the WSGI app as Django's test client does: a request must not close the database
    connection, which holds the test's transaction (and the world's rows)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_context(world):
    ids = {
        "extension": [e.pk for e in world.ext_a.values()],
        "hotline": [world.hotline_a.pk, world.hotline_a2.pk],
        "group": [world.group_a.pk],
    }
    return {"headers": {"Authorization": f"Token {api_token_create(user=world.admin_a).key}"}, "ids": ids}


def _anchor(value, kind: str, ids: dict):
    def real(v):
        # Path parameters arrive as text already; body fields as JSON numbers.
        text = isinstance(v, str) and v.isascii() and v.isdigit()
        number = int(v) if text else v
        if isinstance(number, int) and not isinstance(number, bool) and number >= 0:
            found = ids[kind][number % len(ids[kind])]
            return str(found) if text else found
        return v

    return [real(v) for v in value] if isinstance(value, list) else real(value)


def anchor_ids(case, ids: dict) -> None:
    # A generated If-Match almost never names the current version, and its 412 comes before
    # the body is read; keep it on half of the cases so the bodies get validated too.
    if case.headers and len(case.headers.get("If-Match", "")) % 2:
        del case.headers["If-Match"]
    path_kind = next((kind for part, kind in ID_KINDS.items() if part in case.path), None)
    if case.path_parameters and "id" in case.path_parameters and path_kind:
        case.path_parameters["id"] = _anchor(case.path_parameters["id"], path_kind, ids)
    if isinstance(case.body, dict):
        for field, value in case.body.items():
            if field in ID_KINDS:
                case.body[field] = _anchor(value, ID_KINDS[field], ids)


@pytest.mark.django_db
@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_answers_as_documented(case, fuzz_context):
    anchor_ids(case, fuzz_context["ids"])
    case.call_and_validate(headers=fuzz_context["headers"], checks=CHECKS)
