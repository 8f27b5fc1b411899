"""Builds the check-in components on ``app.state`` in the lifespan (after identity)."""

from __future__ import annotations

import datetime as dt

from litestar.datastructures import State

from api.checkin import live, service
from api.checkin.desk import Desk, Rules
from api.checkin.schemas import QueueStatus
from api.checkin.tokens import CheckInTokens, WalkInCodes
from api.core.settings import Settings


def build_checkin(state: State, settings: Settings) -> None:
    async def read(facility_id: str, department: str) -> QueueStatus:
        async with state.sessionmaker() as session:
            return await service.queue_status(session, facility_id, department, state.clock.now())

    state.checkin = Desk(
        tokens=CheckInTokens(
            state.signing_keys,
            issuer=settings.issuer,
            secret=state.identifier_key,
            lead=dt.timedelta(minutes=settings.checkin_lead_minutes),
            grace=dt.timedelta(minutes=settings.checkin_grace_minutes),
        ),
        codes=WalkInCodes(state.identifier_key),
        publisher=live.StatusPublisher(
            state.redis, read, interval=settings.queue_status_publish_seconds
        ),
        directory=state.directory,
        rules=Rules(
            walk_in_reuse=dt.timedelta(minutes=settings.walk_in_reuse_minutes),
            approaching_threshold=settings.queue_approaching_threshold,
            default_service_minutes=settings.queue_default_service_minutes,
        ),
    )


async def stop_checkin(state: State) -> None:
    desk: Desk | None = getattr(state, "checkin", None)
    if desk is not None:
        await desk.publisher.aclose()
