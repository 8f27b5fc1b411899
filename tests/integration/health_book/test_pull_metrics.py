"""Pulls are counted per facility and outcome: stored, up to date, not found, failed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.core.settings import Settings
from api.health_book.pull import PatientNotFound, PullError
from tests.integration.health_book.test_pull import national_identifier
from tests.support.fhir_samples import IPS, sample_json
from tests.support.fhir_server import FhirServer
from tests.support.hospital import register_facility
from tests.support.promlint import value


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(
        pull_retry_base_seconds=0.01,
        pull_retry_max_seconds=0.05,
        pull_read_timeout_seconds=2.0,
        pull_max_attempts=2,
    )


@pytest.fixture
def fhir_server() -> Iterator[FhirServer]:
    with FhirServer() as server:
        yield server


async def test_pull_outcomes_are_counted_per_facility(
    app, client, admin_token, hospital, fhir_server
) -> None:
    facility = hospital.facility_id
    await register_facility(client, admin_token, facility, fhir_base_url=fhir_server.base_url)
    puller = app.state.runtime.pull
    fhir_server.load(sample_json(IPS))
    system, number = national_identifier(IPS)

    def pulls(outcome: str) -> float | None:
        text = (app.state.runtime.metrics.exposition()[0]).decode()
        return value(text, "healthbook_pulls_total", facility=facility, outcome=outcome)

    assert (await puller.sync_patient_identifier(facility, system, number)).outcome == "created"
    assert (await puller.sync_patient_identifier(facility, system, number)).outcome == "up_to_date"
    with pytest.raises(PatientNotFound):
        await puller.sync_patient_identifier(facility, system, "000000000000")
    fhir_server.fail_times, fhir_server.fail_status = 100, 500
    with pytest.raises(PullError):
        await puller.sync_patient_identifier(facility, system, number)
    assert [pulls(o) for o in ("created", "up_to_date", "not_found", "failed")] == [1, 1, 1, 1]
