"""The relay's transactions around one batch, with an in-memory database and sender (no I/O):
the claim commits before anything is sent, the results are recorded in a unit of work of their
own, and a database that goes away while recording does not lose them."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from api.core.clock import FrozenClock
from notifications.relay import Relay
from notifications.relay_batch import Batch
from notifications.relay_config import RelayConfig, RelayStats
from notifications.senders.base import Push, SendResult
from tests.unit.fakes import MOMENT, FakeDatabase


class FakeSender:
    name = "fake"

    def __init__(self, log: list[str], *, fails: bool = False) -> None:
        self.log = log
        self.fails = fails
        self.sent: list[Push] = []

    async def send(self, pushes: list[Push]) -> list[SendResult]:
        self.log.append("send")
        if self.fails:
            raise RuntimeError("the provider's client broke")
        self.sent.extend(pushes)
        return [SendResult(outcome="sent", message_id=f"m{i}") for i, _ in enumerate(pushes)]

    async def aclose(self) -> None:
        return None


class Target:
    def __init__(self, push: Push) -> None:
        self.push = push


class FakeBatch:
    """A claimed batch: ``record`` writes its outcome (and counts it) in the session given."""

    def __init__(
        self, db: FakeDatabase, pushes: int, *, record_errors: list[BaseException]
    ) -> None:
        self.db = db
        self.rows = [uuid.uuid4() for _ in range(pushes)]
        self.to_send = [
            Target(Push(token=f"tok-{i}", title="t", body="b", data={})) for i in range(pushes)
        ]
        self.stats = RelayStats()
        self.summary: Counter[str] = Counter()
        self.recorded: list[list[SendResult]] = []
        self.sessions: list[Any] = []
        self._record_errors = record_errors

    async def record(self, session: Any, results: list[SendResult], now: Any) -> None:
        self.db.log.append("record")
        self.sessions.append(session)
        self.recorded.append(list(results))
        self.stats.rows["sent"] += len(self.rows)
        if self._record_errors:  # the database goes away before this attempt commits
            self.db.commit_failures.append(self._record_errors.pop(0))

    def log_summary(self, logger: Any) -> None:
        return None


def relay_on(db: FakeDatabase, sender: FakeSender) -> Relay:
    return Relay(
        db.uow,
        None,  # type: ignore[arg-type] # no Redis: run_once does not listen
        sender,  # type: ignore[arg-type]
        FrozenClock(MOMENT),
        RelayConfig(lease_seconds=60.0),
        guardians=None,  # type: ignore[arg-type] # the fake claim needs none
        worker_id="unit",
    )


def claiming(
    monkeypatch: pytest.MonkeyPatch, batch: FakeBatch | None, db: FakeDatabase
) -> list[Any]:
    claims: list[Any] = []

    async def claim(cls: type[Batch], session: Any, **kwargs: Any) -> FakeBatch | None:
        db.log.append("claim")
        claims.append((session, kwargs))
        return batch

    monkeypatch.setattr(Batch, "claim", classmethod(claim))
    return claims


async def test_nothing_due_rolls_the_claim_back_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = FakeDatabase()
    sender = FakeSender(db.log)
    claims = claiming(monkeypatch, None, db)
    assert await relay_on(db, sender).run_once() == 0
    assert len(claims) == 1
    assert claims[0][1]["worker_id"] == "unit"
    assert "rollback" in db.log
    assert "send" not in db.log
    assert db.log[-1] == "close"


async def test_the_claim_commits_before_sending_and_the_outcome_after_in_its_own_unit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = FakeDatabase()
    sender = FakeSender(db.log)
    batch = FakeBatch(db, 2, record_errors=[])
    claiming(monkeypatch, batch, db)
    assert await relay_on(db, sender).run_once() == 2
    assert db.log == [
        "begin", "claim", "commit", "close",  # phase 1: claimed rows leased and committed
        "send",  # phase 2: outside any transaction
        "begin", "record", "commit", "close",  # phase 3: outcomes in a new unit of work
    ]  # fmt: skip
    assert [push.token for push in sender.sent] == ["tok-0", "tok-1"]
    assert [r.outcome for r in batch.recorded[0]] == ["sent", "sent"]
    assert batch.sessions[0] is db.sessions[1]


async def test_a_sender_that_breaks_records_every_push_for_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = FakeDatabase()
    batch = FakeBatch(db, 3, record_errors=[])
    claiming(monkeypatch, batch, db)
    assert await relay_on(db, FakeSender(db.log, fails=True)).run_once() == 3
    assert [(r.outcome, r.error) for r in batch.recorded[0]] == [("retry", "SENDER_ERROR")] * 3


async def test_recording_is_retried_while_the_database_is_away_and_counted_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = FakeDatabase()
    away = OperationalError("COMMIT", None, ConnectionRefusedError("connection refused"))
    batch = FakeBatch(db, 1, record_errors=[away])
    claiming(monkeypatch, batch, db)
    stats = batch.stats
    assert await relay_on(db, FakeSender(db.log)).run_once() == 1
    assert db.log.count("record") == 2
    assert db.log[4:] == [
        "send",
        "begin", "record", "commit failed", "close",  # the commit failed: nothing stored
        "begin", "record", "commit", "close",  # tried again, the lease still held
    ]  # fmt: skip
    assert batch.stats is stats
    assert stats.rows["sent"] == 1  # the failed attempt's counts were dropped


async def test_a_recording_error_that_is_no_outage_is_raised_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = FakeDatabase()
    batch = FakeBatch(db, 1, record_errors=[ValueError("a constraint refused the outcome")])
    claiming(monkeypatch, batch, db)
    with pytest.raises(ValueError, match="constraint"):
        await relay_on(db, FakeSender(db.log)).run_once()
    assert db.log.count("record") == 1
