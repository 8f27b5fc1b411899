"""Liveness and readiness: is this instance able to serve traffic?"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable

import msgspec

from api.core.errors import NOT_READY, DomainError, NotAuthenticated, ProblemCatalogue, ProblemType
from api.core.errors import NotFound as NotFoundError
from api.core.observability import Metrics

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


class ProblemTypeDoc(msgspec.Struct, frozen=True):
    type: str
    title: str
    status: int
    description: str


def _doc(problem: ProblemType, base_url: str) -> ProblemTypeDoc:
    return ProblemTypeDoc(
        type=problem.type_uri(base_url),
        title=problem.title,
        status=problem.status,
        description=problem.description,
    )


class OperationsService:
    """What operators and orchestrators ask of an instance: readiness, metrics, problem types."""

    def __init__(
        self,
        *,
        probes: dict[str, Probe],
        probe_limit_seconds: float,
        metrics: Metrics,
        public_base_url: str,
        problems: ProblemCatalogue,
        metrics_token: str | None = None,
    ) -> None:
        self._probes = probes
        self._problems = problems
        self._metrics_token = metrics_token
        self._limit = probe_limit_seconds
        self._metrics = metrics
        self._base_url = public_base_url

    async def readiness(self) -> dict[str, CheckResult]:
        return await check_readiness(self._probes, self._limit)

    def metrics(self, authorization: str | None = None) -> tuple[bytes, str]:
        """The Prometheus exposition and its content type. With a ``metrics_token``
        (``METRICS_TOKEN``), only for the scraper that presents it as its bearer credential
        (``authorization``: the request's ``Authorization`` header)."""
        token = self._metrics_token
        if token is not None:
            scheme, _, presented = (authorization or "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                presented.strip().encode(), token.encode()
            ):
                raise NotAuthenticated(
                    "metrics need the scraper's bearer token",
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                )
        return self._metrics.exposition()

    def problem_types(self) -> list[ProblemTypeDoc]:
        return [
            _doc(problem, self._base_url)
            for problem in sorted(self._problems.values(), key=lambda p: p.slug)
        ]

    def problem_type(self, slug: str) -> ProblemTypeDoc:
        problem = self._problems.get(slug)
        if problem is None:
            raise NotFoundError(f"no problem type {slug!r}")
        return _doc(problem, self._base_url)
