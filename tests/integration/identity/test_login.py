"""Token exchange: a valid ID token logs a citizen in; the profile never shows the number."""

from __future__ import annotations

import jwt
import pytest
from sqlalchemy import func, select

from api.identity.models import Citizen
from tests.support.auth import bearer, exchange
from tests.support.problems import problem_uri


@pytest.mark.redis
async def test_exchange_creates_citizen_and_returns_our_tokens(client, citizen, app) -> None:
    tokens = await citizen(
        "001090012345", name="Lê Thị Hoa", birthdate="1991-02-03", gender="female"
    )
    assert tokens["token_type"] == "Bearer"
    assert tokens["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert 800 <= tokens["expires_in"] <= 900
    assert tokens["refresh_token"]
    header = jwt.get_unverified_header(tokens["access_token"])
    assert header["alg"] == "EdDSA"
    assert header["typ"] == "at+jwt"
    assert header["kid"] in {
        k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]
    }

    me = await client.get("/citizens/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200, me.text
    profile = me.json()
    assert profile["full_name"] == "Lê Thị Hoa"
    assert profile["birth_date"] == "1991-02-03"
    assert profile["sex"] == "female"
    assert profile["national_id_masked"].endswith("345")
    assert "001090012345" not in me.text
    assert profile["dependents"] == []

    # the number is stored only as a keyed hash
    async with app.state.sessionmaker() as session:
        row = await session.scalar(select(Citizen))
        assert row.national_id_hash != "001090012345"
        assert len(row.national_id_hash) == 64
        assert "001090012345" not in repr(row.__dict__)


@pytest.mark.redis
async def test_second_login_finds_the_same_citizen_and_updates_claims(client, citizen, app) -> None:
    first = await citizen("001090012345", name="Old Name")
    second = await citizen("001 090 012 345", name="New Name")  # separators are normalised
    me1 = (await client.get("/citizens/me", headers=bearer(first["access_token"]))).json()
    me2 = (await client.get("/citizens/me", headers=bearer(second["access_token"]))).json()
    assert me1["id"] == me2["id"]
    assert me2["full_name"] == "New Name"
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Citizen)) == 1


async def test_assurance_level_below_minimum_is_refused(client, citizen, idp, app) -> None:
    response = await exchange(client, idp.id_token("001090012345", acr="1"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_grant"
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Citizen)) == 0


async def test_malformed_national_id_is_refused(client, citizen, idp) -> None:
    response = await exchange(client, idp.id_token("12345"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_grant"


async def test_token_endpoint_request_errors_follow_oauth(client) -> None:
    missing = await client.post("/auth/token", data={})
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"
    unsupported = await client.post("/auth/token", data={"grant_type": "password"})
    assert unsupported.status_code == 400
    assert unsupported.json()["error"] == "unsupported_grant_type"
    wrong_type = await client.post(
        "/auth/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": "x.y.z",
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        },
    )
    assert wrong_type.status_code == 400
    assert wrong_type.json()["error"] == "invalid_request"
    assert missing.headers["content-type"].startswith("application/problem+json")


async def test_token_responses_are_not_cached(client, citizen, idp) -> None:
    response = await exchange(client, idp.id_token("001090012345"))
    assert response.headers["cache-control"] == "no-store"


async def test_me_without_or_with_a_bad_token_is_401(client) -> None:
    anonymous = await client.get("/citizens/me")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert anonymous.json()["type"] == problem_uri("invalid-token")
    garbage = await client.get("/citizens/me", headers=bearer("not-a-token"))
    assert garbage.status_code == 401
