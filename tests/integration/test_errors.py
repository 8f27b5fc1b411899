"""Every error leaves as RFC 9457 problem+json with a stable type."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar, post
from litestar.params import RequestBody

from api.app import create_app
from api.core.errors import Conflict
from api.core.settings import Settings
from tests.conftest import base_settings
from tests.support.problems import problem_uri
from tests.support.running import app_client

PROBLEM = "application/problem+json"


class Echo(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    age: int


def _assert_problem(response: httpx.Response, status: int, type_: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["type"] == type_
    assert body["status"] == status
    assert body["title"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return body


async def test_unknown_route_is_404_problem(client: httpx.AsyncClient) -> None:
    _assert_problem(await client.get("/no/such/path"), 404, problem_uri("not-found"))


async def test_wrong_method_is_405_problem(client: httpx.AsyncClient) -> None:
    response = await client.delete("/health/live")
    _assert_problem(response, 405, problem_uri("method-not-allowed"))


async def test_problem_types_are_documented(client: httpx.AsyncClient) -> None:
    listing = (await client.get("/problems")).json()
    slugs = {item["type"] for item in listing}
    assert {
        problem_uri("not-found"),
        problem_uri("validation-error"),
        problem_uri("not-ready"),
    } <= slugs
    one = await client.get("/problems/payload-too-large")
    assert one.json()["status"] == 413
    _assert_problem(await client.get("/problems/nope"), 404, problem_uri("not-found"))


@pytest.fixture
def probe_app(tmp_path: Any) -> Litestar:
    """The real app plus test routes that exercise body parsing and domain errors."""

    @post("/test/echo")
    async def echo(data: RequestBody[Echo]) -> Echo:
        return data

    @post("/test/conflict")
    async def conflict() -> None:
        raise Conflict("slot is full", extra={"slot": "s1"})

    @post("/test/crash")
    async def crash() -> None:
        raise RuntimeError("secret internals must not leak")

    settings: Settings = base_settings(tmp_path, max_request_body_bytes=2048, auto_migrate=True)
    app = create_app(settings)
    for handler in (echo, conflict, crash):
        app.register(handler)
    return app


@pytest.fixture
async def probe(probe_app: Litestar):
    async with app_client(probe_app) as http:
        yield http


async def test_malformed_json_is_400_problem(probe: httpx.AsyncClient) -> None:
    response = await probe.post(
        "/test/echo", content=b'{"name": "a", ', headers={"content-type": "application/json"}
    )
    _assert_problem(response, 400, problem_uri("malformed-body"))


async def test_validation_error_names_the_field(probe: httpx.AsyncClient) -> None:
    response = await probe.post("/test/echo", json={"name": "a", "age": "old"})
    body = _assert_problem(response, 400, problem_uri("validation-error"))
    assert any("age" in (error.get("field") or error["detail"]) for error in body["errors"])


async def test_unknown_field_is_rejected(probe: httpx.AsyncClient) -> None:
    response = await probe.post("/test/echo", json={"name": "a", "age": 3, "admin": True})
    body = _assert_problem(response, 400, problem_uri("validation-error"))
    assert "admin" in response.text, body


async def test_oversized_body_is_413_problem(probe: httpx.AsyncClient) -> None:
    response = await probe.post(
        "/test/echo",
        content=b'{"name": "' + b"x" * 5000 + b'", "age": 1}',
        headers={"content-type": "application/json"},
    )
    _assert_problem(response, 413, problem_uri("payload-too-large"))


async def test_domain_error_carries_extensions(probe: httpx.AsyncClient) -> None:
    body = _assert_problem(await probe.post("/test/conflict"), 409, problem_uri("conflict"))
    assert body["detail"] == "slot is full"
    assert body["slot"] == "s1"


async def test_unexpected_exception_is_500_without_internals(probe: httpx.AsyncClient) -> None:
    response = await probe.post("/test/crash")
    _assert_problem(response, 500, problem_uri("internal-error"))
    assert "secret internals" not in response.text
    assert "RuntimeError" not in response.text


async def test_valid_body_passes(probe: httpx.AsyncClient) -> None:
    response = await probe.post("/test/echo", json={"name": "a", "age": 3})
    assert response.status_code == 201
    assert response.json() == {"name": "a", "age": 3}
