"""The worker's heartbeat file and what the liveness check makes of it."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from api.core.settings import Settings
from api.identity.citizens import guardians_of
from api.worker import heartbeat_interval, heartbeat_max_age
from notifications import heartbeat


def test_written_read_and_aged(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "worker.heartbeat"
    assert heartbeat.read(path) is None
    heartbeat.write(path, 1_000.5)
    assert heartbeat.read(path) == 1_000.5
    assert heartbeat.age(path, now=1_010.5) == 10.0
    assert heartbeat.age(path, now=900.0) == 0.0  # a clock step back is not "old"
    assert [p.name for p in path.parent.iterdir()] == ["worker.heartbeat"]  # no temporary left
    path.write_text("not a time")
    assert heartbeat.read(path) is None
    heartbeat.remove(path)
    heartbeat.remove(path)  # twice is fine
    assert not path.exists()


async def test_beat_rewrites_the_file_and_removes_it_when_cancelled(tmp_path: Path) -> None:
    path = tmp_path / "worker.heartbeat"
    times = iter(range(100, 200))
    task = asyncio.create_task(heartbeat.beat(path, lambda: float(next(times)), 0.01))
    deadline = time.monotonic() + 5
    while (heartbeat.read(path) or 0) < 103:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert not path.exists()


def test_the_default_limit_allows_polls_and_one_lease() -> None:
    settings = Settings.from_flat(relay_poll_seconds=5.0, relay_lease_seconds=60.0)
    assert heartbeat_interval(settings) == 5.0
    assert heartbeat_max_age(settings) == 75.0
    assert heartbeat_interval(Settings.from_flat(relay_poll_seconds=0.01)) == 0.2
    default = Settings().notifications.effective_worker_heartbeat_file
    assert default.name == "healthbook-worker.heartbeat"
    assert Settings.from_flat(
        worker_heartbeat_file="/run/x"
    ).notifications.effective_worker_heartbeat_file == Path("/run/x")


@pytest.mark.parametrize(
    ("age", "args", "code", "said"),
    [
        (1.0, [], 0, "worker alive"),
        (74.0, [], 0, "worker alive"),
        (76.0, [], 1, "hung"),
        (5.0, ["--max-age", "3"], 1, "hung"),
        (None, [], 1, "no worker heartbeat"),
    ],
)
def test_worker_alive(
    tmp_path: Path, age: float | None, args: list[str], code: int, said: str
) -> None:
    path = tmp_path / "worker.heartbeat"
    if age is not None:
        heartbeat.write(path, time.time() - age)
    result = CliRunner().invoke(
        main,
        ["worker-alive", *args],
        env={"WORKER_HEARTBEAT_FILE": str(path), "RELAY_POLL_SECONDS": "5"},
    )
    assert result.exit_code == code, result.output
    assert said in result.output


async def test_a_stuck_lane_holds_the_relays_last_cycle_back(monkeypatch) -> None:
    """Two lanes: one goes round, the other sits in one step; the relay's last cycle is the
    stuck lane's, so the heartbeat goes stale although half the relay still works."""
    from notifications.relay import Relay
    from notifications.relay_config import RelayConfig

    release = asyncio.Event()
    calls = 0

    async def run_once(self) -> int:
        nonlocal calls
        calls += 1
        if calls == 2:  # the second lane's first batch never ends (until released)
            await release.wait()
        return 0

    async def maintenance(self) -> dict[str, int]:
        return {}

    monkeypatch.setattr(Relay, "run_once", run_once)
    monkeypatch.setattr(Relay, "maintenance", maintenance)
    relay = Relay(
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        RelayConfig(poll_seconds=0.01),
        guardians=guardians_of,
        worker_id="test",
    )
    lanes = [asyncio.create_task(relay._lane(index)) for index in range(2)]
    try:
        await asyncio.sleep(0.3)
        stuck_since = relay.last_cycle
        assert time.time() - stuck_since >= 0.25
        release.set()
        await asyncio.sleep(0.1)
        assert time.time() - relay.last_cycle < 0.1
    finally:
        relay._stopping.set()
        relay.wake()
        await asyncio.gather(*lanes, return_exceptions=True)


async def test_a_heartbeat_that_cannot_be_written_is_logged_and_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="healthbook.worker")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")  # the heartbeat's folder is a file: every write fails
    path = blocker / "worker.heartbeat"
    task = asyncio.create_task(heartbeat.beat(path, time.time, 0.01))
    try:
        await asyncio.sleep(0.1)
        assert not task.done()  # still beating (trying)
        errors = [r for r in caplog.records if "cannot write the worker heartbeat" in r.message]
        assert len(errors) == 1  # said once, not at every beat
        blocker.unlink()  # the disk is writable again
        deadline = time.monotonic() + 5
        while heartbeat.read(path) is None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        assert any("written again" in r.message for r in caplog.records)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
