"""Role × endpoint matrix: every route the app serves, and who may call it.

Each later feature adds its routes here; the first test fails until it does.
"""

from __future__ import annotations

import re
import uuid

import pytest
from litestar.routes import HTTPRoute

from tests.support.auth import bearer, client_token, create_client_directly

PUBLIC = "public"
CALLERS = ("anonymous", "citizen", "hospital", "kiosk", "admin")

# (method, path template) -> who may call it: PUBLIC, or a set of caller kinds
MATRIX: dict[tuple[str, str], str | frozenset[str]] = {
    ("GET", "/health/live"): PUBLIC,
    ("GET", "/health/ready"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/problems"): PUBLIC,
    ("GET", "/problems/{slug}"): PUBLIC,
    ("POST", "/auth/token"): PUBLIC,
    ("POST", "/auth/logout"): frozenset({"citizen"}),
    ("GET", "/.well-known/jwks.json"): PUBLIC,
    ("GET", "/.well-known/oauth-authorization-server"): PUBLIC,
    ("GET", "/citizens/{citizen_id}"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/guardianships"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/devices"): frozenset({"citizen"}),
    ("PUT", "/citizens/{citizen_id}/devices/{installation_id}"): frozenset({"citizen"}),
    ("DELETE", "/citizens/{citizen_id}/devices/{installation_id}"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/notifications"): frozenset({"citizen"}),
    ("POST", "/citizens/{citizen_id}/notifications/read-all"): frozenset({"citizen"}),
    ("POST", "/citizens/{citizen_id}/notifications/{notification_id}/read"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/notification-preferences"): frozenset({"citizen"}),
    ("PUT", "/citizens/{citizen_id}/notification-preferences"): frozenset({"citizen"}),
    ("PUT", "/admin/identity-providers/{provider_id}"): frozenset({"admin"}),
    ("GET", "/admin/identity-providers"): frozenset({"admin"}),
    ("GET", "/admin/identity-providers/{provider_id}"): frozenset({"admin"}),
    ("POST", "/admin/clients"): frozenset({"admin"}),
    ("GET", "/admin/clients"): frozenset({"admin"}),
    ("GET", "/admin/clients/{client_id}"): frozenset({"admin"}),
    ("PATCH", "/admin/clients/{client_id}"): frozenset({"admin"}),
    ("POST", "/admin/guardianships"): frozenset({"admin"}),
    ("GET", "/admin/guardianships/{guardianship_id}"): frozenset({"admin"}),
    ("POST", "/admin/guardianships/{guardianship_id}/end"): frozenset({"admin"}),
    ("GET", "/facilities"): PUBLIC,
    ("GET", "/facilities/{facility_id}"): PUBLIC,
    ("GET", "/facilities/{facility_id}/departments"): PUBLIC,
    ("PUT", "/admin/facilities/{facility_id}"): frozenset({"admin"}),
    ("GET", "/admin/facilities/{facility_id}"): frozenset({"admin"}),
    ("PUT", "/admin/facilities/{facility_id}/departments/{code}"): frozenset({"admin"}),
    ("GET", "/admin/facilities/{facility_id}/departments/{code}"): frozenset({"admin"}),
    ("POST", "/hospital/summaries"): frozenset({"hospital"}),
    ("POST", "/hospital/insurance-xml"): frozenset({"hospital"}),
    ("POST", "/admin/facilities/{facility_id}/insurance-certificates"): frozenset({"admin"}),
    ("GET", "/admin/facilities/{facility_id}/insurance-certificates"): frozenset({"admin"}),
    ("DELETE", "/admin/facilities/{facility_id}/insurance-certificates/{sha256}"): frozenset(
        {"admin"}
    ),
    ("GET", "/admin/facilities/{facility_id}/insurance-certificates/{sha256}"): frozenset(
        {"admin"}
    ),
    ("GET", "/citizens/{citizen_id}/health-book/insurance-files"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/health-book/insurance-files/follow-ups"): frozenset(
        {"citizen"}
    ),
    ("GET", "/citizens/{citizen_id}/health-book/insurance-files/{file_id}/provenance"): frozenset(
        {"citizen"}
    ),
    ("GET", "/citizens/{citizen_id}/health-book/insurance-files/{file_id}/file"): frozenset(
        {"citizen"}
    ),
    ("GET", "/citizens/{citizen_id}/health-book/restricted-data"): frozenset({"citizen"}),
    ("PUT", "/citizens/{citizen_id}/health-book/restricted-data"): frozenset({"citizen"}),
    ("GET", "/hospital/summaries/{document_id}"): frozenset({"hospital"}),
    ("GET", "/citizens/{citizen_id}/health-book"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/health-book/{category}"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/health-book/visits"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/health-book/observations"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/health-book/visits/{visit_id}"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/health-book/visits/{visit_id}/visit.pdf"): frozenset(
        {"citizen"}
    ),
    ("GET", "/citizens/{citizen_id}/health-book.pdf"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/access-log"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/health-book/observations/series"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/health-book/observations/series.svg"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/health-book/export"): frozenset({"citizen"}),
    ("POST", "/hospital/summaries/{document_id}/entered-in-error"): frozenset({"hospital"}),
    ("GET", "/facilities/{facility_id}/slots"): PUBLIC,
    ("PUT", "/hospital/slots"): frozenset({"hospital"}),
    ("POST", "/hospital/slots/{slot_ref}/block"): frozenset({"hospital"}),
    ("POST", "/citizens/{citizen_id}/appointments"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/appointments"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/appointments/{appointment_id}"): frozenset({"citizen"}),
    ("POST", "/citizens/{citizen_id}/appointments/{appointment_id}/cancel"): frozenset({"citizen"}),
    ("POST", "/citizens/{citizen_id}/appointments/{appointment_id}/reschedule"): frozenset(
        {"citizen"}
    ),
    ("GET", "/hospital/appointments"): frozenset({"hospital"}),
    ("POST", "/hospital/appointments/{appointment_id}/status"): frozenset({"hospital"}),
    ("GET", "/citizens/{citizen_id}/appointments/{appointment_id}/check-in"): frozenset(
        {"citizen"}
    ),
    ("GET", "/citizens/{citizen_id}/appointments/{appointment_id}/check-in.png"): frozenset(
        {"citizen"}
    ),
    ("GET", "/citizens/{citizen_id}/appointments/{appointment_id}/check-in.svg"): frozenset(
        {"citizen"}
    ),
    ("POST", "/kiosk/check-ins"): frozenset({"kiosk"}),
    ("POST", "/citizens/{citizen_id}/walk-ins"): frozenset({"citizen"}),
    ("GET", "/facilities/{facility_id}/queues/{department}"): PUBLIC,
    ("GET", "/facilities/{facility_id}/departments/{code}/qr.svg"): PUBLIC,
    ("GET", "/hospital/queues/{department}/arrivals"): frozenset({"hospital"}),
    ("POST", "/hospital/queues/{department}/call-next"): frozenset({"hospital"}),
    ("POST", "/hospital/queues/{department}/recall"): frozenset({"hospital"}),
    ("POST", "/hospital/queues/{department}/skip"): frozenset({"hospital"}),
    ("GET", "/kiosk"): PUBLIC,
    ("GET", "/board/{facility_id}/{department}"): PUBLIC,
    ("GET", "/static/checkin/{name}"): PUBLIC,
    # answers 404 here (BV-TEST has no such queue): a live stream would never end in this test
    ("GET", "/facilities/{facility_id}/queues/{department}/events"): PUBLIC,
    ("POST", "/citizens/{citizen_id}/shares"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/shares"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/shares/{share_id}"): frozenset({"citizen"}),
    ("DELETE", "/citizens/{citizen_id}/shares/{share_id}"): frozenset({"citizen"}),
    ("POST", "/citizens/{citizen_id}/measurements"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/measurements"): frozenset({"citizen"}),
    ("POST", "/citizens/{citizen_id}/measurements/batch"): frozenset({"citizen"}),
    ("POST", "/citizens/{citizen_id}/measurements/imports"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/measurements/imports"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/measurements/imports/{import_id}"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/measurements/{measurement_id}"): frozenset({"citizen"}),
    ("PUT", "/citizens/{citizen_id}/measurements/{measurement_id}"): frozenset({"citizen"}),
    ("DELETE", "/citizens/{citizen_id}/measurements/{measurement_id}"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/consents"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/consents/{consent_id}"): frozenset({"citizen"}),
    # a SMART Health Link's recipient has no account: the URL is the secret
    ("POST", "/shl/{manifest_id}"): PUBLIC,
    ("GET", "/shl/{manifest_id}"): PUBLIC,
    ("GET", "/shl/files/{token}"): PUBLIC,
    # the viewer page a link opens, and its scripts
    ("GET", "/viewer"): PUBLIC,
    ("GET", "/static/viewer/{name}"): PUBLIC,
    ("POST", "/citizens/{citizen_id}/health-cards"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/health-cards/immunizations/card.smart-health-card"): frozenset(
        {"citizen"}
    ),
    ("GET", "/citizens/{citizen_id}/health-cards/immunizations/qr.png"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/health-cards/immunizations/qr.svg"): frozenset({"citizen"}),
    (
        "GET",
        "/citizens/{citizen_id}/health-cards/visits/{visit_id}/card.smart-health-card",
    ): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/health-cards/visits/{visit_id}/qr.png"): frozenset({"citizen"}),
    ("GET", "/citizens/{citizen_id}/health-cards/visits/{visit_id}/qr.svg"): frozenset({"citizen"}),
    ("POST", "/citizens/{citizen_id}/health-cards/revoke"): frozenset({"citizen"}),
    ("GET", "/.well-known/crl/{name}"): PUBLIC,
    ("POST", "/health-cards/verify"): PUBLIC,
    ("PUT", "/hospital/fhir/Questionnaire/{questionnaire_id}"): frozenset({"hospital"}),
    ("GET", "/hospital/fhir/Questionnaire"): frozenset({"hospital"}),
    ("GET", "/hospital/fhir/Questionnaire/{questionnaire_id}"): frozenset({"hospital"}),
    ("GET", "/hospital/fhir/Questionnaire/{questionnaire_id}/_history/{version}"): frozenset(
        {"hospital"}
    ),
    ("DELETE", "/hospital/fhir/Questionnaire/{questionnaire_id}"): frozenset({"hospital"}),
    ("GET", "/hospital/fhir/QuestionnaireResponse"): frozenset({"hospital"}),
    ("GET", "/hospital/fhir/QuestionnaireResponse/{response_id}"): frozenset({"hospital"}),
    ("PUT", "/admin/facilities/{facility_id}/questionnaires/{questionnaire_id}"): frozenset(
        {"admin"}
    ),
    ("GET", "/admin/facilities/{facility_id}/questionnaires/{questionnaire_id}"): frozenset(
        {"admin"}
    ),
    ("DELETE", "/admin/facilities/{facility_id}/questionnaires/{questionnaire_id}"): frozenset(
        {"admin"}
    ),
    (
        "GET",
        "/citizens/{citizen_id}/appointments/{appointment_id}/questionnaires/{questionnaire_id}",
    ): frozenset({"citizen"}),
    (
        "PUT",
        "/citizens/{citizen_id}/appointments/{appointment_id}/questionnaires/{questionnaire_id}"
        "/response",
    ): frozenset({"citizen"}),
    (
        "GET",
        "/citizens/{citizen_id}/appointments/{appointment_id}/questionnaires/{questionnaire_id}"
        "/response",
    ): frozenset({"citizen"}),
}

SAMPLE_PARAMS = {
    "citizen_id": "me",
    "installation_id": "no-such-installation",
    "notification_id": str(uuid.uuid4()),
    "provider_id": "no-such-provider",
    "client_id": "no-such-client",
    "guardianship_id": str(uuid.uuid4()),
    "slug": "not-found",
    "facility_id": "BV-TEST",
    "code": "NOI",
    "document_id": str(uuid.uuid4()),
    "file_id": str(uuid.uuid4()),
    "sha256": "0" * 64,
    "category": "conditions",
    "visit_id": str(uuid.uuid4()),
    "slot_ref": "no-such-slot",
    "appointment_id": str(uuid.uuid4()),
    "department": "NOI",
    "name": "kiosk.js",
    "share_id": str(uuid.uuid4()),
    "consent_id": str(uuid.uuid4()),
    "measurement_id": str(uuid.uuid4()),
    "import_id": str(uuid.uuid4()),
    "manifest_id": "no-such-link",
    "token": "no-such-ticket",
    "questionnaire_id": "no-such-form",
    "version": "1",
    "response_id": str(uuid.uuid4()),
}


def served_routes(app) -> set[tuple[str, str]]:
    routes: set[tuple[str, str]] = set()
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith("/schema"):
            continue
        template = re.sub(r"{(\w+):[^}]+}", r"{\1}", route.path)
        for method in route.methods - {"OPTIONS", "HEAD"}:
            routes.add((method, template))
    return routes


def test_matrix_covers_every_served_route(app) -> None:
    served = served_routes(app)
    assert served - MATRIX.keys() == set(), "routes missing from the role matrix"
    assert MATRIX.keys() - served == set(), "the matrix lists routes the app does not serve"


@pytest.fixture
async def tokens(client, app, citizen) -> dict[str, str | None]:
    hospital = await create_client_directly(app, "hospital", facility_id="BV-TEST")
    kiosk = await create_client_directly(app, "kiosk", facility_id="BV-TEST")
    admin = await create_client_directly(app, "admin")
    return {
        "anonymous": None,
        "citizen": (await citizen("001090000099"))["access_token"],
        "hospital": await client_token(client, hospital),
        "kiosk": await client_token(client, kiosk),
        "admin": await client_token(client, admin),
    }


async def test_each_caller_kind_reaches_only_its_routes(client, tokens) -> None:
    for (method, template), allowed in sorted(MATRIX.items()):
        path = template.format(**SAMPLE_PARAMS)
        for caller in CALLERS:
            token = tokens[caller]
            headers = bearer(token) if token else {}
            response = await client.request(method, path, headers=headers)
            where = f"{caller} {method} {path}: {response.status_code} {response.text[:200]}"
            if allowed == PUBLIC or caller in allowed:
                assert response.status_code not in (401, 403), where
            elif caller == "anonymous":
                assert response.status_code == 401, where
                assert response.headers["www-authenticate"].startswith("Bearer"), where
            else:
                assert response.status_code in (403, 404), where
            assert response.status_code < 500, where
