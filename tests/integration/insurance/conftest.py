"""Fixtures of the insurance XML tests: facility 79001 with a hospital client and a registered
signing certificate."""

from __future__ import annotations

import pytest

from tests.support.auth import bearer
from tests.support.hospital import Hospital, make_hospital
from tests.support.qd130_envelope import signing_identity

FACILITY = "79001"
XML = {"content-type": "application/xml"}


@pytest.fixture
async def insurer_hospital(app, client, admin_token) -> Hospital:
    """Facility 79001, its hospital client, and the test certificate registered for it."""
    hospital = await make_hospital(app, client, admin_token, facility_id=FACILITY)
    response = await client.post(
        f"/admin/facilities/{FACILITY}/insurance-certificates/",
        json={"pem": signing_identity().cert_pem},
        headers=bearer(admin_token),
    )
    assert response.status_code == 201, response.text
    return hospital


def xml_headers(hospital: Hospital) -> dict[str, str]:
    return {**bearer(hospital.token), **XML}
