"""``healthbook demo`` leaves nothing behind: stopped, or when the service it started dies, every
process it started is gone and the port is free again."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.test_port_in_use import _listeners, _session_members
from tests.support.server import HEALTHBOOK, free_port


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _wait_gone(session: int, port: int, deadline_s: float = 20) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if not _session_members(session) and _listeners(port) == 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"left running: {_session_members(session)}; listeners {_listeners(port)}")


@pytest.mark.parametrize("how", ["demo stopped", "service killed"])
def test_nothing_is_left_running(tmp_path: Path, how: str) -> None:
    port = free_port()
    log = tmp_path / "demo.log"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DATA_DIR": str(tmp_path / "data")}
    with log.open("wb") as out:
        demo = subprocess.Popen(
            [HEALTHBOOK, "demo", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while "demo is ready" not in log.read_text(errors="replace"):
            assert demo.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        (service,) = _children(demo.pid)
        assert _children(service)  # granian's worker
        if how == "demo stopped":
            demo.send_signal(signal.SIGTERM)
            assert demo.wait(timeout=30) == 0
        else:  # the service dies without stopping its worker
            os.kill(service, signal.SIGKILL)
            assert demo.wait(timeout=30) == 1
            last = log.read_text().splitlines()[-1]
            assert last == "healthbook: the service exited with -9"
        _wait_gone(demo.pid, port)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
        for pid in _session_members(demo.pid):
            os.kill(pid, signal.SIGKILL)
