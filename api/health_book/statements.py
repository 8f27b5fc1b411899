"""Statements that are not entries: "no known allergies", a refuted diagnosis, a withdrawn record.

A hospital says "the patient has no known allergies" with an AllergyIntolerance (or Condition,
MedicationStatement, ...) coded from the IPS absent/unknown code system
(http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips) or with a SNOMED CT "no known ..."
situation. A resource whose ``verificationStatus`` is ``refuted`` says the allergy or problem was
ruled out; ``entered-in-error`` (or a ``status`` of ``entered-in-error``) says it was recorded by
mistake. None of these is an allergy, a problem or a medication: they are stored under a category
of their own (:data:`STATEMENTS`, or :data:`WITHDRAWN` for entered-in-error), so lists and counts
never show them. The overview shows the absent/unknown statements, one per topic from the most
recent document that says so, and the refuted ones, in English and Vietnamese; the FHIR export
carries them as received; entered-in-error ones are shown nowhere.
"""

from __future__ import annotations

from typing import Any

import msgspec

STATEMENTS = "statements"
WITHDRAWN = "withdrawn"
IPS_ABSENT = "http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips"
SNOMED = "http://snomed.info/sct"

_TOPIC_OF_CATEGORY = {
    "allergies": "allergies",
    "conditions": "problems",
    "medications": "medications",
    "immunizations": "immunizations",
    "procedures": "procedures",
    "observations": "results",
    "diagnostic_reports": "results",
    "visits": "visits",
}

# code -> (topic, kind, English, Vietnamese); kind "none-known" or "no-information"
ABSENT_CODES: dict[tuple[str, str], tuple[str, str, str, str]] = {
    (IPS_ABSENT, "no-allergy-info"): (
        "allergies", "no-information", "No information about allergies",
        "Không có thông tin về dị ứng"),
    (IPS_ABSENT, "no-known-allergies"): (
        "allergies", "none-known", "No known allergies", "Không có dị ứng đã biết"),
    (IPS_ABSENT, "no-known-medication-allergies"): (
        "allergies", "none-known", "No known medication allergies",
        "Không có dị ứng thuốc đã biết"),
    (IPS_ABSENT, "no-known-environmental-allergies"): (
        "allergies", "none-known", "No known environmental allergies",
        "Không có dị ứng môi trường đã biết"),
    (IPS_ABSENT, "no-known-food-allergies"): (
        "allergies", "none-known", "No known food allergies",
        "Không có dị ứng thức ăn đã biết"),
    (IPS_ABSENT, "no-problem-info"): (
        "problems", "no-information", "No information about problems",
        "Không có thông tin về bệnh lý"),
    (IPS_ABSENT, "no-known-problems"): (
        "problems", "none-known", "No known problems", "Không có bệnh lý đã biết"),
    (IPS_ABSENT, "no-medication-info"): (
        "medications", "no-information", "No information about medications",
        "Không có thông tin về thuốc đang dùng"),
    (IPS_ABSENT, "no-known-medications"): (
        "medications", "none-known", "No known medications", "Không dùng thuốc nào đã biết"),
    (IPS_ABSENT, "no-immunization-info"): (
        "immunizations", "no-information", "No information about immunizations",
        "Không có thông tin về tiêm chủng"),
    (IPS_ABSENT, "no-known-immunizations"): (
        "immunizations", "none-known", "No known immunizations",
        "Không có mũi tiêm chủng nào đã biết"),
    (IPS_ABSENT, "no-procedure-info"): (
        "procedures", "no-information", "No information about procedures",
        "Không có thông tin về thủ thuật, phẫu thuật"),
    (IPS_ABSENT, "no-known-procedures"): (
        "procedures", "none-known", "No known procedures",
        "Không có thủ thuật, phẫu thuật nào đã biết"),
    (IPS_ABSENT, "no-device-info"): (
        "devices", "no-information", "No information about medical devices",
        "Không có thông tin về thiết bị y tế"),
    (IPS_ABSENT, "no-known-devices"): (
        "devices", "none-known", "No known medical devices in use",
        "Không dùng thiết bị y tế nào đã biết"),
    (IPS_ABSENT, "no-result-info"): (
        "results", "no-information", "No information about results",
        "Không có thông tin về kết quả xét nghiệm"),
    (IPS_ABSENT, "no-known-results"): (
        "results", "none-known", "No known results", "Không có kết quả xét nghiệm nào đã biết"),
    (SNOMED, "716186003"): (
        "allergies", "none-known", "No known allergies", "Không có dị ứng đã biết"),
    (SNOMED, "409137002"): (
        "allergies", "none-known", "No known drug allergies", "Không có dị ứng thuốc đã biết"),
    (SNOMED, "428607008"): (
        "allergies", "none-known", "No known environmental allergies",
        "Không có dị ứng môi trường đã biết"),
    (SNOMED, "429625007"): (
        "allergies", "none-known", "No known food allergies", "Không có dị ứng thức ăn đã biết"),
    (SNOMED, "428197003"): (
        "allergies", "none-known", "No known insect allergies",
        "Không có dị ứng côn trùng đã biết"),
    (SNOMED, "1003774007"): (
        "allergies", "none-known", "No known latex allergy",
        "Không có dị ứng nhựa mủ cao su đã biết"),
    (SNOMED, "160245001"): (
        "problems", "none-known", "No current problems or disability",
        "Hiện không có bệnh lý hay khuyết tật"),
    (SNOMED, "787482006"): (
        "medications", "none-known", "No known medications", "Không dùng thuốc nào đã biết"),
}  # fmt: skip


class Classified(msgspec.Struct, frozen=True, kw_only=True):
    """What a statement is: stored under ``category`` with ``details`` in the entry's summary."""

    category: str
    details: dict[str, Any]


def classify(entry: Any, category: str) -> Classified | None:
    """``None`` for an ordinary entry; else where it is stored and what it says."""
    verification = getattr(entry, "verification_status", None)
    if verification == "entered-in-error" or entry.status == "entered-in-error":
        return Classified(category=WITHDRAWN, details={"kind": "entered-in-error", "of": category})
    for coding in entry.codes:
        found = ABSENT_CODES.get((coding.system or "", coding.code or ""))
        if found is not None:
            topic, kind, english, vietnamese = found
            return Classified(
                category=STATEMENTS,
                details={
                    "kind": kind,
                    "topic": topic,
                    "of": category,
                    "code": {"system": coding.system, "code": coding.code},
                    "text": {"en": english, "vi": vietnamese},
                },
            )
    if verification == "refuted":
        about = entry.text or next((c.display for c in entry.codes if c.display), None) or "?"
        return Classified(
            category=STATEMENTS,
            details={
                "kind": "refuted",
                "topic": _TOPIC_OF_CATEGORY.get(category, category),
                "of": category,
                "code": (
                    {"system": entry.codes[0].system, "code": entry.codes[0].code}
                    if entry.codes
                    else None
                ),
                "text": {"en": f"Ruled out: {about}", "vi": f"Đã loại trừ: {about}"},
            },
        )
    return None
