"""Check-in tests: the appointment fixtures (frozen clock, facility ``01001`` with departments
``NOI`` and ``NHI``, its hospital client, citizens), a kiosk of that facility, appointments inside
their check-in window, and readers of QR images and the outbox."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import zxingcpp
from litestar import Litestar
from PIL import Image, ImageDraw
from sqlalchemy import select

from api.core.settings import Settings
from notifications.models import OutboxEntry
from tests.integration.appointments import conftest as appointment_fixtures
from tests.integration.appointments.conftest import Clinic, Person
from tests.support.auth import bearer, client_token, create_client_directly

FACILITY = "01001"

# the appointment tests' fixtures, shared: the app and client on the frozen clock, the clinic
# (facility 01001, departments NOI and NHI, its hospital client) and logged-in citizens
app = appointment_fixtures.app
client = appointment_fixtures.client
clinic = appointment_fixtures.clinic
person = appointment_fixtures.person


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Rate limits off: these tests send 50 and 100 check-ins from one kiosk at once, which is
    what the check-in path must survive (the limits have tests of their own)."""
    return settings.replace(rate_limit_enabled=False)


@dataclass
class Kiosk:
    http: httpx.AsyncClient
    token: str

    async def check_in(self, code: str) -> httpx.Response:
        return await self.http.post(
            "/kiosk/check-ins", json={"code": code}, headers=bearer(self.token)
        )


@pytest.fixture
def make_kiosk(app: Litestar, client: httpx.AsyncClient) -> Callable[[str], Awaitable[Kiosk]]:
    async def make(facility_id: str = FACILITY) -> Kiosk:
        credentials = await create_client_directly(app, "kiosk", facility_id=facility_id)
        return Kiosk(client, await client_token(client, credentials))

    return make


@pytest.fixture
async def kiosk(clinic: Clinic, make_kiosk: Callable[[str], Awaitable[Kiosk]]) -> Kiosk:
    return await make_kiosk(FACILITY)


@dataclass
class Booked:
    person: Person
    appointment_id: str

    async def code(self) -> dict[str, Any]:
        response = await self.person.http.get(
            f"/citizens/me/appointments/{self.appointment_id}/check-in",
            headers=self.person.headers,
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def token(self) -> str:
        return (await self.code())["token"]


@pytest.fixture
def book_soon(
    clinic: Clinic, person: Callable[..., Awaitable[Person]]
) -> Callable[..., Awaitable[list[Booked]]]:
    """``await book_soon(n)``: ``n`` appointments starting in 30 minutes (inside the check-in
    window) in one department, ten per citizen (the default limit of upcoming ones)."""
    counter = iter(range(1_000_000))

    async def make(count: int = 1, *, department: str = "NOI", minutes: float = 30) -> list[Booked]:
        slots = [
            await clinic.open(
                f"soon-{next(counter)}",
                hours=minutes / 60,
                capacity=max(1, -(-count // 10)),
                department=department,
            )
            for _ in range(min(count, 10))
        ]
        booked: list[Booked] = []
        citizens: list[Person] = []
        for n in range(count):
            if n % 10 == 0:
                citizens.append(await person())
            citizen = citizens[-1]
            appointment = await citizen.booked(slots[n % 10])
            booked.append(Booked(citizen, appointment["id"]))
        return booked

    return make


def decode_png(image: bytes) -> str:
    """The text of the one QR code in a PNG, read by zxing-cpp."""
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(image)))
    assert len(found) == 1, found
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    return found[0].text


_RUN = re.compile(r"M(\d+) (\d+)h(\d+)v1h-?\d+z")
_VIEWBOX = re.compile(r'viewBox="0 0 (\d+) (\d+)"')
_SHIFT = re.compile(r'transform="translate\((\d+) 0\)"')


def decode_svg(document: bytes, scale: int = 8) -> str:
    """Render our SVG (one path of module runs) to pixels, then read it like a photograph."""
    text = document.decode()
    width, height = (int(v) for v in _VIEWBOX.search(text).groups())  # type: ignore[union-attr]
    image = Image.new("L", (width * scale, height * scale), 255)
    draw = ImageDraw.Draw(image)
    shift = _SHIFT.search(text)
    dx = int(shift.group(1)) if shift else 0
    runs = _RUN.findall(text)
    assert runs, "no modules drawn"
    for x, y, length in runs:
        x0, y0, run = (int(x) + dx) * scale, int(y) * scale, int(length) * scale
        draw.rectangle([x0, y0, x0 + run - 1, y0 + scale - 1], fill=0)
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1, found
    return found[0].text


async def outbox(app: Litestar, kind: str, citizen_id: str | None = None) -> list[OutboxEntry]:
    async with app.state.sessionmaker() as session:
        query = select(OutboxEntry).where(OutboxEntry.kind == kind)
        if citizen_id is not None:
            query = query.where(OutboxEntry.citizen_id == uuid.UUID(citizen_id))
        return list(await session.scalars(query.order_by(OutboxEntry.created_at)))


def problem_type(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return response.json()["type"]
