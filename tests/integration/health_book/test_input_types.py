"""Regressions found by the schemathesis run: FHIR endpoints answer every refusal as an
OperationOutcome, and book filters take RFC 3339 instants only."""

from __future__ import annotations

import json

import pytest

from api.health_book.docs import VISIT_SUMMARY_EXAMPLE
from tests.support.fhir_samples import IPS
from tests.support.problems import problem_uri


async def test_a_malformed_document_id_is_an_operation_outcome(client, hospital) -> None:
    response = await client.post(
        "/hospital/summaries/null,null/entered-in-error", headers=hospital.headers
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.json()["resourceType"] == "OperationOutcome"


async def test_the_documented_example_publishes_and_again_is_unchanged(client, hospital) -> None:
    first = await client.post(
        "/hospital/summaries", json=VISIT_SUMMARY_EXAMPLE, headers=hospital.headers
    )
    assert first.status_code == 201, first.text
    again = await client.post(
        "/hospital/summaries", json=VISIT_SUMMARY_EXAMPLE, headers=hospital.headers
    )
    assert again.status_code == 200, again.text
    assert again.json()["outcome"] == "unchanged"


@pytest.mark.parametrize("value", ["0.5", "1700000000", "2024-01-01T00:00:00"])
async def test_filters_take_instants_with_an_offset_only(client, owner_of, value) -> None:
    headers = await owner_of(IPS)
    response = await client.get(
        "/citizens/me/health-book/conditions", params={"until": value}, headers=headers
    )
    assert response.status_code == 400, response.text
    assert response.json()["type"] == problem_uri("validation-error")
    ok = await client.get(
        "/citizens/me/health-book/conditions",
        params={"until": "2999-01-01T00:00:00Z"},
        headers=headers,
    )
    assert ok.status_code == 200, ok.text


async def test_a_nul_in_a_filter_is_refused_not_a_database_error(client, owner_of) -> None:
    headers = await owner_of(IPS)
    response = await client.get(
        "/citizens/me/health-book/observations/series",
        params={"code": "8480-6\x00"},
        headers=headers,
    )
    assert response.status_code == 400, response.text
    assert response.json()["type"] == problem_uri("validation-error")


async def test_a_nul_in_a_bundle_is_an_operation_outcome(client, hospital) -> None:
    body = json.dumps(VISIT_SUMMARY_EXAMPLE, ensure_ascii=False).replace("Nguyễn", "Nguy\\u0000n")
    response = await client.post(
        "/hospital/summaries", content=body.encode(), headers=hospital.headers
    )
    assert response.status_code == 400, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
