"""The error format, from outside: bodies that are not UTF-8 on every operation that takes a body,
the keys of every field error, ``type`` and ``instance``, no Python internals in any answer."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from litestar import Litestar

from tests.integration.test_role_matrix import MATRIX, PUBLIC, SAMPLE_PARAMS
from tests.support.auth import bearer, client_token, create_client_directly
from tests.support.problems import problem_uri

PROBLEM = "application/problem+json"
FHIR = "application/fhir+json"
FORM = "application/x-www-form-urlencoded"
FIELD_KEYS = {"field", "source", "detail"}
SOURCES = {"body", "query", "path", "header", "cookie"}
INTERNALS = ("ParamType", "<Param", "Traceback", "{'", "__", "kwarg")

NOT_UTF8 = {
    "json": [b'{"name": "caf\xe9"}', b'{"slots": [], "x": "\xff\xfe"}', b"\xff"],
    FORM: [b"grant_type=caf\xe9", b"grant_type=%C3%28", b"grant_type=%FF"],
}


def operations_with_bodies(app: Litestar) -> list[tuple[str, str, str, str]]:
    """(method, path template, request media type, media type of its 400) per body media type."""
    document = app.openapi_schema.to_schema()
    found = []
    for template, item in document["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "requestBody" not in operation:
                continue
            bad_request = operation["responses"].get("400", {}).get("content", {})
            answered_as = FHIR if FHIR in bad_request else PROBLEM
            for media_type in operation["requestBody"]["content"]:
                found.append((method.upper(), template, media_type, answered_as))
    return found


@pytest.fixture
async def tokens(client, app, citizen) -> dict[str, str | None]:
    hospital = await create_client_directly(app, "hospital", facility_id="BV-TEST")
    kiosk = await create_client_directly(app, "kiosk", facility_id="BV-TEST")
    admin = await create_client_directly(app, "admin")
    return {
        "anonymous": None,
        "citizen": (await citizen("001090000099"))["access_token"],
        "hospital": await client_token(client, hospital),
        "kiosk": await client_token(client, kiosk),
        "admin": await client_token(client, admin),
    }


def _caller(method: str, template: str) -> str:
    allowed = MATRIX[(method, template)]
    return "anonymous" if allowed == PUBLIC else sorted(allowed)[0]


def assert_clean_problem(response: httpx.Response, status: int, where: str) -> dict[str, Any]:
    assert response.status_code == status, where
    assert response.headers["content-type"].startswith(PROBLEM), where
    body = response.json()
    assert body["type"].startswith("http://127.0.0.1:8000/problems/"), where
    assert body["status"] == status, where
    assert body["instance"] == response.request.url.path, where
    assert body["request_id"] == response.headers["x-request-id"], where
    for error in body.get("errors", []):
        assert set(error) == FIELD_KEYS, (where, error)
        assert error["source"] in SOURCES, (where, error)
        assert isinstance(error["field"], str), (where, error)
        assert error["detail"], (where, error)
    for internal in INTERNALS:
        assert internal not in response.text, (where, internal, response.text)
    return body


async def test_bodies_that_are_not_utf8_are_400_on_every_operation(
    app: Litestar, client: httpx.AsyncClient, tokens, caplog: pytest.LogCaptureFixture
) -> None:
    operations = operations_with_bodies(app)
    assert len(operations) >= 15, operations  # the table is the API's, not a sample
    caplog.set_level(logging.INFO)
    for method, template, media_type, answered_as in operations:
        path = template.format(**SAMPLE_PARAMS)
        token = tokens[_caller(method, template)]
        headers = {"content-type": media_type, **(bearer(token) if token else {})}
        for body in NOT_UTF8[FORM if media_type == FORM else "json"]:
            response = await client.request(method, path, content=body, headers=headers)
            where = f"{method} {path} ({media_type}) {body!r}: {response.text[:300]}"
            if answered_as == FHIR:
                assert response.status_code == 400, where
                assert response.headers["content-type"].startswith(FHIR), where
                outcome = response.json()
                assert outcome["resourceType"] == "OperationOutcome", where
                assert "UTF-8" in outcome["issue"][0]["diagnostics"], where
            else:
                problem = assert_clean_problem(response, 400, where)
                assert problem["type"] == problem_uri("malformed-body"), where
                assert "UTF-8" in problem["detail"], where
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


async def test_a_body_without_a_json_content_type_that_is_not_utf8_is_400(
    client: httpx.AsyncClient, tokens
) -> None:
    response = await client.put(
        "/admin/facilities/01001",
        content=b'{"name": "\xff"}',
        headers={"content-type": "text/plain", **bearer(tokens["admin"])},
    )
    assert_clean_problem(response, 400, response.text)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "field", "source"),
    [
        ("GET", "/facilities/BV-TEST/slots", {"params": {"limit": "many"}}, "limit", "query"),
        ("GET", "/hospital/appointments", {"params": {"date": "tomorrow"}}, "date", "query"),
        ("GET", "/facilities", {"params": {"q": "B\x00"}}, "q", "query"),
        (
            "POST",
            "/citizens/me/appointments",
            {"json": {"slot_id": "x"}},
            "slot_id",
            "body",
        ),
        (
            "POST",
            "/citizens/me/appointments",
            {"json": {"slot_id": "3f2c8a9e-5b7d-4c1e-9a0b-2d6e8f1a4c7b"}},
            "idempotency-key",
            "header",
        ),
        (
            "PUT",
            "/admin/facilities/BV-TEST/departments/NOI",
            {"json": {"name": "Khoa", "surprise": 1}},
            "surprise",
            "body",
        ),
        ("PUT", "/admin/facilities/BV-TEST/departments/NOI", {"json": {}}, "name", "body"),
        ("PUT", "/admin/facilities/BV-TEST/departments/NOI", {"json": [1]}, "", "body"),
        (
            "POST",
            "/admin/clients",
            {"json": {"kind": "admin", "name": "x", "jwks": {"keys": [1]}}},
            "jwks.*.0",
            "body",
        ),
        ("GET", "/citizens/me/notifications", {"params": {"cursor": "@@"}}, "cursor", "query"),
        ("GET", "/facilities", {"headers": {"x-note": "a\x00b"}}, "x-note", "header"),
    ],
)
async def test_every_field_error_names_field_and_source(
    client: httpx.AsyncClient, tokens, method, path, kwargs, field, source
) -> None:
    caller = "hospital" if path.startswith("/hospital") else "citizen"
    caller = "admin" if path.startswith("/admin") else caller
    kwargs = dict(kwargs)  # the parameters are shared by both backends' runs
    headers = {**bearer(tokens[caller]), **kwargs.pop("headers", {})}
    response = await client.request(method, path, headers=headers, **kwargs)
    body = assert_clean_problem(response, 400, response.text)
    assert body["type"] == problem_uri("validation-error")
    assert {"field": field, "source": source} in [
        {"field": e["field"], "source": e["source"]} for e in body["errors"]
    ], body


async def test_problem_types_resolve_on_the_service(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/thing?secret=1")
    body = assert_clean_problem(response, 404, response.text)
    assert body["instance"] == "/no/such/thing"  # never the query string
    described = await client.get(httpx.URL(body["type"]).path)
    assert described.status_code == 200
    assert described.json()["type"] == body["type"]
    assert described.json()["status"] == 404


async def test_fhir_errors_show_no_python_internals(client: httpx.AsyncClient, tokens) -> None:
    headers = bearer(tokens["hospital"])
    answers = [
        await client.post("/hospital/summaries/not-a-uuid/entered-in-error", headers=headers),
        await client.post(
            "/hospital/summaries",
            content=b"{}",
            headers={**headers, "content-type": "text/plain"},
        ),
        await client.post("/hospital/summaries", headers={"x-note": "a\x00"}),
    ]
    for response in answers:
        assert response.headers["content-type"].startswith(FHIR), response.text
        assert 400 <= response.status_code < 500, response.text
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        for internal in INTERNALS:
            assert internal not in response.text, (internal, response.text)
