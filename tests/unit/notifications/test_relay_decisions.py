"""What the relay decides for each claimed row once the sender has answered (no I/O)."""

from __future__ import annotations

import random
import uuid

from notifications.messages import CheckedIn
from notifications.relay_batch import ClaimedRow, decide
from notifications.relay_config import RelayConfig
from notifications.senders.base import SendResult

CONFIG = RelayConfig(max_attempts=4, retry_base_seconds=10.0, retry_max_seconds=60.0)


def row(attempts: int = 1, *, decodes: bool = True) -> ClaimedRow:
    message = CheckedIn(ticket_id="t1", facility_name="BV Test", queue_number=7)
    return ClaimedRow(
        id=uuid.uuid4(),
        citizen_id=uuid.uuid4(),
        kind="checked_in",
        attempts=attempts,
        message=message if decodes else None,
        error=None if decodes else "undecodable payload: missing field",
    )


def retry(error: str = "UNAVAILABLE", retry_after: float | None = None) -> SendResult:
    return SendResult(outcome="retry", error=error, retry_after=retry_after)


def test_a_row_whose_devices_all_answered_is_sent() -> None:
    assert decide(row(), [], CONFIG).action == "sent"


def test_a_payload_that_does_not_decode_is_dead_at_once_with_its_error() -> None:
    decision = decide(row(decodes=False), [], CONFIG)
    assert decision.action == "dead"
    assert decision.error == "undecodable payload: missing field"


def test_a_failed_device_reschedules_the_row_with_exponential_backoff() -> None:
    delays = {
        attempts: decide(row(attempts), [retry()], CONFIG, rng=random.Random(1)).delay
        for attempts in (1, 2, 3)
    }
    # base·2^(n-1), jittered in its upper half
    assert 5.0 <= delays[1] <= 10.0
    assert 10.0 <= delays[2] <= 20.0
    assert 20.0 <= delays[3] <= 40.0
    decision = decide(row(2), [retry("QUOTA_EXCEEDED"), retry("INTERNAL")], CONFIG)
    assert decision.action == "retry"
    assert decision.error == "INTERNAL on 2 device(s)"


def test_the_backoff_is_capped() -> None:
    wide = RelayConfig(max_attempts=50, retry_base_seconds=10.0, retry_max_seconds=60.0)
    for seed in range(20):
        delay = decide(row(30), [retry()], wide, rng=random.Random(seed)).delay
        assert 30.0 <= delay <= 60.0


def test_the_providers_retry_after_is_never_undercut() -> None:
    decision = decide(
        row(1),
        [retry(retry_after=None), retry(retry_after=300.0), retry(retry_after=120.0)],
        CONFIG,
    )
    assert decision.action == "retry"
    assert decision.delay == 300.0


def test_the_last_allowed_attempt_dead_letters_the_row() -> None:
    assert decide(row(3), [retry()], CONFIG).action == "retry"
    decision = decide(row(4), [retry("UNAVAILABLE")], CONFIG)
    assert decision.action == "dead"
    assert decision.error == "UNAVAILABLE on 1 device(s) after 4 attempts"
