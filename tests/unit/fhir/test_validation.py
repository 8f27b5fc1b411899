"""R4 validation at publish: each invalid resource is refused (422) with the issue where it is,
and a Bundle with several problems lists every one of them in one OperationOutcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from api.health_book.fhir import FhirError, extract, parse_bundle
from tests.support.fhir_samples import (
    IPS,
    LEONOR,
    NATIONAL_ID_SYSTEMS,
    dump,
    entry_index,
    sample_bytes,
    sample_json,
)

Mutation = Callable[[dict[str, Any]], None]


def _first(document: dict[str, Any], resource_type: str, where: Callable[[dict], bool] = bool):
    for index, entry in enumerate(document["entry"]):
        resource = entry["resource"]
        if resource["resourceType"] == resource_type and where(resource):
            return index, resource
    raise LookupError(resource_type)


def _set(resource_type: str, path: str, value: Any, where: Callable[[dict], bool] = bool):
    """A mutation setting ``path`` (dotted, ``[n]`` for an index) of the first such resource."""

    def mutate(document: dict[str, Any]) -> str:
        index, node = _first(document, resource_type, where)
        *parents, last = path.split(".")
        for part in parents:
            name, _, position = part.partition("[")
            node = node[name] if not position else node[name][int(position[:-1])]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
        return f"Bundle.entry[{index}].resource"

    return mutate


_DELETE = object()
CC = "http://terminology.hl7.org/CodeSystem/"

# (sample, mutation, issue code, expression after "Bundle.entry[i].resource")
CASES: dict[str, tuple[str, Any, str, str]] = {
    "unknown element in Condition": (
        IPS,
        _set("Condition", "severityLevel", "high"),
        "structure",
        ".severityLevel",
    ),
    "unknown element in a datatype": (
        IPS,
        _set("Condition", "code.coding[0].codeSystem", "x"),
        "structure",
        ".code.coding[0].codeSystem",
    ),
    "Patient.gender not a code of the value set": (
        IPS,
        _set("Patient", "gender", "femme"),
        "value",
        ".gender",
    ),
    "Patient.birthDate is a dateTime": (
        IPS,
        _set("Patient", "birthDate", "1972-05-01T10:00:00Z"),
        "value",
        ".birthDate",
    ),
    "Patient.active is a string": (IPS, _set("Patient", "active", "true"), "value", ".active"),
    "Patient.name is not an array": (
        IPS,
        _set("Patient", "name", {"family": "X"}),
        "value",
        ".name",
    ),
    "Condition.clinicalStatus code outside the value set": (
        IPS,
        _set(
            "Condition",
            "clinicalStatus",
            {"coding": [{"system": CC + "condition-clinical", "code": "ongoing"}]},
        ),
        "value",
        ".clinicalStatus.coding[0].code",
    ),
    "Condition.verificationStatus with no coding of its system": (
        IPS,
        _set("Condition", "verificationStatus", {"text": "sure"}),
        "value",
        ".verificationStatus",
    ),
    "Condition.subject missing": (
        IPS,
        _set("Condition", "subject", _DELETE),
        "required",
        ".subject",
    ),
    "AllergyIntolerance.criticality": (
        IPS,
        _set("AllergyIntolerance", "criticality", "very-high"),
        "value",
        ".criticality",
    ),
    "AllergyIntolerance.type": (
        IPS,
        _set("AllergyIntolerance", "type", "sensitivity"),
        "value",
        ".type",
    ),
    "AllergyIntolerance.category is not an array": (
        IPS,
        _set("AllergyIntolerance", "category", "medication"),
        "value",
        ".category",
    ),
    "AllergyIntolerance.verificationStatus": (
        IPS,
        _set(
            "AllergyIntolerance",
            "verificationStatus",
            {"coding": [{"system": CC + "allergyintolerance-verification", "code": "likely"}]},
        ),
        "value",
        ".verificationStatus.coding[0].code",
    ),
    "MedicationStatement.status": (
        IPS,
        _set("MedicationStatement", "status", "taking"),
        "value",
        ".status",
    ),
    "MedicationStatement.medication[x] missing": (
        IPS,
        _set("MedicationStatement", "medicationReference", _DELETE),
        "required",
        ".medication[x]",
    ),
    "Composition.status": (IPS, _set("Composition", "status", "done"), "value", ".status"),
    "Composition.author missing": (
        IPS,
        _set("Composition", "author", _DELETE),
        "required",
        ".author",
    ),
    "Composition.date malformed": (
        IPS,
        _set("Composition", "date", "2017-12-11 14:30"),
        "value",
        ".date",
    ),
    "Medication.status": (IPS, _set("Medication", "status", "available"), "value", ".status"),
    "Organization.name is a number": (IPS, _set("Organization", "name", 7), "value", ".name"),
    "Practitioner.id malformed": (
        IPS,
        _set("Practitioner", "id", "has spaces in it"),
        "value",
        ".id",
    ),
    "Encounter.status": (LEONOR, _set("Encounter", "status", "done"), "value", ".status"),
    "Encounter.class missing": (LEONOR, _set("Encounter", "class", _DELETE), "required", ".class"),
    "Encounter.class is an array": (
        LEONOR,
        _set("Encounter", "class", [{"code": "AMB"}]),
        "value",
        ".class",
    ),
    "MedicationRequest.intent": (
        LEONOR,
        _set("MedicationRequest", "intent", "wish"),
        "value",
        ".intent",
    ),
    "MedicationRequest.status": (
        LEONOR,
        _set("MedicationRequest", "status", "ongoing"),
        "value",
        ".status",
    ),
    "Immunization.status": (LEONOR, _set("Immunization", "status", "given"), "value", ".status"),
    "Immunization.occurrence[x] missing": (
        LEONOR,
        _set("Immunization", "occurrenceDateTime", _DELETE),
        "required",
        ".occurrence[x]",
    ),
    "Observation.status": (LEONOR, _set("Observation", "status", "done"), "value", ".status"),
    "Observation.issued is not an instant": (
        LEONOR,
        _set("Observation", "issued", "2012-02-13"),
        "value",
        ".issued",
    ),
    "Observation.valueQuantity.value is a string": (
        LEONOR,
        _set("Observation", "valueQuantity.value", "12.5", lambda r: "valueQuantity" in r),
        "value",
        ".valueQuantity.value",
    ),
    "Observation.valueQuantity.comparator": (
        LEONOR,
        _set("Observation", "valueQuantity.comparator", "~", lambda r: "valueQuantity" in r),
        "value",
        ".valueQuantity.comparator",
    ),
    "Observation.code.coding.system has whitespace": (
        LEONOR,
        _set("Observation", "code.coding[0].system", "http://loinc .org"),
        "value",
        ".code.coding[0].system",
    ),
    "Observation.effective time zone missing": (
        LEONOR,
        _set(
            "Observation",
            "effectiveDateTime",
            "2012-02-13T10:00:00",
            lambda r: "effectiveDateTime" in r,
        ),
        "value",
        ".effectiveDateTime",
    ),
    "DiagnosticReport.status": (
        LEONOR,
        _set("DiagnosticReport", "status", "done"),
        "value",
        ".status",
    ),
    "Procedure.status": (LEONOR, _set("Procedure", "status", "performed"), "value", ".status"),
    "Procedure.code coding code with a double space": (
        LEONOR,
        _set("Procedure", "code.coding[0].code", "a  b"),
        "value",
        ".code.coding[0].code",
    ),
    "Reference.reference malformed": (
        LEONOR,
        _set("Procedure", "subject", {"reference": "patient 42"}),
        "value",
        ".subject.reference",
    ),
    "Extension without url": (
        IPS,
        _set("Condition", "extension", [{"valueString": "x"}]),
        "required",
        ".extension[0].url",
    ),
    "Extension with two values": (
        IPS,
        _set(
            "Condition",
            "extension",
            [{"url": "http://example.org/x", "valueString": "x", "valueBoolean": True}],
        ),
        "value",
        ".extension[0].value[x]",
    ),
    "positiveInt of zero": (
        LEONOR,
        _set("Encounter", "diagnosis", [{"condition": {"display": "x"}, "rank": 0}]),
        "value",
        ".diagnosis[0].rank",
    ),
    "time malformed": (
        IPS,
        _set("Condition", "extension", [{"url": "http://example.org/t", "valueTime": "25:00"}]),
        "value",
        ".extension[0].valueTime",
    ),
    "contained resource of a kept type": (
        IPS,
        _set(
            "MedicationStatement",
            "contained",
            [{"resourceType": "Medication", "id": "m", "status": "maybe"}],
        ),
        "value",
        ".contained[0].status",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_invalid_resource_is_refused_with_its_expression(case: str) -> None:
    name, mutate, code, suffix = CASES[case]
    document = sample_json(name)
    prefix = mutate(document)
    with pytest.raises(FhirError) as caught:
        parse_bundle(dump(document))
    assert caught.value.status == 422
    issues = caught.value.operation_outcome()["issue"]
    assert [(i["code"], i["expression"]) for i in issues] == [(code, [prefix + suffix])], issues
    assert all(i["severity"] == "error" and i["diagnostics"] for i in issues)


@pytest.mark.parametrize("key", ["", "_"])
def test_an_empty_or_bare_underscore_element_name_is_an_unknown_element(key: str) -> None:
    """Names a sender can put in JSON that are no element (found by the schema fuzzer)."""
    document = sample_json(IPS)
    document[key] = 1
    document["entry"][0]["resource"][key] = []
    with pytest.raises(FhirError) as caught:
        parse_bundle(dump(document))
    assert caught.value.status == 422
    assert sorted((i.code, i.expression) for i in caught.value.issues) == sorted(
        [("structure", f"Bundle.entry[0].resource.{key}"), ("structure", f"Bundle.{key}")]
    )


def test_bundle_elements_are_validated() -> None:
    document = sample_json(IPS)
    document["timestamp"] = "2017-12-11"
    document["entry"][1]["fullUrl"] = "urn:uuid:has space"
    document["unknownBundleThing"] = 1
    with pytest.raises(FhirError) as caught:
        parse_bundle(dump(document))
    expressions = [i.expression for i in caught.value.issues]
    assert expressions == [
        "Bundle.timestamp",
        "Bundle.entry[1].fullUrl",
        "Bundle.unknownBundleThing",
    ]


def test_every_problem_of_a_bundle_is_listed() -> None:
    document = sample_json(LEONOR)
    patient, _ = _first(document, "Patient")
    document["entry"][patient]["resource"]["gender"] = "femme"
    condition, _ = _first(document, "Condition")
    document["entry"][condition]["resource"]["unknownThing"] = True
    encounter, _ = _first(document, "Encounter")
    del document["entry"][encounter]["resource"]["status"]
    observation, _ = _first(document, "Observation", lambda r: "valueQuantity" in r)
    document["entry"][observation]["resource"]["valueQuantity"]["value"] = "abc"
    report, _ = _first(document, "DiagnosticReport")
    document["entry"][report]["resource"]["issued"] = "yesterday"
    with pytest.raises(FhirError) as caught:
        parse_bundle(dump(document))
    error = caught.value
    assert error.status == 422
    found = {(i.code, i.expression) for i in error.issues}
    assert found == {
        ("value", f"Bundle.entry[{patient}].resource.gender"),
        ("structure", f"Bundle.entry[{condition}].resource.unknownThing"),
        ("required", f"Bundle.entry[{encounter}].resource.status"),
        ("value", f"Bundle.entry[{observation}].resource.valueQuantity.value"),
        ("value", f"Bundle.entry[{report}].resource.issued"),
    }
    assert len(error.operation_outcome()["issue"]) == 5


def test_types_the_book_does_not_keep_are_not_validated() -> None:
    document = sample_json(LEONOR)
    claim, _ = _first(document, "Claim")
    document["entry"][claim]["resource"]["status"] = "not-a-claim-status"
    document["entry"][claim]["resource"]["madeUpElement"] = [1]
    extraction = extract(parse_bundle(dump(document)), national_id_systems=NATIONAL_ID_SYSTEMS)
    assert any(o.resource_type == "Claim" for o in extraction.others)


def test_primitive_extensions_are_accepted() -> None:
    document = sample_json(IPS)
    index = entry_index(document, "Patient")
    document["entry"][index]["resource"]["_birthDate"] = {
        "extension": [{"url": "http://example.org/accuracy", "valueCode": "estimated"}]
    }
    parse_bundle(dump(document))


@pytest.mark.parametrize("name", [IPS, LEONOR])
def test_the_samples_are_valid(name: str) -> None:
    parse_bundle(sample_bytes(name))
