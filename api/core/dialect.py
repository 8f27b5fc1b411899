"""The database adapter: every difference between PostgreSQL and SQLite the use cases meet.

Use cases and stores ask :func:`dialect_of` (a session, connection or engine) for the adapter of
their backend and call its methods; they never test the backend's name. What differs:

- **upserts** (``INSERT … ON CONFLICT DO NOTHING / DO UPDATE … RETURNING``): both backends speak
  them (``RETURNING`` too: SQLite 3.35+), through each dialect's own ``insert`` construct
  (:meth:`Dialect.insert`, :meth:`Dialect.insert_ignoring`, :meth:`Dialect.upsert`);
- **statements built once**: building a statement costs more CPU than running a cached one, so
  hot statements are built for every dialect at import (:class:`PerDialect`);
- **writers**: PostgreSQL locks rows; SQLite has one writer at a time, so a writing use case
  starts with ``BEGIN IMMEDIATE`` (:meth:`Dialect.begin_write`) and row locks are not needed
  (:meth:`Dialect.lock_rows`); ``SELECT … FOR UPDATE SKIP LOCKED`` claims
  (:meth:`Dialect.skip_locked`) compile to a plain ``SELECT`` on SQLite, where the single writer
  gives the same guarantee;
- **request locks** (:meth:`Dialect.lock_request`): a transaction-scoped advisory lock on
  PostgreSQL; on SQLite the single writer plus a registry of the requests in flight in this
  process (kept per session factory, see :func:`request_locks`);
- **data-modifying CTEs** (several writes in one round trip): PostgreSQL only
  (:attr:`Dialect.writable_ctes`);
- **timestamps**: SQLite stores naive values (:attr:`Dialect.naive_datetimes`);
- **roles and grants**: PostgreSQL only (:attr:`Dialect.has_roles`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import Dialect as SqlDialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

T = TypeVar("T")
T_row = TypeVar("T_row", bound=tuple[Any, ...])

REQUEST_LOCKS = "hb_request_locks"
"""The key in ``Session.info`` of the registry of requests in flight (SQLite's request locks)."""
_HELD = "hb_request_lock_held"
_HOOKED = "hb_request_lock_hooked"

DialectInsert = postgresql.Insert | sqlite.Insert
Bind = AsyncSession | Session | AsyncConnection | Connection | AsyncEngine | Engine | SqlDialect


def request_locks() -> dict[str, Any]:
    """The ``info`` a session factory gives its sessions: a fresh registry of the requests in
    flight, shared by the sessions of that factory (one per process and engine)."""
    return {REQUEST_LOCKS: set()}


class Dialect(ABC):
    """What one backend does differently. One immutable instance per backend (:data:`POSTGRESQL`,
    :data:`SQLITE`); :func:`dialect_of` picks it."""

    name: str
    writable_ctes: bool
    """Whether ``WITH x AS (INSERT … RETURNING …)`` works: several writes in one round trip."""
    naive_datetimes: bool
    """Whether timestamps are stored without a zone (the value is UTC)."""
    has_roles: bool
    """Whether the database has roles and grants (``healthbook db grant``)."""
    batch_alter: bool
    """Whether a migration changes a table by copying it (Alembic's batch mode): SQLite's
    ``ALTER TABLE`` cannot drop or change a column or a constraint."""

    def __repr__(self) -> str:
        return f"<Dialect {self.name}>"

    # --- statements -----------------------------------------------------------------------------

    @abstractmethod
    def insert(self, table: Any) -> DialectInsert:
        """``INSERT`` with this dialect's ``ON CONFLICT`` clauses and ``RETURNING``."""

    def insert_ignoring(self, table: Any, *, on: Iterable[Any] | None = None) -> DialectInsert:
        """``INSERT … ON CONFLICT [(on)] DO NOTHING``: a row that would conflict is skipped."""
        return self.insert(table).on_conflict_do_nothing(
            index_elements=list(on) if on is not None else None
        )

    def upsert(
        self,
        table: Any,
        *,
        on: Iterable[Any],
        update: Mapping[str, Any] | Iterable[str],
        where: ColumnElement[bool] | None = None,
    ) -> DialectInsert:
        """``INSERT … ON CONFLICT (on) DO UPDATE SET … [WHERE where]``. ``update``: the values to
        set (expressions), or the names of the columns to take from the row being inserted."""
        statement = self.insert(table)
        values = (
            dict(update)
            if isinstance(update, Mapping)
            else {name: statement.excluded[name] for name in update}
        )
        return statement.on_conflict_do_update(index_elements=list(on), set_=values, where=where)

    def skip_locked(self, statement: Select[T_row]) -> Select[T_row]:
        """``statement … FOR UPDATE SKIP LOCKED``: claim rows no other transaction holds (relays
        sharing a queue). SQLite compiles it to a plain ``SELECT``: its single writer claims
        alone."""
        return statement.with_for_update(skip_locked=True)

    # --- transactions ---------------------------------------------------------------------------

    @abstractmethod
    async def begin_write(self, session: AsyncSession) -> None:
        """Open the session's transaction as a writer (when a use case will write)."""

    @abstractmethod
    async def lock_rows(self, session: AsyncSession, statement: Select[Any]) -> None:
        """Lock the rows ``statement`` selects until the transaction ends (serialises writers of
        the same rows)."""

    @abstractmethod
    async def lock_request(self, session: AsyncSession, request: int, then: int) -> bool:
        """Try to take the lock of one request (e.g. an ``Idempotency-Key``) for the rest of the
        transaction; when it is free, wait for the lock ``then`` too (e.g. a citizen's bookings)
        and open the transaction as a writer. ``False``: the same request is in flight (nothing
        taken). Both locks end with the transaction, committed or rolled back."""


class PostgreSQL(Dialect):
    name = "postgresql"
    writable_ctes = True
    naive_datetimes = False
    has_roles = True
    batch_alter = False

    _LOCK_REQUEST = text(
        "SELECT CASE WHEN pg_try_advisory_xact_lock(:request) "
        "THEN (SELECT true FROM pg_advisory_xact_lock(:then)) ELSE false END"
    )

    def insert(self, table: Any) -> DialectInsert:
        return postgresql.insert(table)

    async def begin_write(self, session: AsyncSession) -> None:
        """Nothing: writers lock the rows they write."""

    async def lock_rows(self, session: AsyncSession, statement: Select[Any]) -> None:
        await session.execute(statement.with_for_update())

    async def lock_request(self, session: AsyncSession, request: int, then: int) -> bool:
        # one round trip: the request's lock, and the second one only when the first was free
        taken = await session.scalar(self._LOCK_REQUEST, {"request": request, "then": then})
        return bool(taken)


class SQLite(Dialect):
    name = "sqlite"
    writable_ctes = False
    naive_datetimes = True
    has_roles = False
    batch_alter = True

    def insert(self, table: Any) -> DialectInsert:
        return sqlite.insert(table)

    async def lock_rows(self, session: AsyncSession, statement: Select[Any]) -> None:
        """Nothing: a writing transaction is the only writer."""

    async def begin_write(self, session: AsyncSession) -> None:
        """``BEGIN IMMEDIATE``: concurrent writers queue on the database lock (``busy_timeout``)
        instead of failing with "database is locked" when a reader tries to become a writer. A
        no-op when the connection already is in a transaction."""
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection  # the aiosqlite connection; None only once closed
        assert driver is not None, "a live connection has its driver connection"
        if not driver.in_transaction:
            await connection.exec_driver_sql("BEGIN IMMEDIATE")

    async def lock_request(self, session: AsyncSession, request: int, then: int) -> bool:
        """The writer's lock serialises everything (``then`` included) across processes; the
        registry of the session factory tells a duplicate in flight in this process at once,
        instead of letting it queue behind the first."""
        info = session.info
        try:
            held: set[int] = info[REQUEST_LOCKS]
        except KeyError:
            raise RuntimeError(
                "request locks need a session made by api.core.db.create_sessionmaker"
            ) from None
        if request in held:
            return False
        held.add(request)
        info.setdefault(_HELD, []).append(request)
        if not info.get(_HOOKED):
            info[_HOOKED] = True
            event.listen(session.sync_session, "after_transaction_end", _release_request)
        await self.begin_write(session)
        return True


def _release_request(sync_session: Session, transaction: Any) -> None:
    if transaction.parent is not None:  # a savepoint: the transaction goes on
        return
    held = sync_session.info[REQUEST_LOCKS]
    for request in sync_session.info.pop(_HELD, ()):
        held.discard(request)


POSTGRESQL = PostgreSQL()
SQLITE = SQLite()
DIALECTS: tuple[Dialect, ...] = (POSTGRESQL, SQLITE)
_BY_NAME = {dialect.name: dialect for dialect in DIALECTS}


def dialect_of(bind: Bind) -> Dialect:
    """The adapter of the backend behind a session, connection or engine (or a SQLAlchemy
    dialect)."""
    if isinstance(bind, SqlDialect):  # first: column types ask at every bound value
        name = bind.name
    elif isinstance(bind, AsyncSession | Session):
        name = bind.get_bind().dialect.name
    else:
        name = bind.dialect.name
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unsupported database backend: {name}") from None


class PerDialect(Generic[T]):
    """A value (typically a statement) built once for every dialect at import, then picked for
    the backend at hand."""

    __slots__ = ("_values",)

    def __init__(self, build: Callable[[Dialect], T]) -> None:
        self._values = {dialect: build(dialect) for dialect in DIALECTS}

    def of(self, bind: Bind) -> T:
        return self._values[dialect_of(bind)]


async def begin_write(session: AsyncSession) -> None:
    """Open the session's transaction as a writer: ``BEGIN IMMEDIATE`` on SQLite (writers queue on
    the database lock instead of failing when a reader upgrades), nothing on PostgreSQL."""
    await dialect_of(session).begin_write(session)
