"""A share of immunizations or of a visit also carries a SMART Health Card: a second manifest
file (``application/smart-health-card``), signed by this service from the shared document itself,
verifiable offline — and so holding nothing the document does not (restricted data included)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import httpx

from api.sharing import links
from tests.integration.sharing.conftest import path_of, share
from tests.integration.sharing.test_content import clinical, labelled, open_jwe, resources
from tests.support.fhir_samples import IPS, RUSTY, dump, sample_json

FHIR_JSON = "application/fhir+json"
CARD_FILE = "application/smart-health-card"
EVERYTHING = 100_000_000


async def manifest(
    client: httpx.AsyncClient, created: dict[str, Any], **fields: Any
) -> tuple[links.Payload, list[dict[str, Any]]]:
    payload = links.decode(created["shlink"])
    answer = await client.post(path_of(payload.url), json={"recipient": "Dr. An", **fields})
    assert answer.status_code == 200, answer.text
    return payload, answer.json()["files"]


async def verified(client: httpx.AsyncClient, card_file: bytes) -> dict[str, Any]:
    """The verify endpoint's verdict on a ``.smart-health-card`` file, which must be valid."""
    (jws,) = json.loads(card_file)["verifiableCredential"]
    verdict = (await client.post("/health-cards/verify", json={"card": jws})).json()
    assert verdict["valid"], verdict
    return verdict


async def test_an_immunization_share_carries_a_verifiable_card(client, owner_of, clock) -> None:
    headers = await owner_of(RUSTY)
    created = await share(client, headers, clock, content="immunizations")
    payload, files = await manifest(client, created, embeddedLengthMax=EVERYTHING)
    assert [f["contentType"] for f in files] == [FHIR_JSON, CARD_FILE]
    document = json.loads(open_jwe(payload.key, files[0]["embedded"]))
    header = json.loads(links.b64url_decode(files[1]["embedded"].split(".")[0]))
    assert header["cty"] == CARD_FILE
    card_file = open_jwe(payload.key, files[1]["embedded"])
    verdict = await verified(client, card_file)
    assert "http://hl7.org/fhir/StructureDefinition/Immunization" in verdict["types"]
    # the card holds exactly the shared immunizations, and the patient
    bundle = verdict["fhirBundle"]
    kinds = Counter(e["resource"]["resourceType"] for e in bundle["entry"])
    assert kinds == Counter({"Patient": 1, "Immunization": clinical(document)["Immunization"]})
    assert kinds["Immunization"] > 0
    # by location too: each file its own ticket, each opening its own file
    payload, files = await manifest(client, created)
    assert [f["contentType"] for f in files] == [FHIR_JSON, CARD_FILE]
    assert files[0]["location"] != files[1]["location"]
    opened = []
    for file in files:
        answer = await client.get(path_of(file["location"]))
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/jose")
        opened.append(open_jwe(payload.key, answer.text))
    assert json.loads(opened[0])["resourceType"] == "Bundle"
    assert json.loads(opened[1]) == json.loads(card_file)


async def test_a_visit_share_carries_a_card_of_that_visit(client, owner_of, clock) -> None:
    headers = await owner_of(RUSTY)
    visits = (await client.get("/citizens/me/health-book/visits?limit=100", headers=headers)).json()
    visit_id = visits["items"][0]["id"]
    created = await share(client, headers, clock, content="visit", visit_id=visit_id)
    payload, files = await manifest(client, created, embeddedLengthMax=EVERYTHING)
    assert [f["contentType"] for f in files] == [FHIR_JSON, CARD_FILE]
    document = json.loads(open_jwe(payload.key, files[0]["embedded"]))
    verdict = await verified(client, open_jwe(payload.key, files[1]["embedded"]))
    assert "http://hl7.org/fhir/StructureDefinition/Encounter" in verdict["types"]
    kinds = Counter(e["resource"]["resourceType"] for e in verdict["fhirBundle"]["entry"])
    assert kinds["Encounter"] == 1
    assert kinds["Patient"] == 1
    # every clinical record of the shared visit is in the card
    for resource_type, count in clinical(document).items():
        assert kinds[resource_type] == count, resource_type


async def test_a_summary_or_a_direct_link_has_one_file(client, owner_of, clock) -> None:
    headers = await owner_of(RUSTY)
    _, files = await manifest(client, await share(client, headers, clock))
    assert [f["contentType"] for f in files] == [FHIR_JSON]
    # a book without immunizations: nothing to sign, no card
    summary = await owner_of(IPS)
    _, files = await manifest(client, await share(client, summary, clock, content="immunizations"))
    assert [f["contentType"] for f in files] == [FHIR_JSON]
    direct = await share(client, headers, clock, content="immunizations", direct=True)
    _, files = await manifest(client, direct)
    assert [f["contentType"] for f in files] == [FHIR_JSON]


async def test_restricted_immunizations_stay_out_of_the_card_unless_ticked(
    client, owner_of, clock
) -> None:
    headers = await owner_of(RUSTY, dump(labelled(sample_json(RUSTY), "Immunization", "R")))
    without = await share(client, headers, clock, content="immunizations")
    payload, files = await manifest(client, without, embeddedLengthMax=EVERYTHING)
    # nothing left to sign: no card at all
    assert [f["contentType"] for f in files] == [FHIR_JSON]
    assert clinical(json.loads(open_jwe(payload.key, files[0]["embedded"]))) == Counter()
    ticked = await share(client, headers, clock, content="immunizations", include_restricted=True)
    payload, files = await manifest(client, ticked, embeddedLengthMax=EVERYTHING)
    assert [f["contentType"] for f in files] == [FHIR_JSON, CARD_FILE]
    verdict = await verified(client, open_jwe(payload.key, files[1]["embedded"]))
    shots = [e["resource"] for e in verdict["fhirBundle"]["entry"]]
    immunizations = [r for r in shots if r["resourceType"] == "Immunization"]
    assert immunizations
    # the card keeps the hospital's label (meta.security survives minification)
    assert all(r["meta"]["security"][0]["code"] == "R" for r in immunizations)


async def test_a_long_term_share_signs_its_card_anew(client, owner_of, clock) -> None:
    headers = await owner_of(RUSTY)
    created = await share(client, headers, clock, content="immunizations", long_term=True)
    payload, files = await manifest(client, created, embeddedLengthMax=EVERYTHING)
    assert [f["contentType"] for f in files] == [FHIR_JSON, CARD_FILE]
    first = open_jwe(payload.key, files[1]["embedded"])
    await verified(client, first)
    clock.advance(seconds=30)
    payload, files = await manifest(client, created, embeddedLengthMax=EVERYTHING)
    again = open_jwe(payload.key, files[1]["embedded"])
    verdict = await verified(client, again)
    assert verdict["nbf"] == int(clock.now().timestamp())  # signed at this request
    assert again != first
    assert len(resources(verdict["fhirBundle"], "Immunization")) > 0
