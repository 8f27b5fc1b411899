"""Liveness and readiness: is this instance able to serve traffic?"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import msgspec

from api.core.errors import NOT_READY, DomainError

logger = logging.getLogger("healthbook.health")

Probe = Callable[[], Awaitable[object]]


class CheckResult(msgspec.Struct, frozen=True, omit_defaults=True):
    status: str
    """``ok`` or ``failing``."""
    detail: str | None = None


class NotReady(DomainError):
    problem = NOT_READY


async def _probe(name: str, probe: Probe, limit_seconds: float) -> tuple[str, CheckResult]:
    try:
        await asyncio.wait_for(probe(), limit_seconds)
    except TimeoutError:
        return name, CheckResult(status="failing", detail=f"no answer within {limit_seconds:g} s")
    except Exception as exc:  # any failure to answer means "not ready", whatever the driver raised
        logger.warning("readiness check %s failed: %s", name, type(exc).__name__)
        return name, CheckResult(status="failing", detail=type(exc).__name__)
    return name, CheckResult(status="ok")


async def check_readiness(probes: dict[str, Probe], limit_seconds: float) -> dict[str, CheckResult]:
    """Run every probe concurrently; raise NotReady naming the failing ones."""
    results = dict(
        await asyncio.gather(
            *(_probe(name, probe, limit_seconds) for name, probe in probes.items())
        )
    )
    failing = sorted(name for name, result in results.items() if result.status != "ok")
    if failing:
        raise NotReady(
            f"not ready: {', '.join(failing)} unreachable",
            extra={
                "failing": failing,
                "checks": {name: msgspec.to_builtins(result) for name, result in results.items()},
            },
            headers={"Retry-After": "5"},
        )
    return results
