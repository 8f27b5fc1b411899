"""A citizen's first login pulls their records from every facility that has a FHIR API."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.auth import bearer, login, register_provider
from tests.support.fhir_samples import (
    CATEGORY_TYPES,
    IPS,
    NATIONAL_ID_SYSTEMS,
    expected_counts,
    sample_json,
)
from tests.support.fhir_server import FhirServer, _wanted_identifiers
from tests.support.hospital import register_facility


def _ips_number() -> str:
    patient = next(
        e["resource"]
        for e in sample_json(IPS)["entry"]
        if e["resource"]["resourceType"] == "Patient"
    )
    return next(i["value"] for i in patient["identifier"] if i["system"] in NATIONAL_ID_SYSTEMS)


async def _settled(app) -> None:
    for _ in range(200):
        if not app.state.background._tasks:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("background pull did not finish")


async def test_first_login_pulls_and_later_logins_do_not(client, app, admin_token, idp) -> None:
    with FhirServer() as server:
        server.load(sample_json(IPS))
        await register_facility(
            client, admin_token, "79001", name="BV có FHIR", fhir_base_url=server.base_url
        )
        await register_provider(client, admin_token, idp, national_id_pattern=r"^\d{9,12}$")
        tokens = await login(client, idp, _ips_number())
        await _settled(app)
        overview = await client.get(
            "/citizens/me/health-book", headers=bearer(tokens["access_token"])
        )
        expected = {c: expected_counts(IPS)[c] for c in CATEGORY_TYPES}
        assert overview.json()["counts"] == expected
        searches = len(server.fhir_requests())
        assert searches >= 1
        await login(client, idp, _ips_number())
        await _settled(app)
        assert len(server.fhir_requests()) == searches  # only the first login pulls


@pytest.mark.parametrize(
    ("given", "held"),
    [("999-37-3544", "999-37-3544"), ("999-37-3544", "999373544"), ("999.37.3544", "999373544")],
)
async def test_the_number_is_searched_as_given_and_normalised(
    client, app, admin_token, idp, given: str, held: str
) -> None:
    """An exact-matching FHIR server finds the patient whether it holds the number as issued
    or normalised; one search asks for both forms."""
    document = sample_json(IPS)
    patient = next(
        e["resource"] for e in document["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    for identifier in patient["identifier"]:
        if identifier["system"] in NATIONAL_ID_SYSTEMS:
            identifier["value"] = held
    with FhirServer() as server:
        server.load(document)
        await register_facility(
            client, admin_token, "79001", name="BV có FHIR", fhir_base_url=server.base_url
        )
        await register_provider(client, admin_token, idp, national_id_pattern=r"^\d{9,12}$")
        tokens = await login(client, idp, given)
        await _settled(app)
        searches = server.fhir_requests("Patient")
        assert len(searches) == 1
        wanted = {value for _, value in _wanted_identifiers(searches[0].query["identifier"])}
        assert wanted == {given, "999373544"}
        overview = await client.get(
            "/citizens/me/health-book", headers=bearer(tokens["access_token"])
        )
        expected = {c: expected_counts(IPS)[c] for c in CATEGORY_TYPES}
        assert overview.json()["counts"] == expected
