"""Our client assertions to a facility's token endpoint (SMART Backend Services): ES384 by
default, RS384 or EdDSA where the facility asks for it, each verified by a token endpoint that
accepts that algorithm only, against the keys our own JWKS endpoint publishes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from api.health_book.pull import AuthFailed
from tests.support.auth import bearer
from tests.support.fhir_samples import IPS, NATIONAL_ID_SYSTEMS, sample_json
from tests.support.fhir_server import FhirServer


@pytest.fixture
def fhir_server() -> Iterator[FhirServer]:
    with FhirServer() as server:
        yield server


def published_jwks(client: Any) -> Any:
    """Our JWKS as ``GET /.well-known/jwks.json`` answers it, fetched from the token endpoint's
    thread through the test's event loop (free while the pull awaits the token answer)."""
    loop = asyncio.get_running_loop()

    def fetch() -> dict[str, Any]:
        answer = asyncio.run_coroutine_threadsafe(
            client.get("/.well-known/jwks.json"), loop
        ).result(timeout=30)
        assert answer.status_code == 200
        return answer.json()

    return fetch


def identifier() -> tuple[str, str]:
    patient = next(
        e["resource"]
        for e in sample_json(IPS)["entry"]
        if e["resource"]["resourceType"] == "Patient"
    )
    return next(
        (i["system"], i["value"])
        for i in patient["identifier"]
        if i["system"] in NATIONAL_ID_SYSTEMS
    )


async def configure(
    client: Any, admin_token: str, hospital: Any, server: FhirServer, **extra: Any
) -> dict[str, Any]:
    response = await client.put(
        f"/admin/facilities/{hospital.facility_id}",
        json={
            "name": "Bệnh viện có FHIR",
            "province": "Hà Nội",
            "fhir_base_url": server.base_url,
            "fhir_token_url": server.token_url,
            "fhir_client_id": "healthbook",
            **extra,
        },
        headers=bearer(admin_token),
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    ("configured", "accepted"),
    [(None, "ES384"), ("ES384", "ES384"), ("RS384", "RS384"), ("EdDSA", "EdDSA")],
)
async def test_the_assertion_is_signed_as_the_facility_asks(
    app, client, admin_token, hospital, fhir_server, configured: str | None, accepted: str
) -> None:
    fhir_server.require_smart("healthbook", published_jwks(client), algorithms=(accepted,))
    extra = {} if configured is None else {"fhir_assertion_alg": configured}
    view = await configure(client, admin_token, hospital, fhir_server, **extra)
    assert view["fhir_assertion_alg"] == accepted
    fhir_server.load(sample_json(IPS))
    puller = app.state.runtime.new_pull_service()
    result = await puller.sync_patient_identifier(hospital.facility_id, *identifier())
    assert result.outcome == "created"
    assert len(fhir_server.assertions) == 1
    header = jwt.get_unverified_header(fhir_server.token_requests[0]["client_assertion"])
    assert header["alg"] == accepted
    published = (await client.get("/.well-known/jwks.json")).json()["keys"]
    assert {key["alg"] for key in published} >= {"EdDSA", "ES384", accepted}
    assert all("d" not in key and "p" not in key for key in published)  # public halves only


@pytest.mark.parametrize(("configured", "accepted"), [("RS384", "ES384"), ("ES384", "RS384")])
async def test_a_server_that_accepts_another_algorithm_refuses(
    app, client, admin_token, hospital, fhir_server, configured: str, accepted: str
) -> None:
    fhir_server.require_smart("healthbook", published_jwks(client), algorithms=(accepted,))
    await configure(client, admin_token, hospital, fhir_server, fhir_assertion_alg=configured)
    fhir_server.load(sample_json(IPS))
    puller = app.state.runtime.new_pull_service()
    with pytest.raises(AuthFailed, match=f"accepts only {accepted}"):
        await puller.sync_patient_identifier(hospital.facility_id, *identifier())


async def test_an_unknown_algorithm_is_refused_at_registration(
    client, admin_token, hospital, fhir_server
) -> None:
    response = await client.put(
        f"/admin/facilities/{hospital.facility_id}",
        json={
            "name": "BV",
            "province": "Hà Nội",
            "fhir_base_url": fhir_server.base_url,
            "fhir_assertion_alg": "HS256",
        },
        headers=bearer(admin_token),
    )
    assert response.status_code in (400, 422)
