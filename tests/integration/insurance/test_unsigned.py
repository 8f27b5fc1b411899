"""A facility listed in INSURANCE_ACCEPT_UNSIGNED_FACILITIES (test systems only) may send
unsigned envelopes; other facilities still may not."""

from __future__ import annotations

import pytest

from tests.integration.insurance.conftest import FACILITY, xml_headers
from tests.support.hospital import make_hospital
from tests.support.qd130 import build_episode_files
from tests.support.qd130_envelope import build_envelope

PATH = "/hospital/insurance-xml/"


@pytest.fixture
def settings(settings):
    return settings.replace(insurance_accept_unsigned_facilities=[FACILITY])


async def test_unsigned_accepted_only_where_configured(
    client, app, admin_token, insurer_hospital
) -> None:
    files = list(build_episode_files("outpatient").items())
    body = build_envelope(FACILITY, [files], signed=False)
    response = await client.post(PATH, content=body, headers=xml_headers(insurer_hospital))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["signed"] is False
    assert answer["episodes"][0]["outcome"] == "created"

    other = await make_hospital(app, client, admin_token, facility_id="79002")
    files = list(build_episode_files("outpatient", facility="79002").items())
    response = await client.post(
        PATH, content=build_envelope("79002", [files], signed=False), headers=xml_headers(other)
    )
    assert response.status_code == 422
    assert response.json()["type"].endswith("/problems/insurance-signature-invalid")
