"""A PostgreSQL cluster and a Redis server of a test's own, which the test may stop and start.

The shared servers on 5432 and 6379 carry every other test: resilience tests never touch them.
Each private server keeps its port and its data folder across :meth:`stop` and :meth:`start`, so
an application pointed at it sees an outage and a recovery, not a new server; both are always
cleaned up (``with PrivatePostgres() as pg:``), their data folders removed.

- PostgreSQL: ``initdb`` into a temporary folder (trust authentication, ``fsync=off``), served by
  ``pg_ctl`` on 127.0.0.1 with its socket in that folder. PostgreSQL refuses to run as root: when
  the tests run as root, the folder belongs to the ``postgres`` OS user and the server programs run
  as that user through ``runuser``. ``PG_BIN`` names the programs' folder when
  ``pg_config --bindir`` and ``/usr/lib/postgresql/*/bin`` do not find them.
- Redis: ``redis-server`` (``REDIS_SERVER`` names another) without persistence
  (``--save "" --appendonly no``); :meth:`PrivateRedis.stop` can save first (``save=True``), so
  keys survive the restart, or not (a restart that loses every key, as a crash without
  persistence does).

When a program is missing, :func:`unavailable` skips the test locally and fails it under ``CI``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import pytest

from tests.support.tools import in_ci

IN_CI = in_ci()
POSTGRES_OS_USER = "postgres"


def unavailable(reason: str) -> None:
    """Skip (locally) or fail (under CI) a test whose private server cannot run here."""
    if IN_CI:
        pytest.fail(f"CI requires private servers: {reason}", pytrace=False)
    pytest.skip(f"{reason}; required under CI")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _accepts(port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def _wait_closed(port: int, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while _accepts(port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"127.0.0.1:{port} still accepts connections")
        time.sleep(0.02)


# --- PostgreSQL --------------------------------------------------------------------------------


def postgres_bindir() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: ``PG_BIN``, ``pg_config``, or the newest
    ``/usr/lib/postgresql/*/bin``."""
    candidates: list[Path] = []
    if os.environ.get("PG_BIN"):
        candidates.append(Path(os.environ["PG_BIN"]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            found = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            candidates.append(Path(found.stdout.strip()))
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda path: int(Path(path).parent.name) if Path(path).parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(Path(path) for path in versions)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    return None


class PrivatePostgres:
    """A PostgreSQL cluster on 127.0.0.1:``port``, user ``postgres`` without password."""

    user = "postgres"
    host = "127.0.0.1"

    def __init__(self) -> None:
        bindir = postgres_bindir()
        if bindir is None:
            unavailable("PostgreSQL server programs (initdb, pg_ctl) not found; set PG_BIN")
        assert bindir is not None
        self.bindir = bindir
        self.as_user: list[str] = []
        self._owner: pwd.struct_passwd | None = None
        if os.geteuid() == 0:  # PostgreSQL will not run as root
            try:
                self._owner = pwd.getpwnam(POSTGRES_OS_USER)
            except KeyError:
                unavailable(f"running as root and there is no {POSTGRES_OS_USER!r} OS user")
            runuser = shutil.which("runuser") or shutil.which("setpriv")
            if runuser is None:
                unavailable("running as root and neither runuser nor setpriv is installed")
            assert runuser is not None
            if runuser.endswith("runuser"):
                self.as_user = [runuser, "-u", POSTGRES_OS_USER, "--"]
            else:
                assert self._owner is not None
                self.as_user = [
                    runuser,
                    f"--reuid={self._owner.pw_uid}",
                    f"--regid={self._owner.pw_gid}",
                    "--clear-groups",
                    "--",
                ]
        # A short path: the socket file lives here, and sockets have a ~107-byte path limit.
        self.root = Path(tempfile.mkdtemp(prefix="hb-pg-", dir="/tmp"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self._initialised = False

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> PrivatePostgres:
        try:
            self.init()
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.as_user, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"},
        )

    def init(self) -> None:
        if self._owner is not None:
            os.chown(self.root, self._owner.pw_uid, self._owner.pw_gid)
        result = self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            self.user,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed: {result.stderr or result.stdout}")
        self._initialised = True

    @property
    def running(self) -> bool:
        return (
            self._initialised
            and self._run(
                str(self.bindir / "pg_ctl"), "status", "-D", str(self.data), timeout=10
            ).returncode
            == 0
        )

    def start(self, timeout: float = 30) -> None:
        """Start the server (on the same port as before, after the first start)."""
        attempts = 1 if self.port else 5
        for _ in range(attempts):
            port = self.port or free_port()
            options = (
                # fsync off: the machine does not crash in a test, only the server stops; every
                # commit still reaches the WAL before it is acknowledged (synchronous_commit on)
                f"-p {port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c max_connections=200"
            )
            result = self._run(
                str(self.bindir / "pg_ctl"),
                "start",
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-w",
                "-t",
                str(int(timeout)),
                "-o",
                options,
                timeout=timeout + 10,
            )
            if result.returncode == 0:
                self.port = port
                return
            if not self.port and "already in use" in self.log_text():
                continue  # another process took the free port meanwhile: pick another
            break
        raise RuntimeError(f"PostgreSQL did not start: {result.stderr}\n{self.log_text()[-2000:]}")

    def stop(self, mode: str = "fast", timeout: float = 30) -> None:
        """Stop the server: ``fast`` (sessions are terminated, a clean shutdown) or
        ``immediate`` (every process quits at once; crash recovery at the next start)."""
        if not self._initialised:
            return
        result = self._run(
            str(self.bindir / "pg_ctl"),
            "stop",
            "-D",
            str(self.data),
            "-m",
            mode,
            "-w",
            "-t",
            str(int(timeout)),
            timeout=timeout + 10,
        )
        if result.returncode != 0 and self.running:
            raise RuntimeError(f"PostgreSQL did not stop: {result.stderr}")
        if self.port:
            _wait_closed(self.port, 10)

    def close(self) -> None:
        """Stop the server (whatever state it is in) and remove its folder."""
        try:
            if self._initialised:
                with contextlib.suppress(Exception):
                    self.stop("immediate", timeout=20)
                self._kill_leftovers()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _kill_leftovers(self) -> None:
        """A postmaster that outlived ``pg_ctl stop`` (it never should) is killed by its pid."""
        pidfile = self.data / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(pidfile.read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    # --- use ---------------------------------------------------------------------------------

    def url(self, database: str = "postgres", driver: str = "asyncpg") -> str:
        return f"postgresql+{driver}://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create ``name``; answer its SQLAlchemy URL."""
        result = self._run(
            str(self.bindir / "createdb"),
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-U",
            self.user,
            name,
            timeout=30,
        )
        if result.returncode != 0:
            raise RuntimeError(f"createdb {name} failed: {result.stderr}")
        return self.url(name)


# --- Redis -------------------------------------------------------------------------------------


class PrivateRedis:
    """A ``redis-server`` on 127.0.0.1:``port`` without persistence."""

    host = "127.0.0.1"

    def __init__(self) -> None:
        program = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")
        if program is None:
            unavailable("redis-server not found; set REDIS_SERVER")
        assert program is not None
        self.program = program
        self.root = Path(tempfile.mkdtemp(prefix="hb-redis-", dir="/tmp"))
        self.log = self.root / "server.log"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PrivateRedis:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def url(self, db: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    def start(self, timeout: float = 15) -> None:
        """Start the server (on the same port as before, after the first start)."""
        if self.running:
            return
        attempts = 1 if self.port else 5
        for _ in range(attempts):
            port = self.port or free_port()
            with self.log.open("ab") as log:
                self.process = subprocess.Popen(
                    [
                        self.program,
                        "--port",
                        str(port),
                        "--bind",
                        self.host,
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--dir",
                        str(self.root),
                        "--daemonize",
                        "no",
                        "--protected-mode",
                        "no",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.process.poll() is None:
                if self._ping(port):
                    self.port = port
                    return
                time.sleep(0.02)
            self._terminate()
            if self.port:
                break
        raise RuntimeError(f"redis-server did not start: {self.log.read_text()[-2000:]}")

    def _ping(self, port: int) -> bool:
        try:
            with socket.create_connection((self.host, port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, *, save: bool = False, timeout: float = 15) -> None:
        """Shut the server down; with ``save`` its keys are written to disk first and come back
        at the next :meth:`start`, without it they are lost."""
        if not self.running:
            return
        assert self.process is not None
        command = b"SHUTDOWN SAVE\r\n" if save else b"SHUTDOWN NOSAVE\r\n"
        with (
            contextlib.suppress(OSError),
            socket.create_connection((self.host, self.port), timeout=2) as sock,
        ):
            sock.sendall(command)
            sock.recv(64)  # the server closes the connection as it exits
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._terminate()
        self.process = None
        if not save:  # nothing comes back at the next start, not even an earlier save
            (self.root / "dump.rdb").unlink(missing_ok=True)
        _wait_closed(self.port, 10)

    def _terminate(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def close(self) -> None:
        try:
            if self.running:
                with contextlib.suppress(Exception):
                    self.stop(timeout=5)
                self._terminate()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
