"""A port already served is refused: ``healthbook serve`` and ``healthbook demo`` stop at once
with one line naming the port and how to choose another, leave nothing running, and the demo
never seeds the server that was there first."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.server import HEALTHBOOK, free_port, served, wait_ready

SERVE = "make serve PORT=N"
RUN = "make run PORT=N"
REFUSED_WITHIN_S = 15.0  # the check runs before migrations and granian: a second or two here


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DATA_DIR": str(tmp_path / "data"),
        **extra,
    }


def _listeners(port: int) -> int:
    """Sockets listening on ``port`` (any address), from /proc/net/tcp{,6}."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


def _session_members(session_id: int) -> list[int]:
    """Processes still alive in the session ``session_id`` started (field 6 of /proc/PID/stat)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == session_id:  # state ppid pgrp session: session is the 4th
            members.append(int(entry))
    return members


def _start_refused(
    command: list[str], env: dict[str, str], cwd: Path, port: int, make_hint: str
) -> None:
    """Run ``command`` in a session of its own; it must fail fast, in one line, leaving nothing."""
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=REFUSED_WITHIN_S * 2)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
            process.wait()
    elapsed = time.monotonic() - started
    lines = stderr.decode().splitlines()
    assert process.returncode == 1, (stdout, stderr)
    assert elapsed < REFUSED_WITHIN_S, elapsed
    assert lines == [
        f"healthbook: port {port} on 127.0.0.1 is already in use; "
        f"choose another with --port N (or {make_hint})"
    ], stderr
    assert _session_members(process.pid) == []  # no orphaned worker or relay


@contextmanager
def _plain_listener(port: int, reuse_port: bool) -> Iterator[socket.socket]:
    with socket.socket() as listener:
        if reuse_port:  # as granian binds: a second SO_REUSEPORT socket would share the port
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen()
        yield listener


@pytest.mark.parametrize("reuse_port", [False, True], ids=["plain", "reuseport"])
def test_serve_and_demo_refuse_a_port_another_program_listens_on(
    tmp_path: Path, reuse_port: bool
) -> None:
    port = free_port()
    with _plain_listener(port, reuse_port):
        _start_refused(
            [HEALTHBOOK, "serve", "--port", str(port)],
            _env(tmp_path),
            tmp_path,
            port,
            "make serve PORT=N",
        )
        _start_refused(
            [HEALTHBOOK, "demo", "--port", str(port)],
            _env(tmp_path),
            tmp_path,
            port,
            "make run PORT=N",
        )
        # PORT from the environment, as `make run PORT=N` and the README's HOST/PORT say
        _start_refused(
            [HEALTHBOOK, "serve"],
            _env(tmp_path, PORT=str(port)),
            tmp_path,
            port,
            "make serve PORT=N",
        )
        _start_refused([HEALTHBOOK, "demo"], _env(tmp_path, PORT=str(port)), tmp_path, port, RUN)
        assert _listeners(port) == 1
    assert not (tmp_path / "data" / "demo").exists()  # the demo made nothing


def test_a_second_serve_or_demo_beside_a_running_server_is_refused(tmp_path: Path) -> None:
    first_data = tmp_path / "first"
    with served({"DATA_DIR": str(first_data)}, cwd=tmp_path) as base:
        port = int(base.rsplit(":", 1)[1])
        jwks = httpx.get(f"{base}/.well-known/jwks.json").json()
        listening = _listeners(port)
        second = tmp_path / "second"
        second.mkdir()
        _start_refused(
            [HEALTHBOOK, "serve", "--port", str(port)],
            _env(second),
            second,
            port,
            "make serve PORT=N",
        )
        _start_refused([HEALTHBOOK, "demo", "--port", str(port)], _env(second), second, port, RUN)
        assert _listeners(port) == listening
        # every answer still comes from the first server, and the demo seeded nothing into it
        for _ in range(10):
            assert httpx.get(f"{base}/.well-known/jwks.json").json() == jwks
        assert httpx.get(f"{base}/facilities/01001").status_code == 404
        assert httpx.get(f"{base}/facilities").json()["items"] == []
    assert not (second / "data" / "demo").exists()


def test_two_servers_started_at_once_on_a_free_port_one_serves(tmp_path: Path) -> None:
    port = free_port()
    processes = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        processes.append(
            subprocess.Popen(
                [HEALTHBOOK, "serve", "--port", str(port)],
                env=_env(folder),
                cwd=folder,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        )
    try:
        deadline = time.monotonic() + 60
        while all(p.poll() is None for p in processes) and time.monotonic() < deadline:
            time.sleep(0.1)
        refused = [p for p in processes if p.poll() is not None]
        assert len(refused) == 1, "both servers started on one port"
        (winner,) = [p for p in processes if p is not refused[0]]
        wait_ready(f"http://127.0.0.1:{port}", winner)
        assert refused[0].returncode == 1
        stderr = refused[0].stderr.read().decode()  # type: ignore[union-attr]
        assert f"port {port} on 127.0.0.1 is already in use" in stderr.splitlines()[-1]
        assert _session_members(refused[0].pid) == []
        assert _listeners(port) == 1
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, 15)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, 9)
                    process.wait()
