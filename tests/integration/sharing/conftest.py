"""Sharing tests: the app on both backend pairs with a frozen clock, and a citizen whose book
holds a published IPS sample (``owner_of``, as in the health book's tests)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from litestar import Litestar

from api.app import create_app
from api.core.clock import FrozenClock
from api.core.settings import Settings
from tests.integration.health_book.conftest import owner_of
from tests.support.running import app_client

__all__ = ["owner_of"]

SHARES = "/citizens/me/shares"


@pytest.fixture
def app(settings: Settings, clock: FrozenClock) -> Litestar:
    return create_app(settings, clock=clock)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(app) as http:
        yield http


def path_of(url: str) -> str:
    """The path of one of the service's absolute URLs (the test client has its own host)."""
    return urlsplit(url).path


def in_days(clock: FrozenClock, days: float) -> str:
    return (clock.now() + dt.timedelta(days=days)).isoformat()


async def share(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    clock: FrozenClock,
    *,
    path: str = SHARES,
    **fields: Any,
) -> dict[str, Any]:
    body = {"expires_at": in_days(clock, 7), **fields}
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()
