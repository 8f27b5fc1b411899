"""Notification tests: the app on both backend pairs, sending through firebase-admin to a fake FCM
server on loopback, with a frozen clock and the relay driven by hand (``relay.drain()``)."""

from __future__ import annotations

import datetime as dt
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select

from api.app import create_app
from api.core.clock import FrozenClock
from api.core.settings import Settings
from api.identity.citizens import find_or_create
from api.identity.models import Guardianship
from notifications import devices
from notifications.models import Delivery, Device, InboxEntry, OutboxEntry
from notifications.relay import Relay
from notifications.schemas import DeviceRegistration
from tests.support.fake_fcm import FakeFcm
from tests.support.running import app_client

_LOOPBACK = {"127.0.0.1", "localhost", "::1", "testserver"}


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail any name lookup off this machine (Google's OAuth or FCM endpoints included)."""
    refused: list[str] = []
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in _LOOPBACK:
            refused.append(name)
            raise OSError(f"tests may not leave 127.0.0.1 (tried {name})")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield refused
    assert refused == [], f"something tried to reach {refused}"


@pytest.fixture
def fcm() -> Iterator[FakeFcm]:
    with FakeFcm() as server:
        yield server


@pytest.fixture
def settings(settings: Settings, fcm: FakeFcm, tmp_path: Path) -> Settings:
    """The backend pair's settings, pushing to the fake FCM server; the relay runs by hand."""
    return settings.replace(
        fcm_credentials=str(fcm.write_service_account(tmp_path)),
        fcm_endpoint=fcm.base_url,
        fcm_max_concurrency=8,
        relay_embedded=False,
        relay_batch_size=50,
    )


@pytest.fixture
def app(settings: Settings, clock: FrozenClock) -> Litestar:
    return create_app(settings, clock=clock)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(app) as http:
        yield http


@pytest.fixture
def relay(app: Litestar, client: httpx.AsyncClient) -> Relay:
    """The app's relay (its lifespan is running through ``client``)."""
    return app.state.relay


_numbers = iter(range(10**6))


@pytest.fixture
def make_citizen(app: Litestar, client: httpx.AsyncClient) -> Callable[..., Awaitable[uuid.UUID]]:
    """A citizen straight in the database (no login): ``await make_citizen()``."""

    async def make(birth_date: dt.date | None = None) -> uuid.UUID:
        number = next(_numbers)
        async with app.state.sessionmaker() as session:
            citizen, _ = await find_or_create(
                session, f"{uuid.uuid4().hex}{number:032d}"[:64], None, app.state.clock.now()
            )
            citizen.birth_date = birth_date
            await session.commit()
            return citizen.id

    return make


@pytest.fixture
def add_device(app: Litestar, client: httpx.AsyncClient) -> Callable[..., Awaitable[str]]:
    """Register a device for a citizen; returns its token."""

    async def add(citizen_id: uuid.UUID, *, locale: str = "vi", token: str | None = None) -> str:
        token = token or f"fcm-{uuid.uuid4().hex}-{uuid.uuid4().hex[:8]}"
        async with app.state.uow() as uow:
            await devices.register(
                uow.session,
                citizen_id,
                f"install-{uuid.uuid4().hex[:12]}",
                DeviceRegistration(token=token, platform="android", locale=locale),  # type: ignore[arg-type]
                app.state.clock.now(),
            )
        return token

    return add


@pytest.fixture
def make_guardian(app: Litestar, client: httpx.AsyncClient) -> Callable[..., Awaitable[None]]:
    async def make(guardian_id: uuid.UUID, dependent_id: uuid.UUID) -> None:
        now = app.state.clock.now()
        async with app.state.sessionmaker() as session:
            session.add(
                Guardianship(
                    id=uuid.uuid4(),
                    guardian_id=guardian_id,
                    dependent_id=dependent_id,
                    kind="legal_representative",
                    source="operator",
                    valid_from=now - dt.timedelta(days=1),
                    created_at=now,
                )
            )
            await session.commit()

    return make


class Db:
    """Read-only looks at the notification tables."""

    def __init__(self, app: Litestar) -> None:
        self.app = app

    async def outbox(self) -> list[OutboxEntry]:
        async with self.app.state.sessionmaker() as session:
            return list(await session.scalars(select(OutboxEntry).order_by(OutboxEntry.created_at)))

    async def inbox_count(self, notification_id: uuid.UUID | None = None) -> int:
        query = select(func.count()).select_from(InboxEntry)
        if notification_id is not None:
            query = query.where(InboxEntry.id == notification_id)
        async with self.app.state.sessionmaker() as session:
            return int(await session.scalar(query) or 0)

    async def deliveries(self) -> list[Delivery]:
        async with self.app.state.sessionmaker() as session:
            return list(await session.scalars(select(Delivery)))

    async def device_tokens(self) -> set[str]:
        async with self.app.state.sessionmaker() as session:
            return set(await session.scalars(select(Device.token)))


@pytest.fixture
def db(app: Litestar, client: httpx.AsyncClient) -> Db:
    return Db(app)
