"""episode_to_bundle: each kind of episode as the R4 document the book's publish pipeline takes."""

from __future__ import annotations

import base64
from typing import Any

import msgspec
import pytest

from api.health_book.fhir import FhirError, extract, parse_bundle
from api.insurance import vocabulary as v
from api.insurance.mapping import episode_is_restricted, episode_to_bundle
from api.insurance.tables import Episode, TableFiles, read_episode
from tests.support.fhir_export import assert_valid_fhir
from tests.support.qd130 import KINDS, build_episode_files

FACILITY = "79001"


def _episode(kind: str, **overrides: Any) -> Episode:
    episode, problems = read_episode(build_episode_files(kind, **overrides), max_file_bytes=10**7)
    assert problems == []
    assert episode is not None
    return episode


def _bundle(kind: str, **overrides: Any) -> dict[str, Any]:
    return episode_to_bundle(_episode(kind, **overrides), facility_code=FACILITY)


def _resources(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    ]


def _by_url(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["fullUrl"]: e["resource"] for e in bundle["entry"]}


def _section(bundle: dict[str, Any], title: str) -> dict[str, Any]:
    (composition,) = _resources(bundle, "Composition")
    found = [s for s in composition["section"] if s["title"] == title]
    assert len(found) == 1, [s["title"] for s in composition["section"]]
    return found[0]


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_a_valid_r4_document_the_book_accepts(kind: str) -> None:
    bundle = _bundle(kind)
    body = msgspec.json.encode(bundle)
    assert_valid_fhir(body)  # fhir.resources, every entry with its own model
    extraction = extract(parse_bundle(body), national_id_systems=[v.NATIONAL_ID])
    assert bundle["type"] == "document"
    assert bundle["entry"][0]["resource"]["resourceType"] == "Composition"
    assert extraction.document.identity_source == "bundle"
    assert extraction.document.identifier_value == bundle["identifier"]["value"]
    assert extraction.patient.national_id.value == "079090001234"
    assert len(extraction.visits) == 1
    assert extraction.conditions


def test_the_same_episode_gives_the_same_bundle() -> None:
    first, second = _bundle("inpatient"), _bundle("inpatient")
    assert msgspec.json.encode(first) == msgspec.json.encode(second)
    other = episode_to_bundle(_episode("inpatient"), facility_code="01001")
    assert {e["fullUrl"] for e in other["entry"]}.isdisjoint({e["fullUrl"] for e in first["entry"]})


def test_outpatient_encounter_patient_and_diagnoses() -> None:
    bundle = _bundle("outpatient")
    (encounter,) = _resources(bundle, "Encounter")
    assert encounter["class"]["code"] == "AMB"
    assert encounter["type"][0]["coding"][0] == {
        "system": v.CARE_TYPE,
        "code": "01",
        "display": "Khám bệnh",
    }
    assert encounter["period"] == {
        "start": "2026-03-05T08:00:00+07:00",
        "end": "2026-03-05T10:30:00+07:00",
    }
    assert encounter["identifier"][0] == {
        "system": v.episode_system(FACILITY),
        "value": "LK-OUTPATIENT-0001",
    }
    assert encounter["hospitalization"]["dischargeDisposition"]["text"] == "Ra viện"
    assert encounter["extension"][0]["valueCodeableConcept"]["text"] == "Đỡ"
    (patient,) = _resources(bundle, "Patient")
    assert patient["identifier"][0] == {
        "use": "official",
        "system": v.NATIONAL_ID,
        "value": "079090001234",
    }
    assert patient["gender"] == "male"
    assert patient["birthDate"] == "1990-05-15"
    assert patient["name"][0]["family"] == "Nguyễn"
    main, extra = _resources(bundle, "Condition")
    # the hospital's text first, the WHO title as the coding's display
    assert main["code"]["text"] == "Tăng huyết áp vô căn"
    assert main["code"]["coding"][0] == {
        "system": v.ICD10,
        "code": "I10",
        "display": "Essential (primary) hypertension",
    }
    assert main["code"]["coding"][1] == {"system": v.ICD10_VN, "code": "I10"}
    assert extra["code"]["text"] == "Đái tháo đường típ 2"
    assert extra["code"]["coding"][0]["display"] == "Type 2 diabetes mellitus"
    by_url = _by_url(bundle)
    ranks = {
        by_url[d["condition"]["reference"]]["code"]["coding"][0]["code"]: d["rank"]
        for d in encounter["diagnosis"]
    }
    assert ranks == {"I10": 1, "E11": 2}
    assert "meta" not in bundle
    assert all("meta" not in e["resource"] for e in bundle["entry"])


def test_outpatient_prescription_is_one_group() -> None:
    bundle = _bundle("outpatient")
    requests = _resources(bundle, "MedicationRequest")
    assert len(requests) == 5
    assert len({r["groupIdentifier"]["value"] for r in requests}) == 1
    metformin = requests[0]
    assert metformin["medicationCodeableConcept"]["coding"][0]["code"] == "40.677"
    assert metformin["medicationCodeableConcept"]["text"] == "Metformin 500mg (Viên nén)"
    assert metformin["dispenseRequest"]["quantity"] == {"value": 60, "unit": "Viên"}
    assert metformin["dosageInstruction"][0]["text"].startswith("1 viên/lần * 2 lần/ngày")
    assert metformin["dosageInstruction"][0]["patientInstruction"] == "Uống sau ăn"
    assert metformin["authoredOn"] == "2026-03-05T09:30:00+07:00"
    assert metformin["category"][0]["coding"][0]["code"] == "outpatient"
    assert metformin["requester"]["identifier"]["system"] == v.PRACTITIONER_LICENCE


def test_results_are_quantities_with_units_where_they_map() -> None:
    bundle = _bundle("outpatient")
    observations = {o["code"].get("text"): o for o in _resources(bundle, "Observation")}
    assert observations["Huyết sắc tố"]["valueQuantity"] == {
        "value": 145,
        "unit": "g/L",
        "system": v.UCUM,
        "code": "g/L",
    }
    assert observations["Số lượng bạch cầu"]["valueQuantity"]["code"] == "10*9/L"
    assert observations["Số lượng hồng cầu"]["valueQuantity"]["code"] == "10*12/L"
    assert observations["Creatinin"]["valueQuantity"]["code"] == "umol/L"
    assert observations["Protein niệu"]["valueString"] == "Âm tính"
    assert observations["Cân nặng"]["valueQuantity"] == {
        "value": 68.5,
        "unit": "kg",
        "system": v.UCUM,
        "code": "kg",
    }
    assert observations["Nhóm máu ABO"]["valueCodeableConcept"]["coding"][0]["code"] == "58460004"
    assert observations["Nhóm máu Rh"]["valueCodeableConcept"]["text"] == "Rh+"
    reports = _resources(bundle, "DiagnosticReport")
    assert len(reports) == 12
    by_name = {r["code"]["text"]: r for r in reports}
    blood_count = by_name["Tổng phân tích tế bào máu ngoại vi"]
    assert blood_count["status"] == "final"
    assert blood_count["category"][0]["coding"][0]["code"] == "LAB"
    assert len(blood_count["result"]) == 6
    ultrasound = by_name["Siêu âm ổ bụng"]
    assert ultrasound["category"][0]["coding"][0]["code"] == "RAD"
    assert ultrasound["conclusion"] == "Chưa phát hiện bất thường trên siêu âm"
    url = ultrasound["result"][0]["reference"]
    assert _by_url(bundle)[url]["valueString"].startswith("Gan không to")
    assert _resources(bundle, "Procedure") == []  # the exam fee and supplies are not clinical


def test_inpatient_class_course_procedure_and_discharge() -> None:
    bundle = _bundle("inpatient")
    (encounter,) = _resources(bundle, "Encounter")
    assert encounter["class"]["code"] == "IMP"
    assert [h["class"]["code"] for h in encounter["classHistory"]] == ["AMB", "IMP"]
    assert encounter["classHistory"][1]["period"]["start"] == "2026-03-04T17:30:00+07:00"
    assert encounter["length"]["value"] == 4
    (procedure,) = _resources(bundle, "Procedure")  # the surgery; the bed days are not clinical
    assert procedure["code"]["text"] == "Phẫu thuật nội soi cắt ruột thừa"
    assert {"system": v.ICD9CM, "code": "47.01"} in procedure["code"]["coding"]
    assert procedure["performedPeriod"]["end"] == "2026-03-04T20:10:00+07:00"
    assert procedure["note"][0]["text"] == "Phương pháp vô cảm: Gây mê"
    course = _section(bundle, "Diễn biến và điều trị")["text"]["div"]
    assert "Hội chẩn ngoại khoa" in course  # XML5
    assert "Đau bụng hố chậu phải 1 ngày" in course  # XML8 QT_BENHLY
    results = _section(bundle, "Kết quả cận lâm sàng")["text"]["div"]
    assert "Bạch cầu 15.2 G/L" in results  # XML8 TOMTAT_KQ
    discharge = _section(bundle, "Kết quả điều trị, ra viện")
    assert [s["title"] for s in discharge["section"]] == ["Giấy ra viện"]
    assert "Kiêng vận động mạnh" in discharge["section"][0]["text"]["div"]
    medication = _resources(bundle, "MedicationRequest")[0]
    assert medication["category"][0]["coding"][0]["code"] == "inpatient"
    assert "groupIdentifier" not in medication


def test_day_case_and_chronic_classes() -> None:
    (day_case,) = _resources(_bundle("day_case"), "Encounter")
    assert day_case["class"]["code"] == "SS"
    assert day_case["type"][0]["coding"][0]["code"] == "04"
    chronic = _bundle("chronic")
    (encounter,) = _resources(chronic, "Encounter")
    assert (encounter["class"]["code"], encounter["type"][0]["coding"][0]["code"]) == ("AMB", "05")
    (appointment,) = _resources(chronic, "Appointment")
    assert appointment["requestedPeriod"] == [{"start": "2026-04-05", "end": "2026-04-05"}]


def test_a_card_change_gives_a_coverage_per_card() -> None:
    bundle = _bundle("card_change")
    coverages = _resources(bundle, "Coverage")
    assert [(c["subscriberId"], c["period"], c["class"][0]["value"]) for c in coverages] == [
        ("GD4797920123456", {"start": "2025-01-01", "end": "2026-03-05"}, "79001"),
        ("HT3797920123456", {"start": "2026-03-06", "end": "2026-12-31"}, "79024"),
    ]
    (patient,) = _resources(bundle, "Patient")
    cards = [i["value"] for i in patient["identifier"] if i["system"] == v.INSURANCE_NUMBER]
    assert cards == ["GD4797920123456", "HT3797920123456"]


def test_twins_have_two_discharge_papers_and_a_partial_birth_date() -> None:
    bundle = _bundle("twins")
    discharge = _section(bundle, "Kết quả điều trị, ra viện")
    assert [s["title"] for s in discharge["section"]] == ["Giấy ra viện", "Giấy ra viện (2)"]
    (patient,) = _resources(bundle, "Patient")
    assert patient["birthDate"] == "1994-08"  # 00 day: a partial date, never the first
    assert patient["gender"] == "female"


def test_re_exam_slip_and_dates_become_proposed_appointments() -> None:
    bundle = _bundle("reexam")
    appointments = _resources(bundle, "Appointment")
    assert [a["requestedPeriod"][0]["start"] for a in appointments] == ["2026-03-19", "2026-04-05"]
    slip, other = appointments
    assert slip["status"] == other["status"] == "proposed"
    assert slip["identifier"][0]["value"] == "GH-2026-000321"
    assert "identifier" not in other
    (patient,) = _resources(bundle, "Patient")
    assert slip["participant"][0]["actor"]["reference"] == f"urn:uuid:{patient['id']}"
    plan = _section(bundle, "Lời dặn, hẹn khám lại, chuyển tuyến")
    assert len(plan["entry"]) == 2


def test_a_timed_re_exam_keeps_its_time() -> None:
    files = build_episode_files("reexam")
    data = files["XML14"].replace(b"<NGAY_HEN_KL>20260319<", b"<NGAY_HEN_KL>202603190730<")
    pairs = tuple((n, data if n == "XML14" else d) for n, d in files.pairs)
    timed, problems = read_episode(TableFiles(pairs), max_file_bytes=10**7)
    assert problems == []
    assert timed is not None
    appointments = _resources(episode_to_bundle(timed, facility_code=FACILITY), "Appointment")
    assert appointments[0]["requestedPeriod"] == [{"start": "2026-03-19T07:30:00+07:00"}]
    assert len(appointments) == 2


def test_sick_leave_certificate_is_a_document_to_show() -> None:
    bundle = _bundle("sick_leave")
    (document,) = _resources(bundle, "DocumentReference")
    assert document["context"]["period"] == {"start": "2026-03-05", "end": "2026-03-07"}
    assert document["description"] == "Nghỉ 3 ngày (2026-03-05 – 2026-03-07)"
    assert document["type"]["coding"][0]["code"] == "CT07"
    text = base64.b64decode(document["content"][0]["attachment"]["data"]).decode()
    assert "Số ngày nghỉ: 3" in text
    assert "Công ty TNHH Phần mềm Sài Gòn" in text
    assert {"system": v.paper_system(FACILITY, "SO_SERI"), "value": "AA/26-0001234"} in document[
        "identifier"
    ]


def test_referral_is_a_service_request_to_the_destination() -> None:
    bundle = _bundle("referral")
    (request,) = _resources(bundle, "ServiceRequest")
    assert request["intent"] == "order"
    assert request["performer"] == [{"identifier": {"system": v.FACILITY_CODE, "value": "79024"}}]
    assert request["reasonCode"][0]["text"] == "Tăng huyết áp vô căn"
    assert any("Đánh giá tổn thương" in note["text"] for note in request["note"])
    (encounter,) = _resources(bundle, "Encounter")
    assert encounter["hospitalization"]["destination"]["identifier"]["value"] == "79024"


@pytest.mark.parametrize("kind", ["hiv", "tb"])
def test_hiv_and_tb_episodes_are_restricted(kind: str) -> None:
    bundle = _bundle(kind)
    assert episode_is_restricted(_episode(kind))
    assert not episode_is_restricted(_episode("outpatient"))
    assert bundle["meta"]["security"] == [v.RESTRICTED]
    labelled = {
        e["resource"]["resourceType"]
        for e in bundle["entry"]
        if e["resource"].get("meta", {}).get("security") == [v.RESTRICTED]
    }
    unlabelled = {e["resource"]["resourceType"] for e in bundle["entry"]} - labelled
    assert unlabelled == {"Patient", "Organization", "Coverage"}
    assert {"Composition", "Encounter", "Condition", "CarePlan", "MedicationRequest"} <= labelled
    (plan,) = _resources(bundle, "CarePlan")
    assert plan["title"] in ("Chăm sóc và điều trị HIV/AIDS", "Điều trị bệnh lao")


def test_an_hiv_diagnosis_without_xml6_is_restricted_too() -> None:
    bundle = _bundle("outpatient", MA_BENH_CHINH="B20.0", MA_BENH_KT=None)
    assert bundle["meta"]["security"] == [v.RESTRICTED]


def test_a_late_result_keeps_the_identity_of_what_it_completes() -> None:
    first, resend = _bundle("late_result"), _bundle("late_result_resend")
    assert first["identifier"] == resend["identifier"]
    first_reports = {r["code"]["text"]: r for r in _resources(first, "DiagnosticReport")}
    resend_reports = {r["code"]["text"]: r for r in _resources(resend, "DiagnosticReport")}
    glucose_first = first_reports["Định lượng Glucose"]
    glucose_resend = resend_reports["Định lượng Glucose"]
    assert glucose_first["id"] == glucose_resend["id"]
    assert (glucose_first["status"], glucose_resend["status"]) == ("partial", "final")
    pending = _by_url(first)[glucose_first["result"][0]["reference"]]
    done = _by_url(resend)[glucose_resend["result"][0]["reference"]]
    assert pending["id"] == done["id"]
    assert pending["status"] == "registered"
    assert "valueQuantity" not in pending
    assert done["valueQuantity"]["value"] == 7.4


def test_a_passport_is_kept_but_never_matches() -> None:
    bundle = _bundle("outpatient", cccd="C1234567")
    (patient,) = _resources(bundle, "Patient")
    assert patient["identifier"][0] == {
        "use": "official",
        "system": v.PASSPORT_NUMBER,
        "value": "C1234567",
    }
    body = msgspec.json.encode(bundle)
    assert_valid_fhir(body)
    with pytest.raises(FhirError, match="national-ID system"):
        extract(parse_bundle(body), national_id_systems=[v.NATIONAL_ID])


def test_the_national_id_system_can_be_the_books_configured_one() -> None:
    system = "https://fhir.moh.gov.vn/sid/cccd"
    bundle = episode_to_bundle(
        _episode("outpatient"),
        facility_code=FACILITY,
        national_id_system=system,
        facility_name="Bệnh viện Quận 1",
    )
    body = msgspec.json.encode(bundle)
    extraction = extract(parse_bundle(body), national_id_systems=[system])
    assert extraction.patient.national_id.value == "079090001234"
    (organization,) = _resources(bundle, "Organization")
    assert organization["name"] == "Bệnh viện Quận 1"
