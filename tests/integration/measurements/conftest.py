"""Home measurement tests: the app on both backend pairs with a frozen clock, a citizen (with or
without a published book) and a guardian of a dependent."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar

from api.app import create_app
from api.core.clock import FrozenClock
from api.core.settings import Settings
from tests.integration.health_book.conftest import owner_of, patient_number
from tests.support.auth import bearer, login, register_provider
from tests.support.fhir_samples import IPS
from tests.support.running import app_client

__all__ = ["owner_of"]

MEASUREMENTS = "/citizens/me/measurements"
GUARDIAN_ID = "001085000001"


@pytest.fixture
def app(settings: Settings, clock: FrozenClock) -> Litestar:
    return create_app(settings, clock=clock)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(app) as http:
        yield http


def ago(clock: FrozenClock, **delta: float) -> str:
    """An instant before the clock's now, with a +07:00 offset (as a Vietnamese phone sends)."""
    at = clock.now() - dt.timedelta(**delta)
    return at.astimezone(dt.timezone(dt.timedelta(hours=7))).isoformat()


async def record(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    body: dict[str, Any],
    *,
    path: str = MEASUREMENTS,
    key: str | None = None,
    status: int = 201,
) -> dict[str, Any]:
    answer = await client.post(
        path, json=body, headers={**headers, "Idempotency-Key": key or str(uuid.uuid4())}
    )
    assert answer.status_code == status, answer.text
    return answer.json()


@pytest.fixture
async def someone(client, admin_token, idp) -> dict[str, str]:
    """A citizen with an empty book."""
    await register_provider(client, admin_token, idp)
    return bearer((await login(client, idp, "001090000007"))["access_token"])


@pytest.fixture
async def family(client, owner_of, admin_token, idp) -> tuple[dict[str, str], str, dict[str, str]]:
    """(the child's headers, the child's id, the guardian's headers)."""
    child = await owner_of(IPS)
    child_id = (await client.get("/citizens/me", headers=child)).json()["id"]
    recorded = await client.post(
        "/admin/guardianships",
        json={
            "guardian_national_id": GUARDIAN_ID,
            "dependent_national_id": patient_number(IPS),
            "kind": "legal_representative",
            "dependent_birth_date": "1990-01-02",
        },
        headers=bearer(admin_token),
    )
    assert recorded.status_code == 201, recorded.text
    guardian = bearer((await login(client, idp, GUARDIAN_ID))["access_token"])
    return child, child_id, guardian
