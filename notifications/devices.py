"""Devices: a citizen's phones and their FCM registration tokens.

The app calls ``PUT /citizens/me/devices/{installation_id}`` at every start and whenever FCM gives
it a new token. A token belongs to one device row only: registering it on another installation or
another account moves it there (a phone that changed hands, or whose user logged in as someone
else, stops getting the previous owner's notifications). Devices not seen for
``DEVICE_STALE_DAYS`` are pruned by the relay, and FCM's "unregistered" answers delete them at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.errors import InvalidInput, NotFound
from notifications.models import Device, rowcount
from notifications.schemas import DeviceRegistration, DeviceView

logger = logging.getLogger("healthbook.notifications.devices")

INSTALLATION_ID = re.compile(r"^[A-Za-z0-9._:\-]{8,128}$")


def _view(device: Device) -> DeviceView:
    return DeviceView(
        installation_id=device.installation_id,
        platform=device.platform,
        locale=device.locale,
        app_version=device.app_version,
        created_at=device.created_at,
        updated_at=device.updated_at,
        last_seen_at=device.last_seen_at,
    )


def _check_installation_id(installation_id: str) -> None:
    if not INSTALLATION_ID.match(installation_id):
        raise InvalidInput(
            "installation_id must be 8 to 128 characters of A-Z a-z 0-9 . _ : -",
            extra={
                "errors": [
                    {
                        "field": "installation_id",
                        "source": "path",
                        "detail": "8 to 128 characters of A-Z a-z 0-9 . _ : -",
                    }
                ]
            },
        )


REGISTER_TRIES = 3
"""How often a registration is tried when a concurrent one took the same token or installation
first (each try in a transaction of its own)."""


async def register(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    installation_id: str,
    data: DeviceRegistration,
    now: dt.datetime,
) -> tuple[DeviceView, bool]:
    """Create or refresh the device in the caller's transaction; returns its view and whether it
    was created. A concurrent registration of the same token or installation makes the commit
    (or this flush) fail with ``IntegrityError``: the caller tries again in a new transaction."""
    _check_installation_id(installation_id)
    return await _register_once(session, citizen_id, installation_id, data, now)


async def _register_once(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    installation_id: str,
    data: DeviceRegistration,
    now: dt.datetime,
) -> tuple[DeviceView, bool]:
    # The token moves: no other installation, of this citizen or another, keeps it.
    moved = await session.execute(
        delete(Device)
        .where(
            Device.token == data.token,
            or_(Device.citizen_id != citizen_id, Device.installation_id != installation_id),
        )
        .execution_options(synchronize_session=False)
    )
    if rowcount(moved):
        logger.info("push token moved to another device registration")
    device = await session.scalar(
        select(Device).where(
            Device.citizen_id == citizen_id, Device.installation_id == installation_id
        )
    )
    created = device is None
    if device is None:
        device = Device(
            id=uuid.uuid4(),
            citizen_id=citizen_id,
            installation_id=installation_id,
            created_at=now,
        )
        session.add(device)
    device.token = data.token
    device.platform = data.platform
    device.locale = data.locale
    device.app_version = data.app_version
    device.updated_at = now
    device.last_seen_at = now
    await session.flush()
    return _view(device), created


async def remove(session: AsyncSession, citizen_id: uuid.UUID, installation_id: str) -> None:
    """Unregister a device (the app does this at logout; the caller's unit of work commits)."""
    _check_installation_id(installation_id)
    result = await session.execute(
        delete(Device)
        .where(Device.citizen_id == citizen_id, Device.installation_id == installation_id)
        .execution_options(synchronize_session=False)
    )
    if not rowcount(result):
        raise NotFound("no such device")


async def list_for(session: AsyncSession, citizen_id: uuid.UUID) -> list[DeviceView]:
    rows = await session.scalars(
        select(Device).where(Device.citizen_id == citizen_id).order_by(Device.created_at)
    )
    return [_view(device) for device in rows]


async def prune_stale(session: AsyncSession, seen_before: dt.datetime) -> int:
    """Delete devices not seen since ``seen_before`` (the caller commits)."""
    result = await session.execute(
        delete(Device)
        .where(Device.last_seen_at < seen_before)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)
