"""The same document sent again is the same document: decided on the canonical form (RFC 8785)
of its content, not its bytes; a document keeps one id across its versions."""

from __future__ import annotations

import json
import random

from sqlalchemy import func, select

from api.health_book.models import HealthDocument
from tests.support.fhir_samples import IPS, dump, sample_json


def _shuffled(node, rng: random.Random):
    """The same JSON with every object's keys in another order."""
    if isinstance(node, dict):
        items = list(node.items())
        rng.shuffle(items)
        return {key: _shuffled(value, rng) for key, value in items}
    if isinstance(node, list):
        return [_shuffled(value, rng) for value in node]
    return node


async def _documents(app) -> int:
    async with app.state.sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(HealthDocument))


async def test_keys_reordered_and_whitespace_removed_is_unchanged(client, app, hospital) -> None:
    original = sample_json(IPS)
    first = await client.post(
        "/hospital/summaries", content=json.dumps(original, indent=2), headers=hospital.headers
    )
    assert first.status_code == 201, first.text
    assert first.json()["document_id"] == first.json()["version_id"]
    again = _shuffled(original, random.Random(7))
    again["timestamp"] = "2030-01-01T00:00:00Z"  # regenerated on every send
    again["meta"] = {"lastUpdated": "2030-01-01T00:00:00Z", "versionId": "9"}
    again["entry"][1]["resource"]["meta"] = {"lastUpdated": "2030-01-01T00:00:00+07:00"}
    body = json.dumps(again, separators=(",", ":"), ensure_ascii=False).encode()
    assert body != dump(original)
    second = await client.post("/hospital/summaries", content=body, headers=hospital.headers)
    assert second.status_code == 200, second.text
    assert second.json()["outcome"] == "unchanged"
    assert second.json()["document_id"] == first.json()["document_id"]
    assert second.json()["version"] == 1
    assert await _documents(app) == 1


async def test_changed_content_is_a_new_version_of_the_same_document(client, app, hospital) -> None:
    original = sample_json(IPS)
    first = (
        await client.post("/hospital/summaries", content=dump(original), headers=hospital.headers)
    ).json()
    changed = sample_json(IPS)
    changed["entry"][4]["resource"]["code"]["text"] = "Something else"
    second = await client.post(
        "/hospital/summaries", content=dump(changed), headers=hospital.headers
    )
    assert second.status_code == 201, second.text
    answer = second.json()
    assert (answer["outcome"], answer["version"]) == ("new_version", 2)
    assert answer["document_id"] == first["document_id"]
    assert answer["version_id"] != first["version_id"]
    # other insignificant whitespace: the same content again
    third = await client.post(
        "/hospital/summaries",
        content=dump(changed).replace(b'"system"', b' "system"'),
        headers=hospital.headers,
    )
    assert third.json()["outcome"] == "unchanged"
    assert third.json()["version_id"] == answer["version_id"]
    withdrawn = await client.post(
        f"/hospital/summaries/{answer['document_id']}/entered-in-error", headers=hospital.headers
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["document_id"] == first["document_id"]
    async with app.state.sessionmaker() as session:
        statuses = (await session.scalars(select(HealthDocument.status))).all()
    assert sorted(statuses) == ["entered_in_error", "entered_in_error"]


async def test_a_document_without_identifier_sent_again_reformatted(client, app, hospital) -> None:
    original = sample_json(IPS)
    del original["identifier"]
    original["entry"][0]["resource"].pop("identifier", None)  # the Composition's
    first = await client.post(
        "/hospital/summaries", content=dump(original), headers=hospital.headers
    )
    assert first.status_code == 201, first.text
    again = _shuffled(original, random.Random(3))
    body = json.dumps(again, separators=(",", ":")).encode()
    second = await client.post("/hospital/summaries", content=body, headers=hospital.headers)
    assert second.status_code == 200, second.text
    assert second.json()["document_id"] == first.json()["document_id"]
    assert await _documents(app) == 1


def test_numbers_are_compared_as_numbers() -> None:
    from api.health_book.canonical import canonical_sha256

    a = b'{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"v":1.50,"n":10}}]}'
    b = b'{"type":"collection","entry":[{"resource":{"n":1e1,"v":1.5}}],"resourceType":"Bundle"}'
    c = b'{"type":"collection","entry":[{"resource":{"n":1e1,"v":1.51}}],"resourceType":"Bundle"}'
    assert canonical_sha256(a) == canonical_sha256(b)
    assert canonical_sha256(a) != canonical_sha256(c)
    big = b'{"resourceType":"Bundle","type":"collection","total":123456789012345678901}'
    assert canonical_sha256(big)
