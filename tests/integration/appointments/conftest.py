"""Appointment tests: the app on both backend pairs with a frozen clock, facility ``01001`` with
two departments and a hospital client, and citizens logged in through the test identity
provider."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar

from api.app import create_app
from api.core.clock import FrozenClock
from api.core.settings import Settings
from tests.support.auth import bearer
from tests.support.hospital import Hospital
from tests.support.running import app_client

HANOI = dt.timezone(dt.timedelta(hours=7))
_numbers = itertools.count(1)


@pytest.fixture
def app(settings: Settings, clock: FrozenClock) -> Litestar:
    return create_app(settings, clock=clock)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(app) as http:
        yield http


@dataclass
class Clinic:
    """Facility ``01001`` (Hà Nội time), departments ``NOI`` and ``NHI``, its hospital client."""

    http: httpx.AsyncClient
    hospital: Hospital
    clock: FrozenClock

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.hospital.token)

    def slot(
        self,
        ref: str,
        *,
        hours: float = 48,
        minutes: int = 30,
        capacity: int = 1,
        department: str = "NOI",
        status: str = "open",
        service: str | None = "Khám nội tổng quát",
    ) -> dict[str, Any]:
        start = (self.clock.now() + dt.timedelta(hours=hours)).astimezone(HANOI)
        body: dict[str, Any] = {
            "id": ref,
            "department": department,
            "start": start.isoformat(),
            "end": (start + dt.timedelta(minutes=minutes)).isoformat(),
            "capacity": capacity,
            "status": status,
        }
        if service is not None:
            body["service"] = service
        return body

    async def publish(self, *slots: dict[str, Any], expect: int = 200) -> dict[str, Any]:
        response = await self.http.put(
            "/hospital/slots", json={"slots": list(slots)}, headers=self.headers
        )
        assert response.status_code == expect, response.text
        return response.json()

    async def open(self, ref: str, **options: Any) -> str:
        """Publish one slot; answer our id of it."""
        result = await self.publish(self.slot(ref, **options))
        return result["slots"][0]["slot_id"]


@pytest.fixture
async def clinic(
    client: httpx.AsyncClient, hospital: Hospital, admin_token: str, clock: FrozenClock
) -> Clinic:
    for code, name in (("NOI", "Khoa Nội"), ("NHI", "Khoa Nhi")):
        response = await client.put(
            f"/admin/facilities/{hospital.facility_id}/departments/{code}",
            json={"name": name, "room": "P.101"},
            headers=bearer(admin_token),
        )
        assert response.status_code in (200, 201), response.text
    return Clinic(client, hospital, clock)


@dataclass
class Person:
    http: httpx.AsyncClient
    token: str
    id: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)

    async def book(
        self, slot_id: str, *, key: str | None = None, on_behalf_of: str = "me"
    ) -> httpx.Response:
        return await self.http.post(
            f"/citizens/{on_behalf_of}/appointments",
            json={"slot_id": slot_id},
            headers={**self.headers, "Idempotency-Key": key or str(uuid.uuid4())},
        )

    async def booked(self, slot_id: str) -> dict[str, Any]:
        response = await self.book(slot_id)
        assert response.status_code == 201, response.text
        return response.json()

    async def cancel(self, appointment_id: str, on_behalf_of: str = "me") -> httpx.Response:
        return await self.http.post(
            f"/citizens/{on_behalf_of}/appointments/{appointment_id}/cancel",
            headers=self.headers,
        )

    async def reschedule(self, appointment_id: str, slot_id: str) -> httpx.Response:
        return await self.http.post(
            f"/citizens/me/appointments/{appointment_id}/reschedule",
            json={"slot_id": slot_id},
            headers=self.headers,
        )

    async def get(self, appointment_id: str, **params: str) -> httpx.Response:
        return await self.http.get(
            f"/citizens/me/appointments/{appointment_id}", params=params, headers=self.headers
        )


@pytest.fixture
def person(
    client: httpx.AsyncClient, citizen: Callable[..., Awaitable[dict[str, Any]]]
) -> Callable[..., Awaitable[Person]]:
    """A logged-in citizen: ``await person()`` (a new national ID number each time)."""

    async def make(national_id: str | None = None, **claims: Any) -> Person:
        number = national_id or f"0010{next(_numbers):08d}"
        token = (await citizen(number, **claims))["access_token"]
        me = await client.get("/citizens/me", headers=bearer(token))
        assert me.status_code == 200, me.text
        return Person(client, token, me.json()["id"])

    return make
