"""Regression found by the schemathesis run: JSON bodies are decoded strictly into their types
(``0`` is not ``false``, ``"5"`` is not ``5``); the 400 names the field, as validation does."""

from __future__ import annotations

import pytest

from tests.support.auth import bearer
from tests.support.hospital import register_facility
from tests.support.problems import problem_uri


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Khoa Nội", "active": 0}, "active"),
        ({"name": "Khoa Nội", "active": "true"}, "active"),
        ({"name": 5}, "name"),
    ],
)
async def test_types_are_not_coerced(client, admin_token, body, field) -> None:
    await register_facility(client, admin_token, "01001")
    response = await client.put(
        "/admin/facilities/01001/departments/NOI", json=body, headers=bearer(admin_token)
    )
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["type"] == problem_uri("validation-error")
    assert problem["errors"][0]["field"] == field
    assert problem["errors"][0]["source"] == "body"


async def test_unknown_fields_and_broken_json_still_answer_as_before(client, admin_token) -> None:
    await register_facility(client, admin_token, "01001")
    url = "/admin/facilities/01001/departments/NOI"
    unknown = await client.put(url, json={"name": "x", "surprise": 1}, headers=bearer(admin_token))
    assert unknown.status_code == 400
    assert unknown.json()["type"] == problem_uri("validation-error")
    broken = await client.put(
        url,
        content=b'{"name": ',
        headers={**bearer(admin_token), "content-type": "application/json"},
    )
    assert broken.status_code == 400
    assert broken.json()["type"] == problem_uri("malformed-body")
    fine = await client.put(
        url, json={"name": "Khoa Nội", "active": True}, headers=bearer(admin_token)
    )
    assert fine.status_code == 201, fine.text


async def test_nul_characters_are_refused_everywhere(client, admin_token) -> None:
    """PostgreSQL cannot store U+0000: a NUL in any text input is a 400, never a 500."""
    await register_facility(client, admin_token, "01001")
    headers = bearer(admin_token)
    answers = [
        await client.get("/facilities", params={"q": "B\x00"}),
        await client.get("/facilities/01%001"),
        await client.put(
            "/admin/facilities/01001/departments/NOI", json={"name": "Khoa\x00"}, headers=headers
        ),
        await client.post(
            "/auth/token", data={"grant_type": "client_credentials", "client_id": "a\x00"}
        ),
    ]
    for response in answers:
        assert response.status_code == 400, response.text
        assert response.json()["type"] == problem_uri("validation-error")
    assert "NUL" in answers[0].json()["detail"]
