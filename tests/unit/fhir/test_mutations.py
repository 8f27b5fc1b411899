"""Samples broken one way at a time: each is refused whole with the right OperationOutcome."""

from __future__ import annotations

import json
from typing import Any

import pytest

from api.health_book.fhir import Extraction, FhirError, extract, parse_bundle
from tests.support.fhir_samples import (
    IPS,
    LEONOR,
    NATIONAL_ID_SYSTEMS,
    dump,
    entry_index,
    sample_bytes,
    sample_json,
)


def ingest(body: bytes, **options: Any) -> Extraction:
    return extract(parse_bundle(body, **options), national_id_systems=NATIONAL_ID_SYSTEMS)


def refused(body: bytes, code: str, expression: str | None, status: int, **options: Any) -> str:
    """Assert the body is refused with one issue of ``code`` at ``expression``; its diagnostics."""
    with pytest.raises(FhirError) as caught:
        ingest(body, **options)
    error = caught.value
    outcome = error.operation_outcome()
    assert outcome["resourceType"] == "OperationOutcome"
    [issue] = outcome["issue"]
    assert issue["severity"] == "error"
    assert issue["code"] == code, issue
    assert issue.get("expression") == ([expression] if expression else None), issue
    assert issue["diagnostics"]
    assert error.status == status
    return issue["diagnostics"]


@pytest.fixture
def leonor() -> dict[str, Any]:
    return sample_json(LEONOR)


@pytest.fixture
def ips() -> dict[str, Any]:
    return sample_json(IPS)


def test_broken_encounter_reference(leonor: dict[str, Any]) -> None:
    i = entry_index(leonor, "Observation", 3)
    leonor["entry"][i]["resource"]["encounter"]["reference"] = "urn:uuid:0000-missing"
    refused(dump(leonor), "not-found", f"Bundle.entry[{i}].resource.encounter", 422)


def test_broken_relative_reference(leonor: dict[str, Any]) -> None:
    i = entry_index(leonor, "Condition")
    leonor["entry"][i]["resource"]["subject"]["reference"] = "Patient/nobody"
    refused(dump(leonor), "not-found", f"Bundle.entry[{i}].resource.subject", 422)


def test_broken_report_result(leonor: dict[str, Any]) -> None:
    i = entry_index(leonor, "DiagnosticReport", 2)
    leonor["entry"][i]["resource"]["result"][1]["reference"] = "Observation/gone"
    refused(dump(leonor), "not-found", f"Bundle.entry[{i}].resource.result[1]", 422)


def test_broken_section_entry(ips: dict[str, Any]) -> None:
    ips["entry"][0]["resource"]["section"][2]["entry"][0]["reference"] = "urn:uuid:nothing"
    expression = "Bundle.entry[0].resource.section[2].entry[0]"
    refused(dump(ips), "not-found", expression, 422)


def test_broken_medication_reference(ips: dict[str, Any]) -> None:
    i = entry_index(ips, "MedicationStatement")
    ips["entry"][i]["resource"]["medicationReference"]["reference"] = "Medication/absent"
    refused(dump(ips), "not-found", f"Bundle.entry[{i}].resource.medicationReference", 422)


def test_reference_to_the_wrong_type(leonor: dict[str, Any]) -> None:
    i = entry_index(leonor, "Observation")
    leonor["entry"][i]["resource"]["encounter"] = leonor["entry"][i]["resource"]["subject"]
    refused(dump(leonor), "value", f"Bundle.entry[{i}].resource.encounter", 422)


def test_external_and_conditional_references_are_kept(leonor: dict[str, Any]) -> None:
    visit = leonor["entry"][entry_index(leonor, "Encounter")]["resource"]
    visit["serviceProvider"] = {"reference": "Organization?identifier=https://npi|123"}
    observation = leonor["entry"][entry_index(leonor, "Observation")]["resource"]
    observation["encounter"] = {"reference": "https://other.example/fhir/Encounter/9"}
    extraction = ingest(dump(leonor))
    assert extraction.visits[0].facility_key == "Organization?identifier=https://npi|123"
    assert extraction.observations[0].encounter_key == "https://other.example/fhir/Encounter/9"


def test_quantity_value_of_the_wrong_type(leonor: dict[str, Any]) -> None:
    i = entry_index(leonor, "Observation")
    leonor["entry"][i]["resource"]["valueQuantity"]["value"] = "abc"
    refused(dump(leonor), "value", f"Bundle.entry[{i}].resource.valueQuantity.value", 422)


def test_component_value_of_the_wrong_type(leonor: dict[str, Any]) -> None:
    i = next(
        index for index, entry in enumerate(leonor["entry"]) if "component" in entry["resource"]
    )
    leonor["entry"][i]["resource"]["component"][1]["valueQuantity"] = {"value": [120]}
    expression = f"Bundle.entry[{i}].resource.component[1].valueQuantity.value"
    refused(dump(leonor), "value", expression, 422)


def test_two_values_at_once(leonor: dict[str, Any]) -> None:
    i = entry_index(leonor, "Observation")
    leonor["entry"][i]["resource"]["valueString"] = "tall"
    refused(dump(leonor), "value", f"Bundle.entry[{i}].resource.value[x]", 422)


def test_missing_required_element(leonor: dict[str, Any]) -> None:
    i = entry_index(leonor, "Observation", 7)
    del leonor["entry"][i]["resource"]["status"]
    refused(dump(leonor), "required", f"Bundle.entry[{i}].resource.status", 422)


def test_malformed_date(leonor: dict[str, Any]) -> None:
    i = entry_index(leonor, "Observation", 2)
    leonor["entry"][i]["resource"]["effectiveDateTime"] = "13/02/2012"
    diagnostics = refused(
        dump(leonor), "value", f"Bundle.entry[{i}].resource.effectiveDateTime", 422
    )
    assert "dateTime" in diagnostics


def test_date_that_is_not_in_the_calendar(leonor: dict[str, Any]) -> None:
    i = entry_index(leonor, "Encounter", 1)
    leonor["entry"][i]["resource"]["period"]["end"] = "2013-02-30T07:51:34+00:00"
    refused(dump(leonor), "value", f"Bundle.entry[{i}].resource.period.end", 422)


def test_malformed_birth_date(ips: dict[str, Any]) -> None:
    ips["entry"][1]["resource"]["birthDate"] = "1972-05-01T10:00:00Z"
    refused(dump(ips), "value", "Bundle.entry[1].resource.birthDate", 422)


def test_no_patient_identifier(leonor: dict[str, Any]) -> None:
    del leonor["entry"][0]["resource"]["identifier"]
    diagnostics = refused(dump(leonor), "required", "Bundle.entry[0].resource.identifier", 422)
    assert "missing patient identifier" in diagnostics


def test_no_identifier_of_a_national_id_system(ips: dict[str, Any]) -> None:
    ips["entry"][1]["resource"]["identifier"][0]["system"] = "urn:oid:1.2.3"
    refused(dump(ips), "required", "Bundle.entry[1].resource.identifier", 422)


def test_no_patient(ips: dict[str, Any]) -> None:
    del ips["entry"][1]
    refused(dump(ips), "required", "Bundle.entry", 422)


def test_resource_about_another_patient(ips: dict[str, Any]) -> None:
    other = json.loads(json.dumps(ips["entry"][1]))
    other["fullUrl"] = "urn:uuid:11111111-2222-3333-4444-555555555555"
    other["resource"]["id"] = "11111111-2222-3333-4444-555555555555"
    ips["entry"].append(other)
    i = entry_index(ips, "Condition")
    ips["entry"][i]["resource"]["subject"]["reference"] = other["fullUrl"]
    refused(dump(ips), "business-rule", f"Bundle.entry[{i}].resource.subject", 422)


def test_two_patients_and_no_composition(leonor: dict[str, Any]) -> None:
    other = json.loads(json.dumps(leonor["entry"][0]))
    other["fullUrl"] = "urn:uuid:11111111-2222-3333-4444-555555555555"
    other["resource"]["id"] = "11111111-2222-3333-4444-555555555555"
    leonor["entry"].append(other)
    expression = f"Bundle.entry[{len(leonor['entry']) - 1}].resource"
    refused(dump(leonor), "business-rule", expression, 422)


def test_duplicate_full_url(ips: dict[str, Any]) -> None:
    ips["entry"][3]["fullUrl"] = ips["entry"][2]["fullUrl"]
    refused(dump(ips), "invariant", "Bundle.entry[3].fullUrl", 422)


def test_truncated_json() -> None:
    body = sample_bytes(LEONOR)
    diagnostics = refused(body[: len(body) // 2], "structure", None, 400)
    assert "truncated" in diagnostics


def test_not_json() -> None:
    refused(b"<Bundle xmlns='http://hl7.org/fhir'/>", "structure", None, 400)


def test_body_over_the_limit() -> None:
    body = sample_bytes(LEONOR)
    padded = body[:-1] + b" " * (20_000_000 - len(body)) + body[-1:]
    diagnostics = refused(padded, "too-costly", None, 413)
    assert "10000000" in diagnostics
    assert ingest(padded, max_bytes=25_000_000).patient.key.startswith("Patient/")


def test_caller_chosen_limit() -> None:
    refused(sample_bytes(IPS), "too-costly", None, 413, max_bytes=1000)


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_json_nested_ten_thousand_deep(ips: dict[str, Any], opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    deep = opener * 10_000 + "1" + closer * 10_000
    text = json.dumps(ips).replace('"active": true', f'"active": true, "extension": {deep}', 1)
    diagnostics = refused(text.encode(), "too-costly", None, 413)
    assert "64" in diagnostics


def test_nesting_past_the_interpreter_guard_is_still_a_clean_error(ips: dict[str, Any]) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    text = json.dumps(ips).replace('"active": true', f'"active": true, "extension": {deep}', 1)
    refused(text.encode(), "too-costly", None, 413, max_depth=1_000_000)


def test_nesting_a_little_deeper_than_allowed(ips: dict[str, Any]) -> None:
    refused(dump(ips), "too-costly", None, 413, max_depth=8)
    assert ingest(dump(ips), max_depth=12).patient.name == "Martha DeLarosa"


def test_not_a_bundle(ips: dict[str, Any]) -> None:
    diagnostics = refused(json.dumps(ips["entry"][1]["resource"]).encode(), "invalid", None, 400)
    assert "Patient" in diagnostics


@pytest.mark.parametrize("body", [b"[1, 2]", b'{"type": "document"}', b'"Bundle"'])
def test_not_a_resource(body: bytes) -> None:
    refused(body, "structure", None, 400)


def test_entry_resource_that_is_no_resource(leonor: dict[str, Any]) -> None:
    leonor["entry"][5]["resource"] = {"id": "x"}
    refused(dump(leonor), "structure", "Bundle.entry[5].resource.resourceType", 400)


@pytest.mark.parametrize(
    ("profile", "version"),
    [
        ("http://hl7.org/fhir/StructureDefinition/Bundle|5.0.0", "5.0.0"),
        ("http://hl7.org/fhir/StructureDefinition/Bundle|3.0.2", "3.0.2"),
        ("http://hl7.org/fhir/STU3/StructureDefinition/Bundle", "STU3"),
        ("http://hl7.org/fhir/R5/StructureDefinition/Bundle", "R5"),
    ],
)
def test_profile_of_another_fhir_version(ips: dict[str, Any], profile: str, version: str) -> None:
    ips["meta"] = {
        "profile": ["http://hl7.org/fhir/uv/ips/StructureDefinition/Bundle-uv-ips", profile]
    }
    diagnostics = refused(dump(ips), "not-supported", "Bundle.meta.profile[1]", 400)
    assert version in diagnostics


def test_r4_profiles_are_accepted(ips: dict[str, Any]) -> None:
    ips["meta"] = {
        "profile": [
            "http://hl7.org/fhir/StructureDefinition/Bundle|4.0.1",
            "http://hl7.org/fhir/uv/ips/StructureDefinition/Bundle-uv-ips",
        ]
    }
    assert ingest(dump(ips)).document.bundle_type == "document"


@pytest.mark.parametrize("version", ["3.0", "5.0", "4.3", "R5"])
def test_fhir_version_parameter_of_another_version(version: str) -> None:
    refused(sample_bytes(IPS), "not-supported", None, 400, fhir_version=version)


@pytest.mark.parametrize("version", ["4.0", "4.0.1", "R4"])
def test_fhir_version_parameter_r4(version: str) -> None:
    assert ingest(sample_bytes(IPS), fhir_version=version).patient.name == "Martha DeLarosa"


def test_bundle_type_not_ingested(ips: dict[str, Any]) -> None:
    ips["type"] = "history"
    refused(dump(ips), "not-supported", "Bundle.type", 400)


def test_unknown_resource_types_and_extensions_are_tolerated(ips: dict[str, Any]) -> None:
    ips["entry"].append(
        {
            "fullUrl": "urn:uuid:99999999-0000-0000-0000-000000000000",
            "resource": {"resourceType": "FutureThing", "id": "f1", "anything": [{"x": 1}]},
        }
    )
    condition = ips["entry"][entry_index(ips, "Condition")]["resource"]
    condition["extension"] = [{"url": "http://example.org/x", "valueString": "y"}]
    extraction = ingest(dump(ips))
    assert [o.key for o in extraction.others if o.resource_type == "FutureThing"] == [
        "FutureThing/f1"
    ]
    assert len(extraction.conditions) == 1


def test_section_with_only_an_empty_reason(ips: dict[str, Any]) -> None:
    ips["entry"][0]["resource"]["section"].append(
        {
            "title": "Immunizations",
            "code": {"coding": [{"system": "http://loinc.org", "code": "11369-6"}]},
            "emptyReason": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/list-empty-reason",
                        "code": "unavailable",
                    }
                ]
            },
        }
    )
    sections = ingest(dump(ips)).sections
    assert len(sections) == 4
    assert sections[3].entry_keys == []
    assert [c.code for c in sections[3].empty_reason] == ["unavailable"]


def test_contained_medication(ips: dict[str, Any]) -> None:
    i = entry_index(ips, "MedicationStatement")
    statement = ips["entry"][i]["resource"]
    statement["contained"] = [
        {"resourceType": "Medication", "id": "m1", "code": {"text": "anastrozole 1 mg"}}
    ]
    statement["medicationReference"] = {"reference": "#m1"}
    medication = ingest(dump(ips)).medications[0]
    assert (medication.medication_key, medication.text) == ("#m1", "anastrozole 1 mg")


def test_composition_identifier_when_the_bundle_has_none(ips: dict[str, Any]) -> None:
    del ips["identifier"]
    ips["entry"][0]["resource"]["identifier"] = {"system": "urn:ietf:rfc:3986", "value": "urn:x:1"}
    document = ingest(dump(ips)).document
    assert (document.identity_source, document.document_key) == (
        "composition",
        "urn:ietf:rfc:3986|urn:x:1",
    )


def test_reference_range_and_interpretation(leonor: dict[str, Any]) -> None:
    i = next(
        index
        for index, entry in enumerate(leonor["entry"])
        if entry["resource"]["resourceType"] == "Observation"
        and entry["resource"]["code"]["coding"][0]["code"] == "2339-0"
    )
    observation = leonor["entry"][i]["resource"]
    observation["referenceRange"] = [
        {
            "low": {"value": 70, "unit": "mg/dL"},
            "high": {"value": 99, "unit": "mg/dL"},
            "text": "70-99 mg/dL",
        }
    ]
    interpretation = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
    observation["interpretation"] = [{"coding": [{"system": interpretation, "code": "H"}]}]
    key = f"Observation/{observation['id']}"
    [extracted] = [o for o in ingest(dump(leonor)).observations if o.key == key]
    assert extracted.categories == ["laboratory"]
    [reference_range] = extracted.reference_ranges
    assert (reference_range.low, reference_range.high, reference_range.unit) == (70, 99, "mg/dL")
    assert reference_range.text == "70-99 mg/dL"
    assert [(c.system, c.code) for c in extracted.interpretation] == [(interpretation, "H")]


@pytest.mark.parametrize(
    ("element", "value", "kind", "field", "expected"),
    [
        ("valueString", "clear", "string", "text", "clear"),
        ("valueBoolean", True, "boolean", "boolean", True),
        ("valueInteger", 7, "integer", "number", 7.0),
    ],
)
def test_other_value_kinds(
    leonor: dict[str, Any], element: str, value: Any, kind: str, field: str, expected: Any
) -> None:
    i = entry_index(leonor, "Observation")
    observation = leonor["entry"][i]["resource"]
    del observation["valueQuantity"]
    observation[element] = value
    [extracted] = [
        o for o in ingest(dump(leonor)).observations if o.key == f"Observation/{observation['id']}"
    ]
    assert extracted.value is not None
    assert extracted.value.kind == kind
    assert getattr(extracted.value, field) == expected


def test_national_id_systems_are_required() -> None:
    with pytest.raises(ValueError, match="national_id_systems"):
        extract(parse_bundle(sample_bytes(IPS)), national_id_systems=())


def test_unknown_element_of_a_kept_resource_is_refused(ips: dict[str, Any]) -> None:
    i = entry_index(ips, "Condition")
    ips["entry"][i]["resource"]["modifiedElementNobodyKnows"] = {"deep": [1, 2, 3]}
    expression = f"Bundle.entry[{i}].resource.modifiedElementNobodyKnows"
    assert "unknown element" in refused(dump(ips), "structure", expression, 422)


def test_empty_array_is_refused(leonor: dict[str, Any]) -> None:
    leonor["entry"][0]["resource"]["identifier"] = []
    refused(dump(leonor), "value", "Bundle.entry[0].resource.identifier", 422)
