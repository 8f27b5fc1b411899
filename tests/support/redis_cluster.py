"""A local three-master Redis Cluster on loopback, built from Debian's ``redis-server``.

One cluster per test process (each pytest-xdist worker starts its own, so workers never flush
each other's keys): three ``redis-server`` processes with ``--cluster-enabled yes`` on free ports,
joined by ``redis-cli --cluster create``; every master is flushed before each test that uses it.
The processes are stopped when the session ends, whatever happened in between (and, on Linux,
they die with the test process if it is killed outright).

Outside CI a missing ``redis-server`` or ``redis-cli`` skips the cluster tests with a reason;
with ``CI`` set it fails them.
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tests.support.backends import IN_CI

HOST = "127.0.0.1"
MASTERS = 3
START_TIMEOUT_S = 30.0


def require_redis_binaries() -> tuple[str, str]:
    """Paths of ``redis-server`` and ``redis-cli``; skip (locally) or fail (CI) without them."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server and cli:
        return server, cli
    message = "redis-server or redis-cli (Debian package redis-server) is not on PATH"
    if IN_CI:
        pytest.fail(f"CI requires a local Redis Cluster: {message}", pytrace=False)
    pytest.skip(f"no local Redis Cluster: {message}; it is required under CI")


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on now (held open together, so they are distinct)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the server gets SIGTERM when the test process dies, even by SIGKILL."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


class NodeExited(RuntimeError):
    """A ``redis-server`` stopped while the cluster was starting."""


class LocalRedisCluster:
    """Three masters (slots split evenly by ``redis-cli``), no replicas, nothing persisted."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.server, self.cli = require_redis_binaries()
        self.ports: list[int] = []
        self.bus_ports: list[int] = []
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        """``REDIS_URL`` of the service (one seed node; the client discovers the rest)."""
        return f"redis://{HOST}:{self.ports[0]}/0"

    def start(self, attempts: int = 3) -> LocalRedisCluster:
        """Start the nodes and join them; new ports and another try when a node exits at once
        (another process took a port between choosing it and binding it)."""
        for _ in range(attempts - 1):
            with contextlib.suppress(NodeExited):
                return self._start_once()
        return self._start_once()

    def _start_once(self) -> LocalRedisCluster:
        ports = free_ports(2 * MASTERS)
        self.ports, self.bus_ports = ports[:MASTERS], ports[MASTERS:]
        for stale in self.directory.glob("nodes-*.conf"):
            stale.unlink()
        try:
            for port, bus_port in zip(self.ports, self.bus_ports, strict=True):
                self.processes.append(self._spawn(port, bus_port))
            deadline = time.monotonic() + START_TIMEOUT_S
            for port in self.ports:
                self._wait(lambda port=port: self._ask(port, "PING"), deadline, f"node {port}")
            self._create()
            self._wait(self._converged, deadline, "cluster_state:ok on every node")
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, port: int, bus_port: int) -> subprocess.Popen[bytes]:
        log = (self.directory / f"redis-{port}.log").open("wb")
        try:
            return subprocess.Popen(
                [
                    self.server,
                    "--bind",
                    HOST,
                    "--port",
                    str(port),
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    str(self.directory / f"nodes-{port}.conf"),
                    "--cluster-port",
                    str(bus_port),
                    "--cluster-node-timeout",
                    "5000",
                    "--dir",
                    str(self.directory),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # runs between fork and exec: only async-signal-safe work (one prctl call)
                preexec_fn=_die_with_parent,
            )
        finally:
            log.close()

    def _create(self) -> None:
        nodes = [f"{HOST}:{port}" for port in self.ports]
        result = subprocess.run(
            [self.cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True,
            timeout=START_TIMEOUT_S,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                "redis-cli --cluster create failed: "
                + (result.stdout + result.stderr).decode(errors="replace")[-2000:]
            )

    def _converged(self) -> bool:
        """Every node has all slots served and knows every other node."""
        for port in self.ports:
            info = self._ask(port, "CLUSTER", "INFO").decode()
            fields = dict(line.split(":", 1) for line in info.split() if ":" in line)
            if fields.get("cluster_state") != "ok" or fields.get("cluster_known_nodes") != str(
                MASTERS
            ):
                return False
        return True

    def _wait(self, check: Callable[[], object], deadline: float, what: str) -> None:
        last: BaseException | None = None
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise NodeExited(
                        f"redis-server exited with {process.returncode}: {self.logs()}"
                    )
            try:
                if check():
                    return
            except redis.RedisError as exc:
                last = exc
            time.sleep(0.05)
        raise RuntimeError(f"Redis Cluster not ready in {START_TIMEOUT_S} s ({what}): {last}")

    @staticmethod
    def _ask(port: int, *command: str) -> bytes:
        """One command to one node, on a connection of its own."""
        client = redis.Redis(host=HOST, port=port, socket_timeout=5, socket_connect_timeout=5)
        try:
            return client.execute_command(*command)
        finally:
            client.close()

    def flush(self) -> None:
        """Empty every master (the cluster's only database, 0)."""
        for port in self.ports:
            self._ask(port, "FLUSHALL")

    def logs(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")[-1000:]
            for path in sorted(self.directory.glob("redis-*.log"))
        )

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.processes.clear()
