"""The demo identity provider, over real HTTP: a newcomer logs in with curl-like calls."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from tests.support.server import HEALTHBOOK, free_port, wait_ready


def test_demo_mode_logs_in_a_demo_citizen_and_their_child(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DATA_DIR": str(tmp_path / "data")}
    process = subprocess.Popen(
        [HEALTHBOOK, "demo", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_ready(base, process)
        page = httpx.get(f"{base}/demo-idp/")
        assert page.status_code == 200
        assert "001090000001" in page.text
        id_token = httpx.post(
            f"{base}/demo-idp/id-token", json={"national_id": "001090000001"}
        ).json()["id_token"]
        tokens = httpx.post(
            f"{base}/auth/token",
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "subject_token": id_token,
                "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
            },
        )
        assert tokens.status_code == 200, tokens.text
        headers = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
        me = httpx.get(f"{base}/citizens/me", headers=headers).json()
        assert me["full_name"] == "Nguyễn Thị Lan"
        assert len(me["dependents"]) == 1
        child = httpx.get(f"{base}/citizens/{me['dependents'][0]['id']}", headers=headers)
        assert child.status_code == 200
        # only demo citizens can be had
        stranger = httpx.post(f"{base}/demo-idp/id-token", json={"national_id": "001099999999"})
        assert stranger.status_code == 404
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert b"demo identity provider" in output


def test_demo_identity_provider_is_absent_outside_demo_mode(tmp_path: Path) -> None:
    from tests.support.server import served

    with served({"DATA_DIR": str(tmp_path / "data")}, cwd=tmp_path) as base:
        assert httpx.get(f"{base}/demo-idp/jwks.json").status_code == 404
