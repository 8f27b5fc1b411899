"""Hospital, kiosk and operator clients: RFC 7523 assertions, scopes, administration."""

from __future__ import annotations

import time

import pytest

from tests.support.auth import bearer, client_token, create_client_directly
from tests.support.idp import SigningKey


@pytest.fixture
async def hospital(app, client):
    return await create_client_directly(app, "hospital", facility_id="BV-CHO-RAY")


async def test_client_credentials_issue_a_scoped_token(client, hospital, app) -> None:
    response = await client.post("/auth/token", data=hospital.form())
    assert response.status_code == 200, response.text
    body = response.json()
    assert "refresh_token" not in body
    assert "summaries:write" in body["scope"].split()
    principal = app.state.access_tokens.verify(body["access_token"])
    assert principal.kind == "hospital"
    assert principal.facility_id == "BV-CHO-RAY"


@pytest.mark.redis
async def test_replayed_assertion_jti_is_401(client, hospital) -> None:
    assertion = hospital.assertion()
    assert (await client.post("/auth/token", data=hospital.form(assertion))).status_code == 200
    replay = await client.post("/auth/token", data=hospital.form(assertion))
    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "change",
    [
        {"aud": "http://127.0.0.1:8000/other"},
        {"sub": "someone-else"},
        {"exp": None},
        {"jti": None},
        {"jti": "short"},
        {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 3700},
        {"exp": int(time.time()) + 3600},  # lifetime longer than allowed
    ],
)
async def test_bad_assertions_are_401(client, hospital, change) -> None:
    response = await client.post("/auth/token", data=hospital.form(hospital.assertion(**change)))
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"


async def test_assertion_signed_by_another_key_is_401(client, hospital) -> None:
    hospital.key = SigningKey("EdDSA", kid=hospital.key.kid)
    response = await client.post("/auth/token", data=hospital.form())
    assert response.status_code == 401


async def test_scope_request_must_be_granted(client, hospital) -> None:
    narrowed = await client.post("/auth/token", data=hospital.form(scope="slots:write"))
    assert narrowed.status_code == 200
    assert narrowed.json()["scope"] == "slots:write"
    widened = await client.post("/auth/token", data=hospital.form(scope="admin"))
    assert widened.status_code == 400
    assert widened.json()["error"] == "invalid_scope"


async def test_disabled_client_cannot_authenticate(client, hospital, admin_token) -> None:
    response = await client.patch(
        f"/admin/clients/{hospital.client_id}", json={"enabled": False}, headers=bearer(admin_token)
    )
    assert response.status_code == 200
    assert response.json()["enabled"] is False
    refused = await client.post("/auth/token", data=hospital.form())
    assert refused.status_code == 401


async def test_operators_register_clients_over_the_api(client, admin_token) -> None:
    key = SigningKey("ES256")
    created = await client.post(
        "/admin/clients",
        json={
            "kind": "kiosk",
            "name": "Kiosk sảnh A",
            "facility_id": "BV-CHO-RAY",
            "jwks": {"keys": [key.jwk]},
        },
        headers=bearer(admin_token),
    )
    assert created.status_code == 201, created.text
    view = created.json()
    assert view["scopes"] == ["checkin:write"]
    listing = await client.get("/admin/clients?kind=kiosk", headers=bearer(admin_token))
    assert [c["id"] for c in listing.json()] == [view["id"]]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"kind": "kiosk", "name": "k", "jwks": {"keys": []}, "facility_id": "F"}, "no key"),
        (
            {
                "kind": "kiosk",
                "name": "k",
                "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]},
                "facility_id": "F",
            },
            "symmetric",
        ),
        ({"kind": "hospital", "name": "h", "jwks": None}, "no facility"),
        ({"kind": "admin", "name": "a", "scopes": ["slots:write"]}, "foreign scope"),
        ({"kind": "root", "name": "r"}, "unknown kind"),
    ],
)
async def test_bad_client_registrations_are_400(client, admin_token, body, why) -> None:
    key = SigningKey("EdDSA")
    if "jwks" not in body or body["jwks"] is None:
        body = {**body, "jwks": {"keys": [key.jwk]}}
    response = await client.post("/admin/clients", json=body, headers=bearer(admin_token))
    assert response.status_code == 400, (why, response.text)


async def test_private_key_material_is_refused(client, admin_token) -> None:
    key = SigningKey("EdDSA")
    leaked = {**key.jwk, "d": "cHJpdmF0ZQ"}
    response = await client.post(
        "/admin/clients",
        json={"kind": "admin", "name": "a", "jwks": {"keys": [leaked]}},
        headers=bearer(admin_token),
    )
    assert response.status_code == 400
    assert "private" in response.json()["detail"]


async def test_identity_provider_registration_is_validated(client, admin_token, idp) -> None:
    bad = idp.provider_body(algorithms=["HS256"])
    response = await client.put(
        "/admin/identity-providers/test-idp", json=bad, headers=bearer(admin_token)
    )
    assert response.status_code == 400
    mismatch = await client.put(
        "/admin/identity-providers/other", json=idp.provider_body(), headers=bearer(admin_token)
    )
    assert mismatch.status_code == 400
    ok = await client.put(
        "/admin/identity-providers/test-idp", json=idp.provider_body(), headers=bearer(admin_token)
    )
    assert ok.status_code == 201
    again = await client.put(
        "/admin/identity-providers/test-idp", json=idp.provider_body(), headers=bearer(admin_token)
    )
    assert again.status_code == 200
    clash = await client.put(
        "/admin/identity-providers/clone",
        json=idp.provider_body(provider_id="clone"),
        headers=bearer(admin_token),
    )
    assert clash.status_code == 409
    listed = await client.get("/admin/identity-providers", headers=bearer(admin_token))
    assert [p["id"] for p in listed.json()] == ["test-idp"]


async def test_client_token_works_for_its_routes(client, app) -> None:
    admin = await create_client_directly(app, "admin")
    token = await client_token(client, admin)
    assert (await client.get("/admin/clients", headers=bearer(token))).status_code == 200
