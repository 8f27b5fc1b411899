"""Intake questionnaires: a facility publishes (validated, versioned, retired), the appointment
lists its forms, the citizen answers (validated against the questionnaire, nothing stored when
refused), the hospital reads the answers (day list, FHIR, access log) and the kiosk reminds the
patient of a missing required form."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from litestar import Litestar

from tests.integration.checkin.conftest import Booked, Clinic, Kiosk, Person
from tests.integration.questionnaires.conftest import FHIR, answer, answers, intake, publish
from tests.support.auth import bearer
from tests.support.hospital import make_hospital

BookSoon = Callable[..., Awaitable[list[Booked]]]


def _issues(response: httpx.Response) -> list[dict[str, object]]:
    assert response.headers["content-type"].startswith("application/fhir+json"), response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"]


def _forms(appointment: dict[str, object]) -> dict[str, dict[str, object]]:
    return {form["questionnaire_id"]: form for form in appointment["forms"]}  # type: ignore[index,union-attr]


async def test_publish_validates_versions_and_retires(clinic: Clinic) -> None:
    created = await publish(clinic, intake())
    assert created.status_code == 201, created.text
    resource = created.json()
    assert resource["resourceType"] == "Questionnaire"
    assert resource["id"] == "intake"
    assert resource["meta"]["versionId"] == "1"
    assert resource["status"] == "active"

    again = await publish(clinic, intake())
    assert again.status_code == 200
    assert again.json()["meta"]["versionId"] == "1"

    changed = await publish(clinic, intake(title="Phiếu mới"))
    assert changed.status_code == 201
    assert changed.json()["meta"]["versionId"] == "2"
    old = await clinic.http.get(
        "/hospital/fhir/Questionnaire/intake/_history/1", headers=clinic.headers
    )
    assert old.status_code == 200
    assert old.json()["title"] == "Phiếu khai thông tin trước khám"

    listed = await clinic.http.get(
        "/hospital/fhir/Questionnaire", params={"department": "NOI"}, headers=clinic.headers
    )
    assert listed.status_code == 200
    assert [e["resource"]["meta"]["versionId"] for e in listed.json()["entry"]] == ["2"]

    retired = await clinic.http.delete(
        "/hospital/fhir/Questionnaire/intake", headers=clinic.headers
    )
    assert retired.status_code == 200
    assert retired.json()["status"] == "retired"


async def test_an_invalid_questionnaire_is_422_with_every_issue_and_nothing_stored(
    clinic: Clinic,
) -> None:
    bad = intake()
    bad["item"] = [
        {"linkId": "a", "type": "string"},
        {"linkId": "a", "type": "boolean"},
        {
            "linkId": "b",
            "type": "string",
            "enableWhen": [{"question": "later", "operator": "=", "answerString": "x"}],
        },
        {"linkId": "later", "type": "string"},
        {"linkId": "c", "type": "attachment"},
        {"linkId": "d", "type": "choice"},
        {
            "linkId": "e",
            "type": "integer",
            "enableWhen": [{"question": "a", "operator": "~", "answerString": "x"}],
        },
        {"linkId": "f", "type": "boolean", "required": "yes"},
    ]
    response = await publish(clinic, bad)
    assert response.status_code == 422, response.text
    where = [issue["expression"][0] for issue in _issues(response)]  # type: ignore[index]
    assert "Questionnaire.item[1].linkId" in where  # duplicate
    assert "Questionnaire.item[2].enableWhen[0].question" in where  # not an earlier question
    assert "Questionnaire.item[4].type" in where  # unsupported type
    assert "Questionnaire.item[5].answerOption" in where  # choice without options
    assert "Questionnaire.item[6].enableWhen[0].operator" in where
    assert "Questionnaire.item[7].required" in where
    for body, status in (
        (b"{not json", 400),
        (b"[]", 400),
        (httpx.Request("PUT", "/", json={"resourceType": "Patient"}).content, 400),
        (httpx.Request("PUT", "/", json=intake(status="draft")).content, 422),
        (httpx.Request("PUT", "/", json=intake(item="nope")).content, 422),
    ):
        refused = await publish(clinic, body)
        assert refused.status_code == status, refused.text
        _issues(refused)
    no_department = await publish(clinic, intake(), department=None)
    assert no_department.status_code == 422
    unknown_department = await publish(clinic, intake(), department="XYZ")
    assert unknown_department.status_code == 404
    missing = await clinic.http.get("/hospital/fhir/Questionnaire/intake", headers=clinic.headers)
    assert missing.status_code == 404
    _issues(missing)


async def test_operators_publish_for_a_facility(clinic: Clinic, admin_token: str) -> None:
    response = await clinic.http.put(
        "/admin/facilities/01001/questionnaires/consent",
        params={"department": "NHI", "required": "false"},
        content=httpx.Request("PUT", "/", json=intake(title="Đồng ý")).content,
        headers={**bearer(admin_token), **FHIR},
    )
    assert response.status_code == 201, response.text
    read = await clinic.http.get("/hospital/fhir/Questionnaire/consent", headers=clinic.headers)
    assert read.json()["title"] == "Đồng ý"
    as_hospital = await clinic.http.put(
        "/admin/facilities/01001/questionnaires/consent",
        params={"department": "NHI"},
        content=b"{}",
        headers={**clinic.headers, **FHIR},
    )
    assert as_hospital.status_code == 403


async def test_booking_lists_the_forms_and_the_citizen_answers(
    clinic: Clinic, book_soon: BookSoon
) -> None:
    assert (await publish(clinic, intake())).status_code == 201
    assert (
        await publish(clinic, intake(title="Khoa Nhi"), qid="kids", department="NHI")
    ).status_code == 201
    [booked] = await book_soon(1)
    who, appointment_id = booked.person, booked.appointment_id
    view = (await who.get(appointment_id)).json()
    forms = _forms(view)
    assert set(forms) == {"intake"}  # only the appointment's department
    assert forms["intake"]["status"] == "not_answered"
    assert forms["intake"]["required"] is True
    assert forms["intake"]["title"] == "Phiếu khai thông tin trước khám"

    questionnaire = await who.http.get(
        f"/citizens/me/appointments/{appointment_id}/questionnaires/intake", headers=who.headers
    )
    assert questionnaire.status_code == 200
    assert questionnaire.json()["item"][0]["linkId"] == "reason"

    draft = {
        "resourceType": "QuestionnaireResponse",
        "status": "in-progress",
        "item": [{"linkId": "reason", "answer": [{"valueString": "Ho"}]}],
    }
    saved = await answer(who, appointment_id, draft)
    assert saved.status_code == 201, saved.text
    assert _forms((await who.get(appointment_id)).json())["intake"]["status"] == "in_progress"

    done = await answer(who, appointment_id, answers())
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["resourceType"] == "QuestionnaireResponse"
    assert body["status"] == "completed"
    assert body["questionnaire"].endswith("|1")
    assert body["meta"]["versionId"] == "2"
    forms = _forms((await who.get(appointment_id)).json())
    assert forms["intake"]["status"] == "answered"
    assert forms["intake"]["response_id"] == body["id"]

    read = await who.http.get(
        f"/citizens/me/appointments/{appointment_id}/questionnaires/intake/response",
        headers=who.headers,
    )
    assert read.status_code == 200
    assert read.json()["item"] == answers()["item"]


async def test_bad_answers_are_422_with_every_issue_and_nothing_stored(
    clinic: Clinic, book_soon: BookSoon
) -> None:
    assert (await publish(clinic, intake())).status_code == 201
    [booked] = await book_soon(1)
    who, appointment_id = booked.person, booked.appointment_id
    bad = answers()
    bad["item"] = [
        {"linkId": "reason", "answer": [{"valueInteger": 3}]},  # wrong type
        {"linkId": "smoker", "answer": [{"valueBoolean": False}]},
        {"linkId": "packs", "answer": [{"valueInteger": 4}]},  # disabled (smoker = false)
        {"linkId": "pain", "answer": [{"valueCoding": {"system": "urn:pain", "code": "severe"}}]},
        {
            "linkId": "history",
            "item": [
                {"linkId": "weight", "answer": [{"valueDecimal": 120}]},  # enables heavy
                {"linkId": "surgery", "answer": [{"valueDate": "2019-13-01"}]},
                {"linkId": "nope", "answer": [{"valueString": "x"}]},
            ],
        },
    ]
    response = await answer(who, appointment_id, bad)
    assert response.status_code == 422, response.text
    issues = _issues(response)
    by_path = {str(i["diagnostics"]).split(":")[0]: i for i in issues}
    assert "reason" in by_path  # valueInteger for a text item
    assert "packs" in by_path  # answered although disabled
    assert by_path["packs"]["code"] == "business-rule"
    assert "pain" in by_path  # not an answerOption
    assert "history/surgery" in by_path  # not a calendar date
    assert "history/nope" in by_path  # unknown linkId
    assert "history/heavy" in by_path  # enabled and required, missing
    assert by_path["history/heavy"]["code"] == "required"
    assert by_path["pain"]["expression"] == ["QuestionnaireResponse.item[3].answer[0]"]

    missing_required = answers()
    missing_required["item"] = missing_required["item"][1:]  # no reason
    refused = await answer(who, appointment_id, missing_required)
    assert refused.status_code == 422
    assert any(str(i["diagnostics"]).startswith("reason:") for i in _issues(refused))

    two_answers = answers()
    two_answers["item"][0]["answer"].append({"valueString": "again"})
    assert (await answer(who, appointment_id, two_answers)).status_code == 422
    string_choice = answers()
    string_choice["item"][3]["answer"] = [{"valueString": "Khác"}]
    for body, status in (
        (b"{oops", 400),
        (httpx.Request("PUT", "/", json={"resourceType": "Observation"}).content, 400),
        (httpx.Request("PUT", "/", json=answers(status="stopped")).content, 422),
        (httpx.Request("PUT", "/", json=answers(item={"linkId": "x"})).content, 422),
        (httpx.Request("PUT", "/", json=answers(questionnaire="http://other/Q|1")).content, 422),
    ):
        refused = await answer(who, appointment_id, body)
        assert refused.status_code == status, refused.text
    nothing = await who.http.get(
        f"/citizens/me/appointments/{appointment_id}/questionnaires/intake/response",
        headers=who.headers,
    )
    assert nothing.status_code == 404
    assert _forms((await who.get(appointment_id)).json())["intake"]["status"] == "not_answered"
    # a choice offered as a string is accepted
    assert (await answer(who, appointment_id, string_choice)).status_code == 201


async def test_the_hospital_reads_the_answers_and_each_read_is_logged(
    app: Litestar, clinic: Clinic, book_soon: BookSoon, admin_token: str
) -> None:
    assert (await publish(clinic, intake())).status_code == 201
    [booked] = await book_soon(1)
    who, appointment_id = booked.person, booked.appointment_id
    done = await answer(who, appointment_id, answers())
    assert done.status_code == 201
    response_id = done.json()["id"]
    # a new version: the answer given keeps pointing at version 1
    assert (await publish(clinic, intake(title="v2"))).status_code == 201

    day = await clinic.http.get("/hospital/appointments", headers=clinic.headers)
    assert day.status_code == 200
    [item] = [i for i in day.json()["items"] if i["id"] == appointment_id]
    [form] = item["forms"]
    assert form["status"] == "answered"
    assert form["version"] == 1
    lines = {line["link_id"]: line["answers"] for line in form["answers"]}
    assert lines["pain"] == ["Nhẹ"]
    assert lines["history/weight"] == ["62.5"]
    assert lines["smoker"] == ["true"]

    read = await clinic.http.get(
        f"/hospital/fhir/QuestionnaireResponse/{response_id}", headers=clinic.headers
    )
    assert read.status_code == 200
    assert read.headers["content-type"].startswith("application/fhir+json")
    assert read.json()["questionnaire"].endswith("|1")
    assert read.json()["subject"]["reference"] == f"Patient/{who.id}"
    search = await clinic.http.get(
        "/hospital/fhir/QuestionnaireResponse",
        params={"appointment": appointment_id},
        headers=clinic.headers,
    )
    assert search.status_code == 200
    assert [e["resource"]["id"] for e in search.json()["entry"]] == [response_id]
    by_patient = await clinic.http.get(
        "/hospital/fhir/QuestionnaireResponse",
        params={"patient": f"Patient/{who.id}"},
        headers=clinic.headers,
    )
    assert by_patient.json()["total"] == 1
    unknown = await clinic.http.get(
        "/hospital/fhir/QuestionnaireResponse/00000000-0000-0000-0000-000000000000",
        headers=clinic.headers,
    )
    assert unknown.status_code == 404

    log = await who.http.get("/citizens/me/access-log", headers=who.headers)
    assert log.status_code == 200, log.text
    reads = [
        e
        for e in log.json()["items"]
        if e.get("resource") == f"QuestionnaireResponse/{response_id}"
    ]
    # the day list, the read and the two searches, each by the hospital's client
    assert len(reads) == 4
    assert {e["actor_kind"] for e in reads} == {"facility"}

    # another facility's client sees none of it
    other = await make_hospital(app, clinic.http, admin_token, facility_id="79002")
    foreign = await clinic.http.get(
        f"/hospital/fhir/QuestionnaireResponse/{response_id}", headers=bearer(other.token)
    )
    assert foreign.status_code == 404
    foreign_search = await clinic.http.get(
        "/hospital/fhir/QuestionnaireResponse",
        params={"patient": who.id},
        headers=bearer(other.token),
    )
    assert foreign_search.json()["total"] == 0


async def test_the_kiosk_tells_of_a_missing_required_form_without_blocking(
    clinic: Clinic, book_soon: BookSoon, kiosk: Kiosk
) -> None:
    assert (await publish(clinic, intake())).status_code == 201
    assert (
        await publish(clinic, intake(title="Tuỳ chọn"), qid="optional", required=False)
    ).status_code == 201
    first, second = await book_soon(2)
    missing = await kiosk.check_in(await first.token())
    assert missing.status_code == 201, missing.text
    ticket = missing.json()
    assert [f["questionnaire_id"] for f in ticket["missing_forms"]] == ["intake"]
    assert "Phiếu khai thông tin trước khám" in ticket["message"]
    # checked in: the answers can no longer change
    late = await answer(first.person, first.appointment_id, answers())
    assert late.status_code == 409

    assert (await answer(second.person, second.appointment_id, answers())).status_code == 201
    complete = await kiosk.check_in(await second.token())
    assert complete.status_code == 201, complete.text
    assert complete.json()["missing_forms"] == []
    assert complete.json()["message"] is None


async def test_a_retired_form_is_no_longer_asked(clinic: Clinic, book_soon: BookSoon) -> None:
    assert (await publish(clinic, intake())).status_code == 201
    [booked] = await book_soon(1)
    assert _forms((await booked.person.get(booked.appointment_id)).json())
    retired = await clinic.http.delete(
        "/hospital/fhir/Questionnaire/intake", headers=clinic.headers
    )
    assert retired.status_code == 200
    assert _forms((await booked.person.get(booked.appointment_id)).json()) == {}
    refused = await answer(booked.person, booked.appointment_id, answers())
    assert refused.status_code == 404


async def test_a_guardian_answers_for_a_child(
    clinic: Clinic,
    person: Callable[..., Awaitable[Person]],
    admin_token: str,
) -> None:
    recorded = await clinic.http.post(
        "/admin/guardianships",
        json={
            "guardian_national_id": "001085000021",
            "dependent_national_id": "001218000022",
            "kind": "parent",
            "dependent_birth_date": "2020-01-01",
        },
        headers=bearer(admin_token),
    )
    assert recorded.status_code == 201, recorded.text
    child_id = recorded.json()["dependent_id"]
    parent = await person("001085000021")
    assert (await publish(clinic, intake(), department="NHI")).status_code == 201
    slot_id = await clinic.open("kid-1", department="NHI")
    booked = await parent.book(slot_id, on_behalf_of=child_id)
    assert booked.status_code == 201, booked.text
    appointment_id = booked.json()["id"]
    assert _forms(booked.json())["intake"]["status"] == "not_answered"

    stranger = await person()
    refused = await answer(stranger, appointment_id, answers(), citizen=child_id)
    assert refused.status_code == 404
    not_theirs = await answer(stranger, appointment_id, answers())
    assert not_theirs.status_code == 404

    done = await answer(parent, appointment_id, answers(), citizen=child_id)
    assert done.status_code == 201, done.text
    assert done.json()["subject"]["reference"] == f"Patient/{child_id}"
    assert done.json()["author"]["reference"] == f"Patient/{parent.id}"
    log = await parent.http.get(f"/citizens/{child_id}/access-log", headers=parent.headers)
    assert log.status_code == 200, log.text
    writes = [
        e
        for e in log.json()["items"]
        if e.get("resource") == f"QuestionnaireResponse/{done.json()['id']}"
    ]
    assert [e["action"] for e in writes] == ["write"]
