"""Messages and enqueue shortcuts for the notification tests."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from litestar import Litestar

from notifications import messages, outbox

STARTS = dt.datetime(2030, 3, 4, 1, 30, tzinfo=dt.UTC)  # 08:30 in Hà Nội


def booked(**overrides: Any) -> messages.AppointmentBooked:
    values: dict[str, Any] = {
        "appointment_id": f"apt-{uuid.uuid4().hex[:8]}",
        "facility_name": "Bệnh viện Ung bướu Hà Nội",
        "department_name": "Khoa Nội",
        "starts_at": STARTS,
    }
    values.update(overrides)
    return messages.AppointmentBooked(**values)


def reminder(**overrides: Any) -> messages.AppointmentReminder:
    values: dict[str, Any] = {
        "appointment_id": f"apt-{uuid.uuid4().hex[:8]}",
        "facility_name": "Bệnh viện Bạch Mai",
        "starts_at": STARTS,
    }
    values.update(overrides)
    return messages.AppointmentReminder(**values)


def your_turn(**overrides: Any) -> messages.YourTurn:
    values: dict[str, Any] = {
        "ticket_id": f"t-{uuid.uuid4().hex[:8]}",
        "facility_name": "Bệnh viện Bạch Mai",
        "department_name": "Khoa Nhi",
        "queue_number": 42,
        "room": "Phòng 203",
    }
    values.update(overrides)
    return messages.YourTurn(**values)


async def enqueue(
    app: Litestar,
    citizen_id: uuid.UUID,
    message: messages.NotificationKind,
    *,
    commit: bool = True,
    **options: Any,
) -> uuid.UUID | None:
    """Enqueue in a transaction of its own, then commit (or roll back)."""
    async with app.state.sessionmaker() as session:
        notification_id = await outbox.enqueue(
            session, citizen_id, message, now=app.state.clock.now(), **options
        )
        if commit:
            await session.commit()
        else:
            await session.rollback()
    return notification_id
