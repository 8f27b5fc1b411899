"""Rate limits: a sliding window per caller and class of request, kept in Redis.

Each request belongs to one class, by method and route template (or a handler's
``opt={"rate_limit": CLASS}``, or ``"exempt"``):

========== ====================================================================================
token      ``POST /auth/token``
booking    ``POST /citizens/{id}/appointments`` and its ``…/cancel``, ``…/reschedule``
checkin    ``POST /kiosk/check-ins``, ``POST …/walk-ins``
publishing ``POST /hospital/summaries…``, ``PUT /hospital/slots``, ``POST /hospital/slots/…``
reads      every other ``GET`` / ``HEAD``
writes     every other method
========== ====================================================================================

Probes and scrapes (``/health/*``, ``/metrics``) and ``OPTIONS`` are never limited.

The caller is the authenticated principal when the request carries a valid access token (a
citizen, or a hospital/kiosk/operator client), otherwise the client's IP address (taking
``TRUSTED_PROXY_HOPS`` reverse proxies into account). Each (class, caller) pair has a Redis sorted
set of the instants of the requests it made in the last window; one MULTI/EXEC round trip drops
what fell out of the window, adds this request and counts. Past the budget the request is taken
out again and answered 429 (``rate-limited``) with ``Retry-After``: the seconds until the oldest
request in the window leaves it. The window is exact: N requests pass, the N+1st is refused, and
one window after the first the next one passes. A key holds one hash-tagged name, so on Redis
Cluster each limiter is one slot. Time comes from the app's injectable clock.

Every answer carries ``RateLimit-Policy`` and ``RateLimit`` (the IETF draft
"RateLimit header fields for HTTP"): the budget, what is left and when the window frees up.

When Redis cannot be asked, classes in ``RATE_LIMIT_FAIL_CLOSED`` (booking and check-in by default:
they guard scarce places, and check-in needs Redis anyway) are answered 503; the others pass
unlimited (logins, reads and publishing keep working through a Redis outage).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import re
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from api.core.clock import Clock
from api.core.errors import DomainError, ServiceUnavailable, problem_type
from api.core.observability import EventCounter
from api.core.settings import RATE_CLASSES, Settings

if TYPE_CHECKING:
    from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

    from api.core.redis import RedisClient

logger = logging.getLogger("healthbook.ratelimit")

RATE_LIMITED = problem_type(
    "rate-limited",
    "Rate limit exceeded",
    429,
    "This caller made more requests of this class than its budget allows in the window. "
    "`Retry-After` says in how many seconds the next one is accepted; `limit_class`, `limit` and "
    "`window_seconds` say which budget it was.",
)

EXEMPT = "exempt"
_EXEMPT_PATHS = frozenset({"/health/live", "/health/ready", "/metrics"})
_RULES: tuple[tuple[frozenset[str], re.Pattern[str], str], ...] = (
    (frozenset({"POST"}), re.compile(r"^/auth/token$"), "token"),
    (
        frozenset({"POST"}),
        re.compile(r"^/citizens/[^/]+/appointments(?:/[^/]+/(?:cancel|reschedule))?$"),
        "booking",
    ),
    (frozenset({"POST"}), re.compile(r"^/kiosk/check-ins$"), "checkin"),
    (frozenset({"POST"}), re.compile(r"/walk-ins$"), "checkin"),
    (frozenset({"POST"}), re.compile(r"^/hospital/summaries(?:/.*)?$"), "publishing"),
    (frozenset({"PUT", "POST"}), re.compile(r"^/hospital/slots(?:/.*)?$"), "publishing"),
)
_READ_METHODS = frozenset({"GET", "HEAD"})
_MEMBER_PREFIX = secrets.token_hex(6)
_MEMBER_COUNTER = itertools.count(1)
_FAILURE_LOG_INTERVAL_S = 30.0


def classify(method: str, path_template: str) -> str | None:
    """The class of a request by method and route template; None when it is never limited."""
    if method == "OPTIONS" or path_template in _EXEMPT_PATHS:
        return None
    for methods, pattern, name in _RULES:
        if method in methods and pattern.search(path_template):
            return name
    return "reads" if method in _READ_METHODS else "writes"


class RateLimited(DomainError):
    problem = RATE_LIMITED


class RateLimitUnavailable(ServiceUnavailable):
    """Redis cannot be asked and this class fails closed."""


class Decision:
    """One request's outcome against its budget."""

    __slots__ = ("allowed", "limit", "remaining", "reset_seconds")

    def __init__(self, allowed: bool, limit: int, remaining: int, reset_seconds: int) -> None:
        self.allowed = allowed
        self.limit = limit
        self.remaining = remaining
        self.reset_seconds = reset_seconds


class RateLimiter:
    """Sliding-window counters in Redis, one sorted set per (class, caller)."""

    def __init__(
        self,
        redis: RedisClient,
        clock: Clock,
        budgets: dict[str, tuple[int, int] | None],
        *,
        fail_closed: frozenset[str] = frozenset(),
        max_in_flight: int = 32,
        rejections: EventCounter | None = None,
    ) -> None:
        self.redis = redis
        # 429s by class (``healthbook_rate_limit_rejections_total``)
        self.rejections = rejections or EventCounter(
            "healthbook_rate_limit_rejections", "", ("limit_class",)
        )
        # A burst of requests queues here for a moment rather than take every pooled Redis
        # connection (REDIS_MAX_CONNECTIONS) and starve the other users of the client.
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self.clock = clock
        self.budgets = budgets
        self.fail_closed = fail_closed
        self._last_failure_log = 0.0
        self.policy_headers = {
            name: f'"{name}";q={budget[0]};w={budget[1]}'
            for name, budget in budgets.items()
            if budget is not None
        }

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        redis: RedisClient,
        clock: Clock,
        rejections: EventCounter | None = None,
    ) -> RateLimiter:
        return cls(
            redis,
            clock,
            settings.rate_limits.budgets,
            fail_closed=frozenset(settings.rate_limits.fail_closed),
            rejections=rejections,
        )

    @staticmethod
    def key(limit_class: str, caller: str) -> str:
        # the whole name is the hash tag: one slot per limiter on Redis Cluster
        return f"rl:{{{limit_class}:{caller}}}"

    async def hit(self, limit_class: str, caller: str) -> Decision | None:
        """Count one request; None when the class is unlimited (or Redis is away and the class
        fails open). Raises :class:`RateLimited` past the budget, :class:`RateLimitUnavailable`
        when Redis is away and the class fails closed."""
        budget = self.budgets.get(limit_class)
        if budget is None:
            return None
        limit, window_s = budget
        now_ms = int(self.clock.now().timestamp() * 1000)
        window_ms = window_s * 1000
        key = self.key(limit_class, caller)
        member = f"{now_ms}:{_MEMBER_PREFIX}{next(_MEMBER_COUNTER):x}"
        try:
            async with self._in_flight, self.redis.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(key, "-inf", now_ms - window_ms)
                pipe.zadd(key, {member: now_ms})
                pipe.zcard(key)
                pipe.zrange(key, 0, 0, withscores=True)
                pipe.pexpire(key, window_ms + 1000)
                _, _, count, oldest, _ = await pipe.execute()
            oldest_ms = int(oldest[0][1]) if oldest else now_ms
            reset = max(1, math.ceil((oldest_ms + window_ms - now_ms) / 1000))
            if count <= limit:
                return Decision(True, limit, limit - count, reset)
            async with self._in_flight:
                await self.redis.zrem(key, member)
        except (RedisError, OSError, TimeoutError) as exc:
            return self._unavailable(limit_class, exc)
        self.rejections.inc(limit_class)
        raise RateLimited(
            f"more than {limit} requests of class {limit_class} in {window_s} s; retry in "
            f"{reset} s",
            extra={"limit_class": limit_class, "limit": limit, "window_seconds": window_s},
            headers={
                "Retry-After": str(reset),
                "RateLimit-Policy": self.policy_headers[limit_class],
                "RateLimit": f'"{limit_class}";r=0;t={reset}',
            },
        )

    def _unavailable(self, limit_class: str, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_failure_log >= _FAILURE_LOG_INTERVAL_S:
            self._last_failure_log = now
            logger.warning(
                "rate limits cannot reach Redis (%s): classes %s are refused, the others pass",
                type(exc).__name__,
                ", ".join(sorted(self.fail_closed)) or "none",
            )
        if limit_class in self.fail_closed:
            raise RateLimitUnavailable(
                "rate limits cannot be checked right now; retry shortly",
                headers={"Retry-After": "5"},
            )
        return None


def client_address(scope: Scope, trusted_hops: int) -> str:
    """The caller's IP address: the peer, or with ``trusted_hops`` proxies in front, the entry
    that many places from the right of ``X-Forwarded-For`` (what the outermost trusted proxy
    saw; anything further left is the caller's to forge)."""
    if trusted_hops > 0:
        forwarded: list[str] = []
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                forwarded.extend(
                    part.strip() for part in value.decode("latin-1").split(",") if part.strip()
                )
        if forwarded:
            return forwarded[-min(trusted_hops, len(forwarded))]
    client = scope.get("client")
    return client[0] if client else "unknown"


class RateLimitMiddleware:
    """ASGI middleware (runs after routing, before guards) applying :class:`RateLimiter`.

    ``caller_of(scope)`` names the authenticated caller (``citizen:<id>``, ``client:<id>``) or
    None; anonymous requests count against their IP address. The limiter lives on
    ``app.state.rate_limiter`` (built in the lifespan, beside the Redis client).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        caller_of: Callable[[Scope], str | None],
        trusted_proxy_hops: int = 0,
    ) -> None:
        self.app = app
        self.caller_of = caller_of
        self.trusted_proxy_hops = trusted_proxy_hops
        self._classes: dict[tuple[Any, str], str | None] = {}

    def _class_of(self, scope: HTTPScope) -> str | None:
        handler = scope.get("route_handler")
        method = scope["method"]
        cache_key = (handler, method)
        found = self._classes.get(cache_key, "")
        if found != "":
            return found
        override = handler.opt.get("rate_limit") if handler is not None else None
        if override is not None:
            found = None if override == EXEMPT else str(override)
            if found is not None and found not in RATE_CLASSES:
                raise ValueError(f"unknown rate-limit class {override!r} on a route handler")
        else:
            found = classify(method, scope.get("path_template") or scope["path"])
        self._classes[cache_key] = found
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit_class = self._class_of(scope)
        if limit_class is None:
            await self.app(scope, receive, send)
            return
        caller = self.caller_of(scope) or "ip:" + client_address(scope, self.trusted_proxy_hops)
        limiter: RateLimiter = scope["litestar_app"].state.rate_limiter
        decision = await limiter.hit(limit_class, caller)
        if decision is None:
            await self.app(scope, receive, send)
            return
        extra = (
            (b"ratelimit-policy", limiter.policy_headers[limit_class].encode()),
            (
                b"ratelimit",
                f'"{limit_class}";r={decision.remaining};t={decision.reset_seconds}'.encode(),
            ),
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers")
                if isinstance(headers, list):
                    headers.extend(extra)
                else:
                    message["headers"] = [*(headers or ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
