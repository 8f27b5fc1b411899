"""Publishing invalid FHIR answers 422 with one OperationOutcome that lists every issue, and
stores nothing; what is stored comes back out as valid FHIR."""

from __future__ import annotations

from tests.integration.health_book.test_publish import table_counts
from tests.support.fhir_export import assert_valid_fhir
from tests.support.fhir_samples import IPS, dump, entry_index, sample_bytes, sample_json


async def test_every_issue_in_one_outcome_and_nothing_stored(client, app, hospital) -> None:
    await client.post("/hospital/summaries", content=sample_bytes(IPS), headers=hospital.headers)
    before = await table_counts(app)
    document = sample_json(IPS)
    document["identifier"]["value"] = "another-document"
    patient = entry_index(document, "Patient")
    condition = entry_index(document, "Condition")
    allergy = entry_index(document, "AllergyIntolerance")
    document["entry"][patient]["resource"]["gender"] = "femme"
    document["entry"][condition]["resource"]["onsetDateTime"] = "2015"
    document["entry"][condition]["resource"]["onsetAge"] = {"value": 40, "unit": "a"}
    document["entry"][condition]["resource"]["severityLevel"] = "high"
    document["entry"][allergy]["resource"]["criticality"] = "very-high"
    response = await client.post(
        "/hospital/summaries", content=dump(document), headers=hospital.headers
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert_valid_fhir(outcome)
    found = sorted((i["code"], i["expression"][0]) for i in outcome["issue"])
    expected = [
        ("structure", f"Bundle.entry[{condition}].resource.severityLevel"),
        ("value", f"Bundle.entry[{allergy}].resource.criticality"),
        ("value", f"Bundle.entry[{patient}].resource.gender"),
        ("value", f"Bundle.entry[{condition}].resource.onset[x]"),
    ]
    assert found == sorted(expected), outcome
    assert all(i["severity"] == "error" and i["diagnostics"] for i in outcome["issue"])
    assert await table_counts(app) == before
