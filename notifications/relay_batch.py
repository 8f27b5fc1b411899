"""One relay batch: claim and prepare (phase 1), then record the senders' results (phase 3).

See ``notifications.relay`` for how the phases fit together and why.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
from sqlalchemy import Select, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.backoff import retry_delay
from api.core.dialect import PerDialect, dialect_of
from notifications import preferences
from notifications.messages import DEFAULT_LOCALE, LOCALES, NotificationKind, from_payload, zone
from notifications.models import (
    DEAD,
    DELIVERED,
    FAILED,
    FINAL_DELIVERY_STATES,
    PENDING,
    RETRY,
    SENT,
    SKIPPED,
    Delivery,
    Device,
    InboxEntry,
    OutboxEntry,
    rowcount,
)
from notifications.outbox import push_data
from notifications.policy import suppression
from notifications.relay_config import Guardians, RelayConfig, RelayStats
from notifications.senders.base import Push, SendResult, token_hint

_STATUS_OF = {"sent": DELIVERED, "invalid_token": FAILED, "rejected": FAILED, "retry": RETRY}


@dataclass
class ClaimedRow:
    id: uuid.UUID
    citizen_id: uuid.UUID
    kind: str
    attempts: int
    message: NotificationKind | None
    error: str | None = None


@dataclass
class Target:
    """One notification on one device."""

    row: ClaimedRow
    device_id: uuid.UUID
    recipient_id: uuid.UUID
    token: str
    attempts: int
    push: Push = field(default=None)  # type: ignore[assignment]  # set for every target sent
    skip: str | None = None


@dataclass(frozen=True)
class Decision:
    """What becomes of a claimed row once its pushes were sent: ``sent`` (finished), ``retry``
    (due again in ``delay`` seconds; only its failed devices are sent to then) or ``dead``
    (dead-lettered). ``error``: what is stored as its last error."""

    action: Literal["sent", "retry", "dead"]
    error: str | None = None
    delay: float = 0.0


def decide(
    row: ClaimedRow,
    failures: Sequence[SendResult],
    config: RelayConfig,
    *,
    rng: random.Random | None = None,
) -> Decision:
    """The row's fate from the sender's answers for its devices that asked for a retry
    (``failures``). A payload that does not decode is dead at once; a row whose devices all
    answered finally is sent; otherwise it is retried with backoff (never sooner than the
    longest ``Retry-After``), until its ``max_attempts``-th claim, after which it is dead."""
    if row.message is None:
        return Decision("dead", row.error)
    if not failures:
        return Decision("sent")
    error = f"{failures[-1].error} on {len(failures)} device(s)"
    if row.attempts >= config.max_attempts:
        return Decision("dead", f"{error} after {row.attempts} attempts")
    retry_after = max(
        (f.retry_after for f in failures if f.retry_after is not None),
        default=None,
    )
    delay = retry_delay(
        row.attempts,
        base=config.retry_base_seconds,
        cap=config.retry_max_seconds,
        retry_after=retry_after,
        rng=rng,
    )
    return Decision("retry", error, delay)


_INSERT_INBOX = PerDialect(lambda dialect: dialect.insert_ignoring(InboxEntry))
_UPSERT_DELIVERIES = PerDialect(
    lambda dialect: dialect.upsert(
        Delivery,
        on=[Delivery.outbox_id, Delivery.device_id],
        update=("status", "attempts", "error", "provider_message_id", "updated_at"),
    )
)


class Batch:
    def __init__(
        self,
        *,
        token: uuid.UUID,
        rows: list[ClaimedRow],
        config: RelayConfig,
        guardians: Guardians,
        stats: RelayStats,
        worker_id: str,
    ) -> None:
        self.token = token
        self.rows = rows
        self.config = config
        self.guardians = guardians
        self.stats = stats
        self.worker_id = worker_id
        self.to_send: list[Target] = []
        self.skipped: list[Target] = []
        self.summary: Counter[str] = Counter()

    @classmethod
    async def claim(
        cls,
        session: AsyncSession,
        *,
        token: uuid.UUID,
        now: dt.datetime,
        config: RelayConfig,
        guardians: Guardians,
        stats: RelayStats,
        worker_id: str,
    ) -> Batch | None:
        """Claim due rows and prepare them (the caller commits). ``None``: nothing due."""
        due: Select[Any] = (
            select(OutboxEntry.id)
            .where(
                OutboxEntry.status == PENDING,
                or_(OutboxEntry.due_at.is_(None), OutboxEntry.due_at <= now),
                or_(OutboxEntry.lease_until.is_(None), OutboxEntry.lease_until <= now),
            )
            .order_by(OutboxEntry.created_at)
            .limit(config.batch_size)
        )
        candidates = dialect_of(session).skip_locked(due)
        claimed = await session.execute(
            update(OutboxEntry)
            .where(OutboxEntry.id.in_(candidates))
            .values(
                lease_until=now + config.lease,
                claim_token=token,
                claimed_by=worker_id,
                attempts=OutboxEntry.attempts + 1,
                updated_at=now,
            )
            .returning(
                OutboxEntry.id,
                OutboxEntry.citizen_id,
                OutboxEntry.kind,
                OutboxEntry.payload,
                OutboxEntry.attempts,
            )
            .execution_options(synchronize_session=False)
        )
        rows: list[ClaimedRow] = []
        for row_id, citizen_id, kind, payload, attempts in claimed.all():
            try:
                message: NotificationKind | None = from_payload(payload)
                error = None
            except msgspec.ValidationError as exc:
                message, error = None, f"undecodable payload: {exc}"[:500]
            rows.append(ClaimedRow(row_id, citizen_id, kind, attempts, message, error))
        if not rows:
            return None
        stats.rows["claimed"] += len(rows)
        batch = cls(
            token=token,
            rows=rows,
            config=config,
            guardians=guardians,
            stats=stats,
            worker_id=worker_id,
        )
        await batch._prepare(session, now)
        return batch

    async def _prepare(self, session: AsyncSession, now: dt.datetime) -> None:
        live = [row for row in self.rows if row.message is not None]
        recipients: dict[uuid.UUID, list[uuid.UUID]] = {}
        for row in live:
            if row.citizen_id not in recipients:
                guardians = await self.guardians(
                    session, row.citizen_id, now, self.config.child_max_age
                )
                recipients[row.citizen_id] = [row.citizen_id, *guardians]
        everyone = {citizen for group in recipients.values() for citizen in group}
        devices: dict[uuid.UUID, list[Any]] = defaultdict(list)
        if everyone:
            rows = await session.execute(
                select(Device.id, Device.citizen_id, Device.token, Device.locale)
                .where(Device.citizen_id.in_(everyone))
                .order_by(Device.created_at)
            )
            for device in rows:
                devices[device.citizen_id].append(device)
        prefs = await preferences.for_citizens(session, everyone)
        prior: dict[tuple[uuid.UUID, uuid.UUID], tuple[str, int]] = {}
        reclaimed = [row.id for row in live if row.attempts > 1]
        if reclaimed:
            outcomes = await session.execute(
                select(
                    Delivery.outbox_id, Delivery.device_id, Delivery.status, Delivery.attempts
                ).where(Delivery.outbox_id.in_(reclaimed))
            )
            for outbox_id, device_id, status, attempts in outcomes:
                prior[(outbox_id, device_id)] = (status, attempts)
        if live:
            await session.execute(
                _INSERT_INBOX.of(session),
                [
                    {
                        "id": row.id,
                        "citizen_id": row.citizen_id,
                        "kind": row.kind,
                        "payload": _payload(row),
                        "created_at": now,
                        "read_at": None,
                    }
                    for row in live
                ],
            )
        for row in live:
            message = row.message
            assert message is not None
            data = push_data(message, row.id, row.citizen_id)
            for recipient in recipients[row.citizen_id]:
                pref = prefs.get(recipient)
                timezone = preferences.timezone_of(pref)
                reason = suppression(
                    message,
                    muted_kinds=pref.muted_kinds if pref else None,
                    quiet_start=pref.quiet_start if pref else None,
                    quiet_end=pref.quiet_end if pref else None,
                    timezone=timezone,
                    now=now,
                )
                for device in devices[recipient]:
                    status, attempts = prior.get((row.id, device.id), (None, 0))
                    if status in FINAL_DELIVERY_STATES:
                        continue
                    target = Target(row, device.id, recipient, device.token, attempts + 1)
                    if reason is not None:
                        target.skip = reason
                        self.skipped.append(target)
                        continue
                    locale = device.locale if device.locale in LOCALES else DEFAULT_LOCALE
                    title, body = message.push_texts(
                        locale,  # type: ignore[arg-type]  # checked in LOCALES just above
                        zone(timezone),
                        for_dependent=recipient != row.citizen_id,
                    )
                    target.push = Push(
                        token=device.token,
                        title=title,
                        body=body,
                        data=data,
                        priority=message.priority,
                        ttl_seconds=message.ttl_seconds,
                        collapse_key=message.collapse_key(),
                    )
                    self.to_send.append(target)

    async def record(
        self, session: AsyncSession, results: Sequence[SendResult], now: dt.datetime
    ) -> None:
        """Write the outcome per device and finish, reschedule or dead-letter each row."""
        outcomes: list[dict[str, Any]] = []
        failures: dict[uuid.UUID, list[SendResult]] = defaultdict(list)
        for target, result in zip(self.to_send, results, strict=True):
            status = _STATUS_OF[result.outcome]
            self.summary[status] += 1
            self.stats.pushes[status] += 1
            if result.error is not None and result.outcome != "sent":
                self.stats.count_error(status, result.error)
            outcomes.append(_outcome(target, status, result.error, result.message_id, now))
            if result.outcome == "retry":
                failures[target.row.id].append(result)
            elif result.outcome == "invalid_token":
                removed = await session.execute(
                    delete(Device)
                    .where(Device.id == target.device_id, Device.token == target.token)
                    .execution_options(synchronize_session=False)
                )
                if rowcount(removed):
                    self.stats.pushes["token_removed"] += 1
                    logging.getLogger("healthbook.notifications.relay").info(
                        "device token removed",
                        extra={"token": token_hint(target.token), "fcm_error": result.error},
                    )
        for target in self.skipped:
            self.summary[SKIPPED] += 1
            self.stats.pushes[SKIPPED] += 1
            outcomes.append(_outcome(target, SKIPPED, target.skip, None, now))
        if outcomes:
            await session.execute(_UPSERT_DELIVERIES.of(session), outcomes)
        fenced = (OutboxEntry.claim_token == self.token, OutboxEntry.status == PENDING)
        done: list[uuid.UUID] = []
        for row in self.rows:
            decision = decide(row, failures.get(row.id, []), self.config)
            if decision.action == "dead":
                await self._dead_letter(session, row, decision.error, now)
            elif decision.action == "retry":
                await session.execute(
                    update(OutboxEntry)
                    .where(OutboxEntry.id == row.id, *fenced)
                    .values(
                        due_at=now + dt.timedelta(seconds=decision.delay),
                        lease_until=None,
                        claim_token=None,
                        last_error=decision.error,
                        updated_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
                self.stats.rows["retried"] += 1
                self.summary["rows_retried"] += 1
            else:
                done.append(row.id)
        if done:
            await session.execute(
                update(OutboxEntry)
                .where(OutboxEntry.id.in_(done), *fenced)
                .values(
                    status=SENT, finished_at=now, lease_until=None, claim_token=None, updated_at=now
                )
                .execution_options(synchronize_session=False)
            )
            self.stats.rows["sent"] += len(done)

    async def _dead_letter(
        self, session: AsyncSession, row: ClaimedRow, error: str | None, now: dt.datetime
    ) -> None:
        await session.execute(
            update(OutboxEntry)
            .where(
                OutboxEntry.id == row.id,
                OutboxEntry.claim_token == self.token,
                OutboxEntry.status == PENDING,
            )
            .values(
                status=DEAD,
                last_error=error,
                finished_at=now,
                lease_until=None,
                claim_token=None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        self.stats.rows[DEAD] += 1
        self.summary["rows_dead"] += 1
        logging.getLogger("healthbook.notifications.relay").warning(
            "notification dead-lettered",
            extra={"notification": {"id": str(row.id), "kind": row.kind, "error": error}},
        )

    def log_summary(self, logger: logging.Logger) -> None:
        logger.info(
            "relay batch",
            extra={"relay": {"worker": self.worker_id, "rows": len(self.rows), **self.summary}},
        )


def _payload(row: ClaimedRow) -> dict[str, Any]:
    assert row.message is not None
    return msgspec.to_builtins(row.message)


def _outcome(
    target: Target, status: str, error: str | None, message_id: str | None, now: dt.datetime
) -> dict[str, Any]:
    return {
        "outbox_id": target.row.id,
        "device_id": target.device_id,
        "citizen_id": target.recipient_id,
        "status": status,
        "attempts": target.attempts,
        "error": error,
        "provider_message_id": message_id,
        "updated_at": now,
    }
