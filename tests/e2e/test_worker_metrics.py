"""``healthbook worker`` serves ``/metrics`` and ``/health/live`` on its own port: a real worker
process against PostgreSQL, Redis and the fake FCM server.

- The exposition parses and passes the checks ``promtool check metrics`` makes, behind the
  METRICS_TOKEN bearer rule; only GET and HEAD, 404 elsewhere, a malformed or oversized request
  head is a 400, a silent client is dropped after the read timeout.
- A push FCM answers with an error code moves ``healthbook_notification_push_errors_total`` for
  that code; a relay held in a send makes the outbox gauges show the waiting row and the liveness
  endpoint answer 503 until the send completes.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from api.core.metrics_server import MAX_REQUEST_BYTES
from api.core.settings import Settings
from notifications import outbox
from tests.e2e.test_relay_processes import (  # the worker-process machinery
    _citizens_with_devices,
    _turn,
    producer,
    servers,
    workers,
)
from tests.support.fake_fcm import FakeFcm
from tests.support.promlint import families, problems, value
from tests.support.server import free_port

__all__ = ["servers"]  # the fixture, imported

TOKEN = "worker-metrics-token-0123456789abcdef"


def _raw(port: int, request: bytes, timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


async def test_the_worker_serves_metrics_and_liveness(servers: Settings, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    auth = {"authorization": f"Bearer {TOKEN}"}
    with (
        FakeFcm() as fcm,
        workers(
            servers,
            fcm,
            tmp_path,
            WORKER_METRICS_PORT=str(port),
            METRICS_TOKEN=TOKEN,
            RELAY_LEASE_SECONDS="2",
            FCM_TIMEOUT_SECONDS="60",
        ) as (_, start),
        httpx.Client(base_url=base, timeout=10) as http,
    ):
        worker = start()
        worker.wait_started(timeout=180)  # a loaded machine starts it slowly

        def answers(path: str) -> int:
            try:
                return http.get(path, headers=auth).status_code
            except httpx.TransportError:
                return 0

        _wait(lambda: answers("/health/live") == 200, 60, "liveness never answered 200")
        assert http.get("/health/live").json() == {"status": "ok"}

        refused = http.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == 'Bearer realm="metrics"'
        assert http.get("/metrics", headers={"authorization": "Bearer wrong"}).status_code == 401
        scraped = http.get("/metrics", headers=auth)
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain; version=")
        assert problems(scraped.text) == []
        exposed = families(scraped.text)
        for name in (
            "process_cpu_seconds",
            "process_open_fds",
            "python_gc_collections",
            "healthbook_notification_pushes",
            "healthbook_notification_push_errors",
            "healthbook_notification_outbox_due_rows",
            "healthbook_notification_outbox_oldest_due_age_seconds",
            "healthbook_db_pool_connections",
            "healthbook_redis_pool_connections",
        ):
            assert name in exposed, name

        head = http.head("/metrics", headers=auth)
        assert (head.status_code, head.content) == (200, b"")
        posted = http.post("/metrics", headers=auth)
        assert posted.status_code == 405
        assert posted.headers["allow"] == "GET, HEAD"
        assert http.get("/", headers=auth).status_code == 404
        assert http.get("/health/ready", headers=auth).status_code == 404
        assert _raw(port, b"NOT HTTP AT ALL\r\n\r\n").startswith(b"HTTP/1.1 400 ")
        oversized = b"GET /metrics HTTP/1.1\r\nhost: x\r\nx-pad: " + b"a" * MAX_REQUEST_BYTES
        assert _raw(port, oversized + b"\r\n\r\n").startswith(b"HTTP/1.1 400 ")
        started = time.monotonic()
        assert _raw(port, b"GET /metr").startswith(b"HTTP/1.1 400 ")
        assert 4 < time.monotonic() - started < 9  # a half-sent request waits 5 s at most

        async with producer(servers) as sessionmaker:
            tokens = await _citizens_with_devices(sessionmaker, 2, 1)
            (dead_citizen, [dead]), (slow_citizen, _) = tokens.items()
            fcm.fail_token(dead, "UNREGISTERED")
            async with sessionmaker() as session:
                await outbox.enqueue(session, dead_citizen, _turn(1))
                await session.commit()

            def errors() -> float | None:
                text = http.get("/metrics", headers=auth).text
                return value(
                    text,
                    "healthbook_notification_push_errors_total",
                    outcome="failed",
                    code="UNREGISTERED",
                )

            _wait(lambda: errors() == 1, 60, "the FCM error code was not counted")

            # a relay held in a send: the row waits, the relay's cycle stops, liveness fails
            fcm.stall()
            async with sessionmaker() as session:
                await outbox.enqueue(session, slow_citizen, _turn(2))
                await session.commit()
            _wait(lambda: answers("/health/live") == 503, 30, "liveness stayed 200")
            assert http.get("/health/live").json() == {"status": "stale"}
            text = http.get("/metrics", headers=auth).text
            assert value(text, "healthbook_notification_outbox_due_rows") == 1
            age = value(text, "healthbook_notification_outbox_oldest_due_age_seconds")
            assert age is not None
            assert age > 0
            fcm.release()
            _wait(lambda: answers("/health/live") == 200, 30, "liveness did not come back")
            await asyncio.sleep(0)
        assert worker.stop() == 0
