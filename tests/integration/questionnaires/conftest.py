"""Questionnaire tests: the check-in fixtures (frozen clock, facility ``01001`` with departments
``NOI`` and ``NHI``, its hospital client, citizens, a kiosk, appointments in their check-in
window), a questionnaire to publish, and helpers to publish and answer."""

from __future__ import annotations

import copy
from typing import Any

import httpx

from tests.integration.checkin import conftest as checkin_fixtures
from tests.integration.checkin.conftest import Clinic, Person

app = checkin_fixtures.app
client = checkin_fixtures.client
clinic = checkin_fixtures.clinic
person = checkin_fixtures.person
settings = checkin_fixtures.settings
make_kiosk = checkin_fixtures.make_kiosk
kiosk = checkin_fixtures.kiosk
book_soon = checkin_fixtures.book_soon

FHIR = {"content-type": "application/fhir+json"}

INTAKE: dict[str, Any] = {
    "resourceType": "Questionnaire",
    "status": "active",
    "title": "Phiếu khai thông tin trước khám",
    "item": [
        {"linkId": "reason", "type": "text", "text": "Lý do khám", "required": True},
        {"linkId": "smoker", "type": "boolean", "text": "Hút thuốc?", "required": True},
        {
            "linkId": "packs",
            "type": "integer",
            "text": "Số bao mỗi ngày",
            "required": True,
            "enableWhen": [{"question": "smoker", "operator": "=", "answerBoolean": True}],
        },
        {
            "linkId": "pain",
            "type": "choice",
            "text": "Mức độ đau",
            "answerOption": [
                {"valueCoding": {"system": "urn:pain", "code": "none", "display": "Không"}},
                {"valueCoding": {"system": "urn:pain", "code": "mild", "display": "Nhẹ"}},
                {"valueString": "Khác"},
            ],
        },
        {
            "linkId": "history",
            "type": "group",
            "text": "Tiền sử",
            "item": [
                {"linkId": "weight", "type": "decimal", "text": "Cân nặng (kg)"},
                {"linkId": "surgery", "type": "date", "text": "Lần mổ gần nhất"},
                {
                    "linkId": "heavy",
                    "type": "string",
                    "text": "Ghi chú cân nặng",
                    "required": True,
                    "enableWhen": [
                        {"question": "weight", "operator": ">=", "answerDecimal": 100},
                        {"question": "packs", "operator": ">", "answerInteger": 2},
                    ],
                    "enableBehavior": "any",
                },
            ],
        },
    ],
}

GOOD_ANSWERS: dict[str, Any] = {
    "resourceType": "QuestionnaireResponse",
    "status": "completed",
    "item": [
        {"linkId": "reason", "answer": [{"valueString": "Đau đầu kéo dài"}]},
        {"linkId": "smoker", "answer": [{"valueBoolean": True}]},
        {"linkId": "packs", "answer": [{"valueInteger": 1}]},
        {"linkId": "pain", "answer": [{"valueCoding": {"system": "urn:pain", "code": "mild"}}]},
        {
            "linkId": "history",
            "item": [
                {"linkId": "weight", "answer": [{"valueDecimal": 62.5}]},
                {"linkId": "surgery", "answer": [{"valueDate": "2019-04"}]},
            ],
        },
    ],
}


def intake(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(INTAKE)
    body.update(changes)
    return body


def answers(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(GOOD_ANSWERS)
    body.update(changes)
    return body


async def publish(
    clinic: Clinic,
    body: dict[str, Any] | bytes,
    *,
    qid: str = "intake",
    department: str | None = "NOI",
    required: bool = True,
) -> httpx.Response:
    params: dict[str, str] = {"required": "true" if required else "false"}
    if department is not None:
        params["department"] = department
    content = body if isinstance(body, bytes) else httpx.Request("PUT", "/", json=body).content
    return await clinic.http.put(
        f"/hospital/fhir/Questionnaire/{qid}",
        params=params,
        content=content,
        headers={**clinic.headers, **FHIR},
    )


async def answer(
    who: Person,
    appointment_id: str,
    body: dict[str, Any] | bytes,
    *,
    qid: str = "intake",
    citizen: str = "me",
) -> httpx.Response:
    content = body if isinstance(body, bytes) else httpx.Request("PUT", "/", json=body).content
    return await who.http.put(
        f"/citizens/{citizen}/appointments/{appointment_id}/questionnaires/{qid}/response",
        content=content,
        headers={**who.headers, **FHIR},
    )
