"""The token endpoint answers every error with the OAuth ``error`` code (RFC 6749 §5.2), and a
request without credentials is challenged without an ``error`` (RFC 6750 §3.1)."""

from __future__ import annotations

import httpx
import pytest

from tests.support.auth import bearer
from tests.support.problems import problem_uri

PROBLEM = "application/problem+json"


def _oauth_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["error"] == code, body
    assert body["error_description"], body
    assert body["status"] == status
    return body


@pytest.mark.parametrize(
    "form",
    [
        b"grant_type=client_credentials&client_id=a%00",
        b"grant_type=client_credentials&client_id=a\x00",
        b"grant_type=refresh_token&refresh_token=%00",
    ],
)
async def test_a_nul_in_the_form_is_invalid_request(client: httpx.AsyncClient, form) -> None:
    response = await client.post(
        "/auth/token",
        content=form,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    body = _oauth_error(response, 400, "invalid_request")
    assert "NUL" in body["error_description"]


async def test_a_form_that_is_not_utf8_is_invalid_request(client: httpx.AsyncClient) -> None:
    for form in (b"grant_type=%FF", b"grant_type=\xe9"):
        response = await client.post(
            "/auth/token",
            content=form,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        _oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("application/json", b'{"grant_type": "client_credentials"}'),
        ("text/plain", b"grant_type=client_credentials"),
        ("multipart/form-data; boundary=x", b"--x--"),
        (None, b"grant_type=client_credentials"),
    ],
)
async def test_a_body_that_is_not_form_encoded_is_415(
    client: httpx.AsyncClient, content_type, content
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post("/auth/token", content=content, headers=headers)
    body = _oauth_error(response, 415, "invalid_request")
    assert body["type"] == problem_uri("unsupported-media-type")


async def test_other_request_errors_carry_the_oauth_code(client: httpx.AsyncClient) -> None:
    unknown = await client.post(
        "/auth/token", data={"grant_type": "client_credentials", "surprise": "1"}
    )
    _oauth_error(unknown, 400, "invalid_request")
    too_large = await client.post(
        "/auth/token", data={"grant_type": "client_credentials", "x": "y" * 70_000}
    )
    _oauth_error(too_large, 413, "invalid_request")
    # the endpoint's own codes are kept
    _oauth_error(
        await client.post("/auth/token", data={"grant_type": "password"}),
        400,
        "unsupported_grant_type",
    )


async def test_no_credentials_get_a_challenge_without_an_error(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}):
        response = await client.get("/citizens/me", headers=headers)
        assert response.status_code == 401
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith("Bearer"), challenge
        assert "error=" not in challenge, challenge


async def test_a_bad_token_is_challenged_with_invalid_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/citizens/me", headers=bearer("not-a-token"))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_a_token_without_the_scope_is_challenged_with_insufficient_scope(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    response = await client.get("/citizens/me", headers=bearer(admin_token))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
