"""Fixtures of the health book tests: a citizen whose book holds a published sample."""

from __future__ import annotations

import pytest

from tests.support.auth import bearer, login, register_provider
from tests.support.fhir_samples import NATIONAL_ID_SYSTEMS, sample_bytes, sample_json

ANY_ID = r"^[A-Za-z0-9\-]{1,64}$"


def patient_number(name: str) -> str:
    """The sample patient's identifier in one of the national-ID systems the tests configure."""
    document = sample_json(name)
    patient = next(
        e["resource"] for e in document["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    return next(i["value"] for i in patient["identifier"] if i.get("system") in NATIONAL_ID_SYSTEMS)


@pytest.fixture
async def owner_of(client, hospital, admin_token, idp):
    """Publish a sample and log in as the person it is about: ``headers = await owner_of(name)``."""
    await register_provider(client, admin_token, idp, national_id_pattern=ANY_ID)

    async def _owner(name: str, body: bytes | None = None) -> dict[str, str]:
        response = await client.post(
            "/hospital/summaries", content=body or sample_bytes(name), headers=hospital.headers
        )
        assert response.status_code in (200, 201), response.text
        tokens = await login(client, idp, patient_number(name))
        return bearer(tokens["access_token"])

    return _owner
