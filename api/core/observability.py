"""Request id, Prometheus metrics and the JSON access log, as one lean ASGI middleware.

One middleware instead of three keeps the per-request cost low: it reads the clock twice, labels
the metrics with the matched route *template* (never the raw path, which can carry identifiers),
and writes one log line. The request id comes from a well-formed ``X-Request-ID`` header or is
generated, is echoed on the response and is visible to log records through a context variable.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import re
import secrets
import sys
import time
from bisect import bisect_left
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

import msgspec
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._\-]{8,64}$")
_REQUEST_ID_HEADER = b"x-request-id"
_UNMATCHED = "<unmatched>"
# Generated request ids: a random per-process prefix and a counter (unique without a syscall).
_ID_PREFIX = secrets.token_hex(9)
_ID_COUNTER = itertools.count(1)

access_logger = logging.getLogger("healthbook.access")


_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _HttpCollector:
    """Request counts and latency histograms kept in plain dicts and exported at scrape time.

    Observing a request is a few dictionary and list operations (no locks, no label lookups):
    the event loop is single-threaded, and a scrape reads a consistent-enough snapshot.
    """

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, int], int] = {}
        self.histograms: dict[tuple[str, str], list[Any]] = {}

    def observe(self, method: str, route: str, status: int, elapsed: float) -> None:
        key = (method, route, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        histogram = self.histograms.get((method, route))
        if histogram is None:
            histogram = self.histograms[(method, route)] = [[0] * (len(_BUCKETS) + 1), 0.0]
        histogram[0][bisect_left(_BUCKETS, elapsed)] += 1
        histogram[1] += elapsed

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Any:
        counter = CounterMetricFamily(
            "healthbook_http_requests",
            "HTTP requests by method, route template and status code.",
            labels=("method", "route", "status"),
        )
        for (method, route, status), value in list(self.counts.items()):
            counter.add_metric((method, route, str(status)), value)
        yield counter
        latency = HistogramMetricFamily(
            "healthbook_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            labels=("method", "route"),
        )
        for (method, route), (buckets, total) in list(self.histograms.items()):
            cumulative = 0
            points = []
            for bound, count in zip((*_BUCKETS, float("inf")), buckets, strict=True):
                cumulative += count
                points.append((str(bound) if bound != float("inf") else "+Inf", cumulative))
            latency.add_metric((method, route), points, total)
        yield latency


class EventCounter:
    """A labelled counter kept in a plain dict and exported at scrape time (like the HTTP
    counts). Labels are few-valued by construction (a class, a provider, an outcome): never an
    identifier of a person."""

    def __init__(self, name: str, documentation: str, labels: tuple[str, ...]) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = labels
        self.counts: dict[tuple[str, ...], int] = {}

    def inc(self, *values: str, amount: int = 1) -> None:
        self.counts[values] = self.counts.get(values, 0) + amount

    def value(self, *values: str) -> int:
        return self.counts.get(values, 0)

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Any:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for values, count in sorted(self.counts.items()):
            family.add_metric(values, count)
        yield family


class Metrics:
    """The service's Prometheus metrics, in a registry of their own (one per app).

    Each process exposes its own: run one API worker per container and let Prometheus scrape
    every replica (the Kubernetes manifests do), or sum across workers in the query. The
    registry also holds the client library's process, garbage-collector and platform
    collectors (``process_*``, ``python_gc_*``, ``python_info``).
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        for standard in (PROCESS_COLLECTOR, GC_COLLECTOR, PLATFORM_COLLECTOR):
            self.registry.register(standard)
        self.http = _HttpCollector()
        self.registry.register(self.http)
        self.rate_limited = self.counter(
            "healthbook_rate_limit_rejections",
            "Requests refused with 429 by rate-limit class.",
            ("limit_class",),
        )
        self.jwks_fetches = self.counter(
            "healthbook_jwks_fetches",
            "Fetches of a provider's JWKS (identity providers, health card issuers) by result "
            "(ok, failed); provider: the host of its JWKS URI.",
            ("provider", "result"),
        )
        self.pulls = self.counter(
            "healthbook_pulls",
            "Pulls of a patient's records from a facility's FHIR API by facility and outcome.",
            ("facility", "outcome"),
        )

    def counter(self, name: str, documentation: str, labels: tuple[str, ...]) -> EventCounter:
        counter = EventCounter(name, documentation, labels)
        self.registry.register(counter)
        return counter

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST.replace("; charset=utf-8", "")


class RequestContextMiddleware:
    """Pure ASGI middleware: request id, metrics by route template, access log line."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, access_log: bool) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

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
            request_id = f"{_ID_PREFIX}{next(_ID_COUNTER):010x}"
        token = request_id_var.set(request_id)
        encoded_id = request_id.encode("latin-1")
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers")
                if isinstance(headers, list):
                    headers.append((_REQUEST_ID_HEADER, encoded_id))
                else:
                    message["headers"] = [*(headers or ()), (_REQUEST_ID_HEADER, encoded_id)]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("path_template") or _UNMATCHED
            method = scope["method"]
            self.metrics.http.observe(method, route, status, elapsed)
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


class _JsonStderrHandler(logging.StreamHandler[TextIO]):
    """The handler :func:`configure_logging` installs; its marker lets a second call replace it."""

    _healthbook: ClassVar[bool] = True


def configure_logging(level: str) -> None:
    """Route every logger through one JSON handler on stderr (idempotent)."""
    logging.setLogRecordFactory(_record_with_request_id)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_healthbook", False):
            root.removeHandler(handler)
    handler = _JsonStderrHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    # Frameworks log their own request lines and tracebacks; ours carry the request id.
    for noisy in ("granian.access", "httpx", "httpcore", "aiosqlite", "asyncio", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
