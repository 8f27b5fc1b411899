"""Which failures answer 503 (a backing service is away) and which stay 500 (a bug)."""

from __future__ import annotations

import pytest
from redis import exceptions as redis_errors
from sqlalchemy import exc as sa_errors

from api.core.outages import unavailable_service


class _DriverError(Exception):
    """What a PostgreSQL driver raises, with its SQLSTATE."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _raised(exc: BaseException, cause: BaseException | None = None) -> BaseException:
    try:
        raise exc from cause
    except BaseException as caught:  # the test wants it with its traceback
        return caught


@pytest.mark.parametrize(
    ("exc", "service"),
    [
        (redis_errors.ConnectionError("Error 111 connecting"), "redis"),
        (redis_errors.TimeoutError("Timeout reading from socket"), "redis"),
        (redis_errors.BusyLoadingError("loading the dataset"), "redis"),
        (sa_errors.TimeoutError("QueuePool limit reached"), "database"),
        (sa_errors.OperationalError("SELECT 1", {}, Exception("closed")), "database"),
        (sa_errors.InterfaceError("SELECT 1", {}, Exception("connection is closed")), "database"),
        (sa_errors.DBAPIError("SELECT 1", {}, _DriverError("57P01")), "database"),
        (sa_errors.DBAPIError("SELECT 1", {}, _DriverError("08006")), "database"),
        (sa_errors.DBAPIError("SELECT 1", {}, _DriverError("53300")), "database"),
        (_DriverError("57P03"), "database"),  # cannot connect now: the server is starting
        (ConnectionRefusedError(111, "Connection refused"), "backing service"),
        (TimeoutError(), "backing service"),
    ],
)
def test_a_backing_service_away_is_named(exc: BaseException, service: str) -> None:
    assert unavailable_service(_raised(exc)) == service


def test_a_disconnect_the_driver_flagged_is_the_database() -> None:
    error = sa_errors.DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True)
    assert unavailable_service(error) == "database"


def test_the_cause_counts() -> None:
    wrapped = _raised(RuntimeError("while booking"), redis_errors.ConnectionError("refused"))
    assert unavailable_service(wrapped) == "redis"


@pytest.mark.parametrize(
    "exc",
    [
        sa_errors.IntegrityError("INSERT", {}, _DriverError("23505")),
        sa_errors.ProgrammingError("SELEC", {}, _DriverError("42601")),
        sa_errors.DBAPIError("SELECT 1", {}, _DriverError("22P02")),
        redis_errors.ResponseError("WRONGTYPE"),
        ValueError("a bug"),
        KeyError("a bug"),
    ],
)
def test_everything_else_stays_a_500(exc: BaseException) -> None:
    assert unavailable_service(_raised(exc)) is None


def test_a_refusal_inside_a_driver_is_named_by_its_module() -> None:
    namespace: dict[str, object] = {"__name__": "asyncpg.connect_utils"}
    exec(  # a frame whose module is the driver's, as a raw refusal has
        "def connect():\n    raise ConnectionRefusedError(111, 'Connection refused')\n",
        namespace,
    )
    with pytest.raises(ConnectionRefusedError) as caught:
        namespace["connect"]()  # type: ignore[operator]
    assert unavailable_service(caught.value) == "database"
