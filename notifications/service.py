"""The citizen's side of notifications: devices, the in-app inbox and push preferences, each
use case in a unit of work of its own."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError

from api.core.clock import Clock
from api.core.errors import Conflict
from api.core.uow import UnitOfWorkFactory
from notifications import devices, inbox, preferences
from notifications.schemas import (
    DeviceRegistration,
    DeviceView,
    InboxItem,
    InboxPage,
    NotificationPreferences,
    ReadAllResult,
)


class NotificationService:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def devices(self, citizen_id: uuid.UUID) -> list[DeviceView]:
        async with self._uow() as uow:
            return await devices.list_for(uow.session, citizen_id)

    async def register_device(
        self, citizen_id: uuid.UUID, installation_id: str, data: DeviceRegistration
    ) -> tuple[DeviceView, bool]:
        """Create or refresh the device; whether it was created. Another request registering
        the same token or installation at the same moment makes this one try again."""
        for attempt in range(1, devices.REGISTER_TRIES + 1):
            try:
                async with self._uow() as uow:
                    return await devices.register(
                        uow.session, citizen_id, installation_id, data, self._clock.now()
                    )
            except IntegrityError:
                if attempt == devices.REGISTER_TRIES:
                    raise Conflict("the device was registered concurrently; retry") from None
        raise AssertionError("unreachable")

    async def remove_device(self, citizen_id: uuid.UUID, installation_id: str) -> None:
        async with self._uow() as uow:
            await devices.remove(uow.session, citizen_id, installation_id)

    async def inbox(
        self,
        citizen_id: uuid.UUID,
        *,
        cursor: str | None,
        limit: int,
        unread_only: bool,
        accept_language: str | None,
    ) -> InboxPage:
        async with self._uow() as uow:
            return await inbox.page(
                uow.session,
                citizen_id,
                cursor=cursor,
                limit=limit,
                unread_only=unread_only,
                locale=inbox.pick_locale(accept_language),
            )

    async def mark_all_read(self, citizen_id: uuid.UUID) -> ReadAllResult:
        async with self._uow() as uow:
            return await inbox.mark_all_read(uow.session, citizen_id, now=self._clock.now())

    async def mark_read(
        self, citizen_id: uuid.UUID, notification_id: uuid.UUID, *, accept_language: str | None
    ) -> InboxItem:
        async with self._uow() as uow:
            return await inbox.mark_read(
                uow.session,
                citizen_id,
                notification_id,
                locale=inbox.pick_locale(accept_language),
                now=self._clock.now(),
            )

    async def preferences(self, citizen_id: uuid.UUID) -> NotificationPreferences:
        async with self._uow() as uow:
            return await preferences.get(uow.session, citizen_id)

    async def put_preferences(
        self, citizen_id: uuid.UUID, data: NotificationPreferences
    ) -> NotificationPreferences:
        """Replace the preferences. When two first ``PUT``s race, the one that loses tries again
        and updates the row the other created."""
        preferences.check(data)
        for attempt in (1, 2):
            try:
                async with self._uow() as uow:
                    return await preferences.put(uow.session, citizen_id, data, self._clock.now())
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")
