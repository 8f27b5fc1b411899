"""Refresh rotation, reuse detection, logout, and rotation of our own signing keys."""

from __future__ import annotations

import datetime as dt
import os
import subprocess

import jwt

from api.core.security import rotate
from tests.support.auth import bearer
from tests.support.server import HEALTHBOOK


async def _refresh(client, token: str):
    return await client.post(
        "/auth/token", data={"grant_type": "refresh_token", "refresh_token": token}
    )


async def test_refresh_rotates_and_reuse_revokes_the_family(client, citizen) -> None:
    first = await citizen("001090000011")
    second = await _refresh(client, first["refresh_token"])
    assert second.status_code == 200, second.text
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (
        await client.get("/citizens/me", headers=bearer(second["access_token"]))
    ).status_code == 200

    third = (await _refresh(client, second["refresh_token"])).json()

    # the first token is replayed (stolen): refused, and the whole family dies with it
    reuse = await _refresh(client, first["refresh_token"])
    assert reuse.status_code == 401
    assert reuse.json()["error"] == "invalid_grant"
    assert (await _refresh(client, third["refresh_token"])).status_code == 401


async def test_sessions_are_independent(client, citizen) -> None:
    phone = await citizen("001090000011")
    tablet = await citizen("001090000011")
    await _refresh(client, phone["refresh_token"])
    assert (await _refresh(client, phone["refresh_token"])).status_code == 401  # reuse
    assert (await _refresh(client, tablet["refresh_token"])).status_code == 200


async def test_unknown_and_expired_refresh_tokens(client, citizen, app) -> None:
    assert (await _refresh(client, "no-such-token")).status_code == 401
    tokens = await citizen("001090000011")
    clock_now = app.state.clock.now
    app.state.clock.now = lambda: clock_now() + dt.timedelta(days=31)  # type: ignore[method-assign]
    try:
        assert (await _refresh(client, tokens["refresh_token"])).status_code == 401
    finally:
        app.state.clock.now = clock_now  # type: ignore[method-assign]


async def test_logout_revokes_the_session(client, citizen) -> None:
    tokens = await citizen("001090000011")
    other = await citizen("001090000011")
    response = await client.post("/auth/logout", headers=bearer(tokens["access_token"]))
    assert response.status_code == 204
    assert (await _refresh(client, tokens["refresh_token"])).status_code == 401
    assert (await _refresh(client, other["refresh_token"])).status_code == 200
    assert (await client.post("/auth/logout")).status_code == 401


async def test_logout_can_name_another_refresh_token_of_the_same_citizen(client, citizen) -> None:
    a = await citizen("001090000011")
    b = await citizen("001090000011")
    stranger = await citizen("079085000022")
    await client.post(
        "/auth/logout",
        headers=bearer(a["access_token"]),
        json={"refresh_token": b["refresh_token"]},
    )
    assert (await _refresh(client, b["refresh_token"])).status_code == 401
    # a citizen cannot log someone else out
    await client.post(
        "/auth/logout",
        headers=bearer(a["access_token"]),
        json={"refresh_token": stranger["refresh_token"]},
    )
    assert (await _refresh(client, stranger["refresh_token"])).status_code == 200


async def test_signing_key_rotation_keeps_old_tokens_valid(client, citizen, app) -> None:
    before = await citizen("001090000011")
    old_kid = jwt.get_unverified_header(before["access_token"])["kid"]
    keys = app.state.signing_keys
    new_kid = rotate(keys.directory, keys.verify_keep)
    keys.reload(force=True)
    after = await citizen("001090000011")
    assert jwt.get_unverified_header(after["access_token"])["kid"] == new_kid
    published = {k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}
    assert {old_kid, new_kid} <= published
    for tokens in (before, after):
        assert (
            await client.get("/citizens/me", headers=bearer(tokens["access_token"]))
        ).status_code == 200
    # once the old key is past its verify window it is gone, and so are its tokens
    rotate(keys.directory, dt.timedelta(0))
    later = rotate(keys.directory, dt.timedelta(0))
    keys.reload(force=True)
    app.state.access_tokens._verified.clear()
    published = {k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}
    assert old_kid not in published
    assert later in published
    assert (
        await client.get("/citizens/me", headers=bearer(before["access_token"]))
    ).status_code == 401


def test_keys_rotate_command(tmp_path) -> None:
    env = {"PATH": os.environ["PATH"], "SIGNING_KEYS_DIR": str(tmp_path / "keys")}
    first = subprocess.run([HEALTHBOOK, "keys", "rotate"], env=env, capture_output=True, check=True)
    second = subprocess.run(
        [HEALTHBOOK, "keys", "rotate"], env=env, capture_output=True, check=True
    )
    listing = subprocess.run([HEALTHBOOK, "keys", "list"], env=env, capture_output=True, check=True)
    lines = listing.stdout.decode().strip().splitlines()
    assert len(lines) == 6  # one key per algorithm at each rotation
    signing = [line.split("\t")[1] for line in lines if line.endswith("\tsigning")]
    assert sorted(signing) == ["ES384", "EdDSA", "RS384"]  # one signer per algorithm
    assert first.stdout != second.stdout
