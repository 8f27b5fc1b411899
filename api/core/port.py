"""Refuse a port another server already listens on, before anything is started.

granian binds every worker's socket with ``SO_REUSEPORT``, so a second ``healthbook serve`` on a
port already served would start anyway and share the port with the first (requests landing on
either at random). :func:`claim_port` runs first and answers :class:`PortUnavailable` instead:

1. It takes a claim on ``host:port`` among healthbook processes: a Unix socket bound to a name in
   the abstract namespace (Linux; the kernel releases it when the last process holding it exits,
   nothing is left on disk). Two servers started on the same port at the same moment cannot both
   pass the check below; the claim is held for the life of the process and handed to the server
   a demo starts (``inherit``).
2. It binds a plain TCP socket to ``host:port`` (``SO_REUSEADDR`` so that connections of a
   server stopped a moment ago, in TIME_WAIT, do not count; no ``SO_REUSEPORT``, so any listener,
   granian's included, makes the bind fail), then closes it for granian to bind.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from dataclasses import dataclass

CLAIM_FD_ENV = "HEALTHBOOK_PORT_CLAIM_FD"
"""The descriptor of a claim handed down to a child process (``healthbook demo`` → ``serve``)."""


class PortUnavailable(Exception):
    """The address cannot be served here; ``str()`` is a one-line message for the operator."""

    def __init__(self, host: str, port: int, reason: str, in_use: bool) -> None:
        self.host, self.port, self.in_use = host, port, in_use
        super().__init__(reason)


@dataclass
class PortClaim:
    host: str
    port: int
    lock: socket.socket | None
    """The abstract-namespace socket that holds the claim (None where there is none: not Linux)."""

    def inherit(self) -> dict[str, str]:
        """Make the claim inheritable by a child process; the environment that tells it which
        descriptor to pick up (pass the descriptor with ``pass_fds``)."""
        if self.lock is None:
            return {}
        self.lock.set_inheritable(True)
        return {CLAIM_FD_ENV: str(self.lock.fileno())}

    @property
    def fds(self) -> tuple[int, ...]:
        return () if self.lock is None else (self.lock.fileno(),)


def _claim_name(host: str, port: int) -> bytes:
    return f"\0healthbook-port/{host}/{port}".encode()


def _inherited_claim(name: bytes) -> socket.socket | None:
    """The claim a parent handed down for this very address, if it did."""
    value = os.environ.get(CLAIM_FD_ENV)
    if not value:
        return None
    try:
        lock = socket.socket(fileno=int(value))
    except (ValueError, OSError):
        return None
    if lock.family == socket.AF_UNIX and lock.getsockname() == name:
        return lock
    lock.detach()  # not ours to close
    return None


def _take_claim(host: str, port: int) -> socket.socket | None:
    if not sys.platform.startswith("linux"):
        return None
    name = _claim_name(host, port)
    inherited = _inherited_claim(name)
    if inherited is not None:
        return inherited
    lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        lock.bind(name)
    except OSError as exc:
        lock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortUnavailable(
                host, port, "another healthbook process is starting or serving there", True
            ) from exc
        return None  # no abstract namespace here: the plain bind below still decides
    return lock


def _check_bind(host: str, port: int) -> None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PortUnavailable(
            host, port, f"cannot resolve {host!r}: {exc.strerror}", False
        ) from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            in_use = exc.errno == errno.EADDRINUSE
            reason = "already in use" if in_use else (exc.strerror or str(exc))
            raise PortUnavailable(host, port, reason, in_use) from exc


def claim_port(host: str, port: int) -> PortClaim:
    """Claim ``host:port`` for this process and check nothing listens there; raise
    :class:`PortUnavailable` otherwise. Port 0 (any free port) is not checked."""
    if port == 0:
        return PortClaim(host, port, None)
    lock = _take_claim(host, port)
    try:
        _check_bind(host, port)
    except PortUnavailable:
        if lock is not None:
            lock.close()
        raise
    return PortClaim(host, port, lock)
