"""Which exceptions mean "a backing service is away" (an answer of 503, not 500).

When PostgreSQL or Redis stops, restarts or cannot be reached, the drivers raise from wherever a
request happened to touch them: a connection refused at connect, a connection the server closed
under a query, a pool with no connection to give within ``DATABASE_TIMEOUT_SECONDS``, a Redis
command that cannot connect or times out. None of these is a bug in the request; the error
handlers answer them ``503 service-unavailable`` with ``Retry-After`` instead of a 500, and log
one line (no traceback) naming the service. Whatever the request had written was in its
transaction, which the failure rolled back.

Everything else (an integrity error, a Redis command error, a programming error) stays a 500.
"""

from __future__ import annotations

from types import TracebackType

from redis import exceptions as redis_errors
from sqlalchemy import exc as sa_errors

RETRY_AFTER_SECONDS = 2
"""What ``Retry-After`` says on a 503 for a backing service (restarts take seconds)."""

# SQLSTATE classes and codes of "the server cannot serve this connection now": connection
# exceptions (08), insufficient resources such as too many connections (53), and operator
# intervention: admin or crash shutdown, cannot connect now (57P01..57P03).
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53")
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})

_DATABASE_MODULES = ("asyncpg", "sqlalchemy", "aiosqlite", "sqlite3")
_REDIS_MODULES = ("redis", "hiredis")


def _chain(exc: BaseException, depth: int = 8) -> list[BaseException]:
    """The exception and what caused it (``__cause__``, else ``__context__``), a few deep."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(seen) < depth and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _sqlstate(exc: BaseException | None) -> str | None:
    code = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    return code if isinstance(code, str) else None


def _unavailable_sqlstate(code: str | None) -> bool:
    return code is not None and (
        code.startswith(_UNAVAILABLE_SQLSTATE_CLASSES) or code in _UNAVAILABLE_SQLSTATES
    )


def _raised_in(tb: TracebackType | None) -> str | None:
    """``database`` or ``redis``, by the driver module the innermost matching frame is in."""
    found: str | None = None
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        root = module.split(".", 1)[0]
        if root in _DATABASE_MODULES:
            found = "database"
        elif root in _REDIS_MODULES:
            found = "redis"
        tb = tb.tb_next
    return found


def unavailable_service(exc: BaseException) -> str | None:
    """``database``, ``redis`` or ``backing service`` when ``exc`` says one cannot be reached
    or answer now; ``None`` for any other failure."""
    for error in _chain(exc):
        if isinstance(error, redis_errors.ConnectionError | redis_errors.TimeoutError):
            return "redis"  # BusyLoadingError (Redis still loading its data) is one too
        if isinstance(error, sa_errors.TimeoutError):
            return "database"  # no pooled connection within the pool timeout
        if isinstance(error, sa_errors.DBAPIError):
            if error.connection_invalidated or isinstance(
                error, sa_errors.OperationalError | sa_errors.InterfaceError
            ):
                return "database"
            if _unavailable_sqlstate(_sqlstate(error.orig)):
                return "database"
            return None  # an integrity or programming error: a real 500
        if _unavailable_sqlstate(_sqlstate(error)):
            return "database"
        if isinstance(error, ConnectionError | TimeoutError):
            # refused, reset or timed out below the drivers (asyncpg connects raise these raw)
            return _raised_in(error.__traceback__) or "backing service"
    return None
