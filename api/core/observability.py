"""Request id, Prometheus metrics and the JSON access log, as one lean ASGI middleware.

One middleware instead of three keeps the per-request cost low: it reads the clock twice, labels
the metrics with the matched route *template* (never the raw path, which can carry identifiers),
and writes one log line. The request id comes from a well-formed ``X-Request-ID`` header or is
generated, is echoed on the response and is visible to log records through a context variable.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import sys
import time
import uuid
from typing import TYPE_CHECKING, Any

import msgspec
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._\-]{8,64}$")
_REQUEST_ID_HEADER = b"x-request-id"
_UNMATCHED = "<unmatched>"

access_logger = logging.getLogger("healthbook.access")


class Metrics:
    """The service's Prometheus metrics, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "healthbook_http_requests_total",
            "HTTP requests by method, route template and status code.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "healthbook_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ("method", "route"),
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )

    def exposition(self) -> tuple[bytes, str]:
        """Text exposition; across granian workers when PROMETHEUS_MULTIPROC_DIR is set."""
        multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if multiproc_dir:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=multiproc_dir)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class RequestContextMiddleware:
    """Pure ASGI middleware: request id, metrics by route template, access log line."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, access_log: bool) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        # Label children are cached per (method, route, status): prometheus_client's .labels()
        # costs a lock and a dict lookup each call.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = None
        for name, value in scope["headers"]:
            if name == _REQUEST_ID_HEADER:
                candidate = value.decode("latin-1")
                if _REQUEST_ID_OK.match(candidate):
                    request_id = candidate
                break
        if request_id is None:
            request_id = uuid.uuid4().hex
        token = request_id_var.set(request_id)
        encoded_id = request_id.encode("latin-1")
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                headers.append((_REQUEST_ID_HEADER, encoded_id))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("path_template") or _UNMATCHED
            method = scope["method"]
            self._observe(method, route, status, elapsed)
            if self.access_log:
                access_logger.info(
                    "request",
                    extra={
                        "http": {
                            "method": method,
                            "route": route,
                            "status": status,
                            "duration_ms": round(elapsed * 1000, 3),
                        }
                    },
                )
            request_id_var.reset(token)

    def _observe(self, method: str, route: str, status: int, elapsed: float) -> None:
        counter_key = (method, route, status)
        counter = self._counters.get(counter_key)
        if counter is None:
            counter = self.metrics.requests.labels(method, route, str(status))
            self._counters[counter_key] = counter
        counter.inc()
        histogram_key = (method, route)
        histogram = self._histograms.get(histogram_key)
        if histogram is None:
            histogram = self.metrics.latency.labels(method, route)
            self._histograms[histogram_key] = histogram
        histogram.observe(elapsed)


_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}
_encoder = msgspec.json.Encoder(enc_hook=str)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, structured extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            entry["exc"] = self.formatException(record.exc_info)
        return _encoder.encode(entry).decode()


_base_record_factory = logging.getLogRecordFactory()


def _record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Stamp each record with the request id current where it was made."""
    record = _base_record_factory(*args, **kwargs)
    request_id = request_id_var.get()
    if request_id is not None:
        record.request_id = request_id
    return record


def configure_logging(level: str) -> None:
    """Route every logger through one JSON handler on stderr (idempotent)."""
    logging.setLogRecordFactory(_record_with_request_id)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_healthbook", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._healthbook = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # Frameworks log their own request lines and tracebacks; ours carry the request id.
    for noisy in ("granian.access", "httpx", "httpcore", "aiosqlite", "asyncio", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
