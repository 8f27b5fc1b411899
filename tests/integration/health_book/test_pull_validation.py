"""A pull is validated like a push: a record with invalid resources is refused whole, every
issue named, nothing stored."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from api.health_book.models import HealthDocument, HealthEntry
from api.health_book.pull.errors import UnusableContent
from tests.support.fhir_samples import IPS, NATIONAL_ID_SYSTEMS, sample_json
from tests.support.fhir_server import FhirServer
from tests.support.hospital import register_facility


@pytest.fixture
def fhir_server() -> Iterator[FhirServer]:
    with FhirServer() as server:
        yield server


async def test_an_invalid_record_is_not_pulled(
    app, client, admin_token, hospital, fhir_server
) -> None:
    await register_facility(
        client, admin_token, hospital.facility_id, fhir_base_url=fhir_server.base_url
    )
    document = sample_json(IPS)
    patient = next(
        e["resource"] for e in document["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    condition = next(
        e["resource"] for e in document["entry"] if e["resource"]["resourceType"] == "Condition"
    )
    patient_id = fhir_server.load(document)

    def female_in_french(resource: dict[str, Any]) -> None:
        resource["gender"] = "femme"

    def unknown_element(resource: dict[str, Any]) -> None:
        resource["severityLevel"] = "high"

    fhir_server.change(patient_id, f"Patient/{patient['id']}", female_in_french)
    fhir_server.change(patient_id, f"Condition/{condition['id']}", unknown_element)
    identifier = next(i for i in patient["identifier"] if i["system"] in NATIONAL_ID_SYSTEMS)
    puller = app.state.runtime.new_pull_service()
    with pytest.raises(UnusableContent) as refused:
        await puller.sync_patient_identifier(
            hospital.facility_id, identifier["system"], identifier["value"]
        )
    message = str(refused.value.detail or refused.value)
    assert ".resource.gender" in message, message
    assert ".resource.severityLevel" in message, message
    async with app.state.sessionmaker() as session:
        for model in (HealthDocument, HealthEntry):
            assert await session.scalar(select(func.count()).select_from(model)) == 0
