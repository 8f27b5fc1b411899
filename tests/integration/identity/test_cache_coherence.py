"""Two API processes share Redis: a change made through one is seen at once by the other."""

from __future__ import annotations

import asyncio

import pytest

from api.app import create_app
from tests.support.auth import bearer
from tests.support.running import app_client


# Replicas share state only through a real Redis (fakeredis lives inside one process).
@pytest.mark.redis
@pytest.mark.parametrize("backend", ["servers", "cluster"])
async def test_guardianship_ended_on_one_replica_is_refused_by_the_other(
    backend, settings, client, citizen, admin_token
) -> None:
    recorded = await client.post(
        "/admin/guardianships",
        json={
            "guardian_national_id": "001085000001",
            "dependent_national_id": "001218000002",
            "kind": "parent",
            "dependent_birth_date": "2018-01-01",
        },
        headers=bearer(admin_token),
    )
    parent = await citizen("001085000001")
    child = recorded.json()["dependent_id"]
    async with app_client(create_app(settings)) as replica:
        # the replica caches the parent's profile and its dependents
        for _ in range(3):
            response = await replica.get(
                f"/citizens/{child}", headers=bearer(parent["access_token"])
            )
            assert response.status_code == 200
        ended = await client.post(
            f"/admin/guardianships/{recorded.json()['id']}/end", headers=bearer(admin_token)
        )
        assert ended.status_code == 200
        for _ in range(50):
            response = await replica.get(
                f"/citizens/{child}", headers=bearer(parent["access_token"])
            )
            if response.status_code == 404:
                break
            await asyncio.sleep(0.02)
        assert response.status_code == 404
