"""``healthbook shc verify`` and ``healthbook shc new-key`` as an operator runs them: separate
processes on the same database and data folder as the app that issued the cards."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from api.core.settings import Settings
from api.health_cards.keys import HealthCardKeys
from tests.integration.health_cards.conftest import CARDS, few_immunizations
from tests.support.cli import run_cli_async
from tests.support.fhir_samples import LEONOR
from tests.support.health_cards import DATA, b64, unb64


def _flip(jws: str) -> str:
    header, body, signature = jws.split(".")
    raw = bytearray(unb64(signature))
    raw[0] ^= 0x80
    return f"{header}.{body}.{b64(bytes(raw))}"


async def test_the_cli_verifies_our_cards_and_names_why_others_fail(
    client: httpx.AsyncClient, owner_of, settings: Settings, tmp_path: Path
) -> None:
    headers = await owner_of(LEONOR, few_immunizations(1))
    file = await client.get(f"{CARDS}/immunizations/card.smart-health-card", headers=headers)
    assert file.status_code == 200
    path = tmp_path / "card.smart-health-card"
    path.write_bytes(file.content)
    card = (await client.post(CARDS, json={}, headers=headers)).json()

    done = await run_cli_async(settings, "shc", "verify", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "valid"
    assert f"issuer: {settings.issuer}" in done.stdout
    assert "resources: 2 (Immunization, Patient)" in done.stdout

    numeric = await run_cli_async(settings, "shc", "verify", card["qr"], "--json")
    assert numeric.returncode == 0, numeric.stderr
    verdict = json.loads(numeric.stdout)
    assert verdict["valid"] is True
    assert verdict["fhirBundle"]["entry"][0]["fullUrl"] == "resource:0"

    tampered = await run_cli_async(settings, "shc", "verify", _flip(card["jws"]))
    assert tampered.returncode == 1, tampered.stderr
    assert tampered.stdout, tampered.stderr
    assert tampered.stdout.splitlines()[-1].startswith("invalid: bad_signature")

    assert (await client.post(f"{CARDS}/revoke", headers=headers)).status_code == 204
    revoked = await run_cli_async(settings, "shc", "verify", str(path))
    assert revoked.returncode == 1
    assert revoked.stdout.splitlines()[-1].startswith("invalid: revoked")

    other = await run_cli_async(
        settings, "shc", "verify", str(DATA / "example-00-e-file.smart-health-card")
    )
    assert other.returncode == 1
    assert other.stdout.splitlines()[-1].startswith("invalid: untrusted_issuer")
    assert "issuer: https://spec.smarthealth.cards/examples/issuer" in other.stdout

    missing = await run_cli_async(settings, "shc", "verify", str(tmp_path / "nope.txt"))
    assert missing.returncode == 1
    assert "no such file" in missing.stderr


async def test_new_key_prints_a_usable_issuer_key(settings: Settings) -> None:
    done = await run_cli_async(settings, "shc", "new-key")
    assert done.returncode == 0, done.stderr
    keys = HealthCardKeys([done.stdout.strip()])
    assert done.stderr.strip() == f"kid {keys.kids[0]}"
