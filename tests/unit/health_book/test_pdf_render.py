"""The PDF's content and drawing without a database: results with units and reference ranges,
notes and follow-ups read from a document, the verification hash, long text wrapped."""

from __future__ import annotations

import datetime as dt
import io
import unicodedata
import uuid

import msgspec
from pypdf import PdfReader

from api.health_book.models import HealthEntry
from api.health_book.pdf.content import (
    Episode,
    Patient,
    Sheet,
    content_sha256,
    document_notes,
    item,
    narrative_lines,
)
from api.health_book.pdf.render import render

AT = dt.datetime(2026, 3, 5, 1, 30, tzinfo=dt.UTC)


def _entry(category: str, display: str, summary: dict) -> HealthEntry:
    return HealthEntry(
        id=uuid.uuid4(),
        category=category,
        display=display,
        summary=summary,
        effective_at=AT,
        facility_id="01001",
    )


def _text(body: bytes) -> str:
    pages = PdfReader(io.BytesIO(body)).pages
    return " ".join(unicodedata.normalize("NFC", " ".join(p.extract_text() for p in pages)).split())


def test_a_result_shows_its_value_unit_and_reference_range() -> None:
    glucose = item(
        _entry(
            "observations",
            "Glucose máu lúc đói",
            {
                "codes": [{"system": "http://loinc.org", "code": "1558-6"}],
                "value": {"kind": "quantity", "number": 7.8, "unit": "mmol/L"},
                "reference_ranges": [{"low": 3.9, "high": 6.4, "unit": "mmol/L"}],
                "interpretation": [{"code": "H", "display": "Cao"}],
                "effective": {"text": "2026-03-05T08:30:00+07:00", "precision": "second"},
            },
        )
    )
    assert glucose.value == "7.8 mmol/L"
    assert glucose.reference == "3.9–6.4 mmol/L"
    assert glucose.detail == ["Cao"]
    pressure = item(
        _entry(
            "observations",
            "Huyết áp",
            {
                "components": [
                    {
                        "text": "Tâm thu",
                        "value": {"kind": "quantity", "number": 120.0, "unit": "mm[Hg]"},
                    },
                    {
                        "text": "Tâm trương",
                        "value": {"kind": "quantity", "number": 80.0, "unit": "mm[Hg]"},
                    },
                ],
            },
        )
    )
    assert pressure.value == "Tâm thu 120 mm[Hg]; Tâm trương 80 mm[Hg]"
    drug = item(_entry("medications", "Amoxicilin 500mg", {"dosage": ["Uống 1 viên × 3 lần/ngày"]}))
    assert drug.detail == ["Uống 1 viên × 3 lần/ngày"]
    sheet = Sheet(
        kind="visit",
        patient=Patient(
            full_name="Trần Thị Bích",
            birth_date=dt.date(1985, 7, 9),
            sex="female",
            national_id_masked="•••••••••321",
            insurance_card=None,
        ),
        episodes=[
            Episode(
                id="v1",
                facility_id="01001",
                facility_name="Bệnh viện Bạch Mai",
                start=AT,
                results=[glucose, pressure],
                prescriptions=[drug],
                diagnoses=[item(_entry("conditions", "Viêm phế quản cấp " * 20, {}))],
            )
        ],
    )
    text = _text(render(sheet, document_id="d-1", generated_at=AT).body)
    assert "Glucose máu lúc đói: 7.8 mmol/L (Khoảng tham chiếu: 3.9–6.4 mmol/L)" in text
    assert "Tâm thu 120 mm[Hg]" in text
    assert "Uống 1 viên × 3 lần/ngày" in text
    assert text.count("Viêm phế quản cấp") == 20  # a long diagnosis wrapped, nothing lost
    assert "Tạo lúc 05/03/2026 08:30 (giờ Việt Nam)" in text
    assert "Trang 1/1" in text


def test_notes_and_follow_ups_come_from_the_document() -> None:
    bundle = {
        "resourceType": "Bundle",
        "entry": [
            {
                "resource": {
                    "resourceType": "Composition",
                    "section": [
                        {
                            "title": "Kết quả điều trị, ra viện",
                            "code": {"coding": [{"code": "18842-5"}]},
                            "text": {
                                "div": "<div><p>Kết quả điều trị: Khỏi</p>"
                                "<p>Ra viện &amp; về nhà</p></div>"
                            },
                        },
                        {
                            "title": "Thuốc",
                            "code": {"coding": [{"code": "10160-0"}]},
                            "text": {"div": "<div><p>generated list</p></div>"},
                            "entry": [{"reference": "MedicationRequest/1"}],
                        },
                    ],
                }
            },
            {
                "resource": {
                    "resourceType": "Appointment",
                    "status": "proposed",
                    "description": "Hẹn khám lại tại khoa Nội",
                    "requestedPeriod": [{"start": "2026-04-05"}],
                }
            },
            {
                "resource": {
                    "resourceType": "Appointment",
                    "status": "cancelled",
                    "start": "2026-04-06",
                }
            },
        ],
    }
    notes, follow_ups = document_notes(msgspec.json.encode(bundle))
    assert [(n.title, n.lines) for n in notes] == [
        ("Kết quả điều trị, ra viện", ["Kết quả điều trị: Khỏi", "Ra viện & về nhà"])
    ]
    assert [(f.when, f.text) for f in follow_ups] == [("2026-04-05", "Hẹn khám lại tại khoa Nội")]
    assert narrative_lines("<div>a<br/>b</div>") == ["a", "b"]
    assert document_notes(b"not json") == ([], [])


def test_the_hash_is_of_the_content_not_of_the_moment() -> None:
    patient = Patient(
        full_name="Lê Văn Cường",
        birth_date=None,
        sex=None,
        national_id_masked=None,
        insurance_card=None,
    )
    sheet = Sheet(kind="book", patient=patient)
    first = render(sheet, document_id="a", generated_at=AT)
    later = render(sheet, document_id="b", generated_at=AT + dt.timedelta(days=1))
    assert first.sha256 == later.sha256 == content_sha256(sheet)
    other = Sheet(kind="book", patient=patient, categories=["visits"])
    assert content_sha256(other) != first.sha256
    assert "Không có dữ liệu trong khoảng đã chọn." in _text(first.body)
