"""Every public sample is accepted unchanged, and what comes out matches the file itself."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from api.health_book.fhir import Extraction, extract, parse_bundle
from tests.support.fhir_samples import (
    IPS,
    LEONOR,
    NATIONAL_ID_SYSTEMS,
    RUSTY,
    expected_counts,
    sample_bytes,
    sample_json,
    sample_names,
)

LOINC = "http://loinc.org"


@pytest.fixture(scope="module")
def extractions() -> dict[str, Extraction]:
    return {
        name: extract(parse_bundle(sample_bytes(name)), national_id_systems=NATIONAL_ID_SYSTEMS)
        for name in sample_names()
    }


def test_the_samples_are_there() -> None:
    assert {IPS, LEONOR, RUSTY} <= set(sample_names())


@pytest.mark.parametrize("name", sample_names())
def test_counts_per_category_match_the_file(name: str, extractions: dict[str, Extraction]) -> None:
    assert extractions[name].counts() == expected_counts(name)


@pytest.mark.parametrize("name", sample_names())
def test_raw_json_is_each_resource_as_sent(name: str, extractions: dict[str, Extraction]) -> None:
    extraction = extractions[name]
    resources = [entry["resource"] for entry in sample_json(name)["entry"]]
    stored = [
        extraction.patient.raw,
        *(item.raw for item in extraction.others),
        *(
            item.raw
            for items in (
                extraction.visits,
                extraction.conditions,
                extraction.allergies,
                extraction.medications,
                extraction.immunizations,
                extraction.observations,
                extraction.diagnostic_reports,
                extraction.procedures,
            )
            for item in items
        ),
    ]
    decoded = [json.loads(bytes(raw)) for raw in stored]
    assert sorted(decoded, key=json.dumps) == sorted(resources, key=json.dumps)


@pytest.mark.parametrize("name", [LEONOR, RUSTY])
def test_synthea_references_resolve_to_entries(
    name: str, extractions: dict[str, Extraction]
) -> None:
    extraction = extractions[name]
    visit_keys = {visit.key for visit in extraction.visits}
    observation_keys = {observation.key for observation in extraction.observations}
    clinical = [
        *extraction.conditions,
        *extraction.observations,
        *extraction.immunizations,
        *extraction.procedures,
        *extraction.diagnostic_reports,
        *extraction.medications,
    ]
    assert all(item.encounter_key in visit_keys for item in clinical)
    results = [key for report in extraction.diagnostic_reports for key in report.result_keys]
    assert results
    assert set(results) <= observation_keys
    organisations = {item.key for item in extraction.others if item.resource_type == "Organization"}
    assert {visit.facility_key for visit in extraction.visits} <= organisations
    assert all(visit.facility_name for visit in extraction.visits)


@pytest.mark.parametrize("name", [LEONOR, RUSTY])
def test_synthea_patient_identifiers(name: str, extractions: dict[str, Extraction]) -> None:
    patient_json = sample_json(name)["entry"][0]["resource"]
    patient = extractions[name].patient
    assert [(i.system, i.value) for i in patient.identifiers] == [
        (i["system"], i["value"]) for i in patient_json["identifier"]
    ]
    assert patient.national_id.system == "http://hospital.smarthealthit.org"
    assert patient.national_id.value == next(
        i["value"]
        for i in patient_json["identifier"]
        if i["system"] == "http://hospital.smarthealthit.org"
    )
    assert [c.code for c in patient.national_id.type_codes] == ["MR"]
    assert patient.key == f"Patient/{patient_json['id']}"
    assert patient.gender == patient_json["gender"]
    assert patient.birth_date is not None
    assert patient.birth_date.text == patient_json["birthDate"]
    assert patient.birth_date.precision == "day"
    official = patient_json["name"][0]
    assert patient.family == official["family"]
    assert patient.name == " ".join([*official["given"], official["family"]])


@pytest.mark.parametrize("name", [LEONOR, RUSTY])
def test_blood_pressure_has_its_two_components(
    name: str, extractions: dict[str, Extraction]
) -> None:
    from_json = {
        entry["resource"]["id"]: entry["resource"]["component"]
        for entry in sample_json(name)["entry"]
        if entry["resource"]["resourceType"] == "Observation"
        and entry["resource"]["code"]["coding"][0]["code"] == "55284-4"
    }
    pressures = [
        observation
        for observation in extractions[name].observations
        if any(c.system == LOINC and c.code == "55284-4" for c in observation.codes)
    ]
    assert len(pressures) == len(from_json) > 0
    for observation in pressures:
        assert observation.value is None
        assert observation.categories == ["vital-signs"]
        assert len(observation.components) == 2
        components = from_json[observation.key.split("/", 1)[1]]
        for extracted, sent in zip(observation.components, components, strict=True):
            assert [c.code for c in extracted.codes] == [sent["code"]["coding"][0]["code"]]
            assert extracted.value is not None
            assert extracted.value.kind == "quantity"
            assert extracted.value.number == sent["valueQuantity"]["value"]
            assert extracted.value.unit == "mm[Hg]"
        assert {c.codes[0].code for c in observation.components} == {"8480-6", "8462-4"}


def test_latest_body_weight_of_leonor(extractions: dict[str, Extraction]) -> None:
    weights = [
        entry["resource"]
        for entry in sample_json(LEONOR)["entry"]
        if entry["resource"]["resourceType"] == "Observation"
        and entry["resource"]["code"]["coding"][0]["code"] == "29463-7"
    ]
    latest_json = max(weights, key=lambda o: datetime.fromisoformat(o["effectiveDateTime"]))
    extracted = [
        observation
        for observation in extractions[LEONOR].observations
        if any(c.system == LOINC and c.code == "29463-7" for c in observation.codes)
    ]
    assert len(extracted) == len(weights)
    latest = max(extracted, key=lambda o: o.effective.at if o.effective else datetime.min)
    assert latest.value is not None
    assert latest.value.number == latest_json["valueQuantity"]["value"]
    assert latest.value.unit == latest_json["valueQuantity"]["unit"]
    assert latest.effective is not None
    assert latest.effective.at == datetime.fromisoformat(latest_json["effectiveDateTime"])
    assert latest.categories == ["vital-signs"]


def test_synthea_categories_and_coded_values(extractions: dict[str, Extraction]) -> None:
    observations = extractions[LEONOR].observations
    categories = {category for o in observations for category in o.categories}
    assert {"vital-signs", "laboratory", "survey"} <= categories
    smoking = [o for o in observations if o.codes[0].code == "72166-2"]
    assert smoking
    assert all(o.value is not None and o.value.kind == "codeable-concept" for o in smoking)
    assert all(o.value.codes[0].system == "http://snomed.info/sct" for o in smoking if o.value)
    immunizations = extractions[LEONOR].immunizations
    assert all(i.codes[0].system == "http://hl7.org/fhir/sid/cvx" for i in immunizations)
    assert all(i.occurred is not None for i in immunizations)


def test_synthea_has_no_document_identifier_so_content_names_it(
    extractions: dict[str, Extraction],
) -> None:
    document = extractions[LEONOR].document
    assert document.bundle_type == "transaction"
    assert document.identity_source == "content"
    assert document.document_key == f"sha256:{document.content_sha256}"
    again = extract(
        parse_bundle(json.dumps(sample_json(LEONOR), indent=4).encode()),
        national_id_systems=NATIONAL_ID_SYSTEMS,
    )
    assert again.document.content_sha256 == document.content_sha256


def test_ips_document(extractions: dict[str, Extraction]) -> None:
    extraction = extractions[IPS]
    document = extraction.document
    assert document.bundle_type == "document"
    assert document.identity_source == "bundle"
    assert document.identifier_system == "urn:oid:2.16.724.4.8.10.200.10"
    assert document.identifier_value == "28b95815-76ce-457b-b7ae-a972e527db40"
    assert document.title == "Patient Summary as of December 11, 2020 14:30"
    assert [c.code for c in document.type_codes] == ["60591-5"]
    assert document.timestamp is not None
    assert document.timestamp.at == datetime.fromisoformat("2020-12-11T13:30:00+00:00")
    patient = extraction.patient
    assert patient.national_id.value == "574687583"
    assert patient.name == "Martha DeLarosa"
    assert patient.gender == "female"


def test_ips_sections_point_at_their_entries(extractions: dict[str, Extraction]) -> None:
    extraction = extractions[IPS]
    composition = next(
        entry["resource"]
        for entry in sample_json(IPS)["entry"]
        if entry["resource"]["resourceType"] == "Composition"
    )
    sections = extraction.sections
    assert [s.title for s in sections] == [s["title"] for s in composition["section"]]
    assert [[c.code for c in s.codes] for s in sections] == [["11450-4"], ["10160-0"], ["48765-2"]]
    assert all(s.empty_reason == [] for s in sections)
    assert [s.path for s in sections] == [f"Composition.section[{i}]" for i in range(3)]
    assert sections[0].entry_keys == [extraction.conditions[0].key]
    assert sections[1].entry_keys == [extraction.medications[0].key]
    assert sections[2].entry_keys == [extraction.allergies[0].key]
    assert all(s.composition_key == extraction.document.composition_key for s in sections)


def test_ips_clinical_entries(extractions: dict[str, Extraction]) -> None:
    extraction = extractions[IPS]
    condition = extraction.conditions[0]
    assert {(c.system, c.code) for c in condition.codes} == {
        ("http://snomed.info/sct", "198436008"),
        ("http://hl7.org/fhir/sid/icd-10", "N95.1"),
    }
    assert condition.clinical_status == "active"
    assert condition.onset is not None
    assert (condition.onset.text, condition.onset.precision) == ("2015", "year")
    assert condition.recorded is not None
    assert condition.recorded.precision == "month"
    medication = extraction.medications[0]
    assert medication.resource_type == "MedicationStatement"
    assert medication.medication_key == "Medication/6369a973-afc7-4617-8877-3e9811e05a5b"
    assert ("http://www.whocc.no/atc", "L02BG03") in {(c.system, c.code) for c in medication.codes}
    assert medication.effective_start is not None
    assert medication.effective_start.text == "2015-03"
    allergy = extraction.allergies[0]
    assert allergy.criticality == "high"
    assert allergy.categories == ["medication"]
    assert allergy.codes[0].code == "373270004"
