"""Every ``201 Created`` carries ``Location``: the URL of what was created (for a PUT, the
request's own URI; for a queue ticket, which has no URL of its own, the queue it joined).

The first test lists the operations the OpenAPI document says can answer 201; each of them has a
test here that makes it answer 201 and follows the ``Location``."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Awaitable, Callable

import httpx
from litestar import Litestar

from api.health_book.docs import VISIT_SUMMARY_EXAMPLE
from tests.integration.appointments.conftest import Clinic, Person
from tests.integration.checkin.conftest import FACILITY, Booked, Kiosk, decode_svg
from tests.support.auth import bearer
from tests.support.idp import SigningKey, TestIdentityProvider
from tests.support.qd130_envelope import signing_identity

MakePerson = Callable[..., Awaitable[Person]]

CREATED_OPERATIONS = {
    "CreateClient",
    "CreateGuardianship",
    "PutIdentityProvider",
    "PutFacility",
    "PutDepartment",
    "PublishSummary",
    "PutDevice",
    "BookAppointment",
    "KioskCheckIn",
    "WalkIn",
    "AddInsuranceCertificate",
    "CreateShare",
    "RecordMeasurement",
    "PublishQuestionnaire",
}


def _created(response: httpx.Response, expected: str) -> str:
    assert response.status_code == 201, response.text
    assert response.headers["location"] == expected, response.headers
    return expected


def test_every_201_of_the_openapi_document_is_tested_here(app: Litestar) -> None:
    document = app.openapi_schema.to_schema()
    created = {
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "201" in operation.get("responses", {})
    }
    assert created == CREATED_OPERATIONS


async def test_admin_creations(
    client: httpx.AsyncClient, admin_token: str, idp: TestIdentityProvider
) -> None:
    headers = bearer(admin_token)
    body = {"name": "BV Hai", "province": "Hà Nội"}
    facility = await client.put("/admin/facilities/02002", json=body, headers=headers)
    location = _created(facility, "/admin/facilities/02002")
    assert (await client.get(location, headers=headers)).json()["id"] == "02002"
    again = await client.put(location, json=body, headers=headers)
    assert again.status_code == 200  # updated, not created: no Location
    assert "location" not in again.headers

    department = await client.put(
        "/admin/facilities/02002/departments/NOI", json={"name": "Khoa Nội"}, headers=headers
    )
    location = _created(department, "/admin/facilities/02002/departments/NOI")
    read = await client.get(location, headers=headers)
    assert read.status_code == 200, read.text
    assert read.json() == department.json()

    identity = signing_identity()
    certificate = await client.post(
        "/admin/facilities/02002/insurance-certificates/",
        json={"pem": identity.cert_pem},
        headers=headers,
    )
    location = _created(
        certificate, f"/admin/facilities/02002/insurance-certificates/{identity.sha256}"
    )
    read = await client.get(location, headers=headers)
    assert read.status_code == 200, read.text
    assert read.json() == certificate.json()
    again = await client.post(
        "/admin/facilities/02002/insurance-certificates/",
        json={"pem": identity.cert_pem},
        headers=headers,
    )
    assert again.status_code == 200  # already registered: nothing created, no Location
    assert "location" not in again.headers

    body = idp.provider_body()
    provider = await client.put(
        f"/admin/identity-providers/{body['id']}", json=body, headers=headers
    )
    location = _created(provider, f"/admin/identity-providers/{body['id']}")
    assert (await client.get(location, headers=headers)).json()["id"] == body["id"]

    made = await client.post(
        "/admin/clients",
        json={"kind": "admin", "name": "Ops", "jwks": {"keys": [SigningKey("EdDSA").jwk]}},
        headers=headers,
    )
    location = _created(made, f"/admin/clients/{made.json()['id']}")
    assert (await client.get(location, headers=headers)).json()["id"] == made.json()["id"]

    guardianship = await client.post(
        "/admin/guardianships",
        json={
            "guardian_national_id": "001090000001",
            "dependent_national_id": "001218000003",
            "kind": "parent",
            "dependent_birth_date": "2018-06-01",
        },
        headers=headers,
    )
    location = _created(guardianship, f"/admin/guardianships/{guardianship.json()['id']}")
    read = await client.get(location, headers=headers)
    assert read.status_code == 200, read.text
    assert read.json() == guardianship.json()


async def test_published_summary(clinic: Clinic) -> None:
    bundle = copy.deepcopy(VISIT_SUMMARY_EXAMPLE)
    response = await clinic.http.post(
        "/hospital/summaries", json=bundle, headers=clinic.hospital.headers
    )
    location = _created(response, f"/hospital/summaries/{response.json()['document_id']}")
    read = await clinic.http.get(location, headers=clinic.hospital.headers)
    assert read.status_code == 200, read.text
    assert read.json()["document_id"] == response.json()["document_id"]
    assert read.json()["versions"][0]["version_id"] == response.json()["version_id"]
    withdrawn = await clinic.http.post(
        f"{location}/entered-in-error", headers=clinic.hospital.headers
    )
    assert withdrawn.status_code == 200, withdrawn.text


async def test_device_booking_and_tickets(
    clinic: Clinic,
    person: MakePerson,
    kiosk: Kiosk,
    book_soon: Callable[..., Awaitable[list[Booked]]],
) -> None:
    someone = await person()
    device = await someone.http.put(
        "/citizens/me/devices/phone-0001",
        json={"token": "fcm-token-" + "x" * 40, "platform": "android"},
        headers=someone.headers,
    )
    _created(device, "/citizens/me/devices/phone-0001")

    slot_id = await clinic.open("L1")
    booking = await someone.book(slot_id)
    location = _created(booking, f"/citizens/me/appointments/{booking.json()['id']}")
    read = await someone.http.get(location, headers=someone.headers)
    assert read.json()["id"] == booking.json()["id"]

    [booked] = await book_soon(1)
    ticket = await kiosk.check_in(await booked.token())
    queue = f"/facilities/{FACILITY}/queues/NOI"
    _created(ticket, queue)
    assert (await clinic.http.get(queue)).status_code == 200

    svg = await clinic.http.get(f"/facilities/{FACILITY}/departments/NHI/qr.svg")
    walk_in = await someone.http.post(
        "/citizens/me/walk-ins", json={"code": decode_svg(svg.content)}, headers=someone.headers
    )
    _created(walk_in, f"/facilities/{FACILITY}/queues/NHI")

    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
    share = await someone.http.post(
        "/citizens/me/shares", json={"expires_at": expires}, headers=someone.headers
    )
    location = _created(share, f"/citizens/me/shares/{share.json()['id']}")
    read = await someone.http.get(location, headers=someone.headers)
    assert read.status_code == 200, read.text
    assert read.json()["id"] == share.json()["id"]
    assert "key" not in read.json()
    assert "shlink" not in read.json()


async def test_recorded_measurement_and_published_questionnaire(
    app: Litestar, clinic: Clinic, person: MakePerson
) -> None:
    someone = await person()
    at = app.state.clock.now() - dt.timedelta(minutes=5)
    recorded = await someone.http.post(
        "/citizens/me/measurements",
        json={"kind": "heart_rate", "value": 72, "unit": "/min", "effective_at": at.isoformat()},
        headers={**someone.headers, "Idempotency-Key": "created-location-1"},
    )
    location = _created(recorded, f"/citizens/me/measurements/{recorded.json()['id']}")
    read = await someone.http.get(location, headers=someone.headers)
    assert read.status_code == 200, read.text
    assert read.json()["id"] == recorded.json()["id"]

    questionnaire = {
        "resourceType": "Questionnaire",
        "status": "active",
        "title": "Phiếu khai trước khám",
        "item": [{"linkId": "reason", "type": "text", "text": "Lý do khám", "required": True}],
    }
    published = await clinic.http.put(
        "/hospital/fhir/Questionnaire/intake-location",
        params={"department": "NOI", "required": "true"},
        json=questionnaire,
        headers={**clinic.hospital.headers, "content-type": "application/fhir+json"},
    )
    version = published.json()["meta"]["versionId"]
    location = _created(
        published, f"/hospital/fhir/Questionnaire/intake-location/_history/{version}"
    )
    read = await clinic.http.get(location, headers=clinic.hospital.headers)
    assert read.status_code == 200, read.text
    assert read.json()["title"] == "Phiếu khai trước khám"
