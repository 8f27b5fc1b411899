"""The unit of work: one use case's session, its commit, and what must follow the commit.

::

    async with uow_factory() as uow:
        ...                                   # uow.session: the use case's reads and writes
        uow.after_commit(lambda: book.changed(citizen_id))

Leaving the block normally commits; leaving it with an exception rolls back. Effects registered
with :meth:`UnitOfWork.after_commit` (cache invalidation, a relay wake-up, a queue board publish,
an overview rebuild) run once the commit has succeeded, in the order they were registered, and
never after a rollback. A use case may also call :meth:`UnitOfWork.commit` itself (to end one
step and begin the next in the same block); the effects registered so far run then.

Several steps that must each stand or fall alone may share the transaction, each in a savepoint::

    async with uow.savepoint():              # SAVEPOINT … RELEASE
        ...                                   # an exception rolls back this step alone

A step's effects are forgotten when its savepoint rolls back, and :meth:`UnitOfWork.rollback`
inside a savepoint rolls back that step only. A step that opens the transaction needs no
savepoint (two round trips saved): were it to fail, the transaction holds nothing else, and it is
rolled back whole. An effect registered with a ``key`` runs once per
commit however many steps registered it (a book changed by twenty episodes is invalidated once).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, AsyncSessionTransaction, async_sessionmaker

logger = logging.getLogger("healthbook.uow")

Effect = Callable[[], Awaitable[object]]
"""Something to do once the transaction has committed."""


class UnitOfWork:
    """One session and one transaction at a time; see the module's docstring."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._session: AsyncSession | None = None
        self._effects: list[tuple[Hashable | None, Effect]] = []
        self._step = False
        self._savepoint: AsyncSessionTransaction | None = None
        """The step's savepoint; ``None`` in a step that opened the transaction."""
        self._savepoint_effects = 0

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the unit of work is used outside its 'async with' block")
        return self._session

    def after_commit(self, effect: Effect, *, key: Hashable | None = None) -> None:
        """Run ``effect`` after the next successful commit (never after a rollback); with a
        ``key``, once per commit however often an effect of that key is registered (the first
        one registered runs)."""
        self._effects.append((key, effect))

    async def commit(self) -> None:
        """Commit, then run the effects registered until now."""
        if self._step:
            raise RuntimeError("a unit of work does not commit inside a savepoint")
        await self.session.commit()
        effects, self._effects = self._effects, []
        done: set[Hashable] = set()
        for key, effect in effects:
            if key is not None:
                if key in done:
                    continue
                done.add(key)
            try:
                await effect()
            except Exception:  # the transaction stands: one failed effect must not hide it
                logger.exception("an after-commit effect failed")

    async def rollback(self) -> None:
        """Roll back and forget the effects registered until now; inside a savepoint, only what
        the savepoint did (the transaction goes on)."""
        if self._step:
            del self._effects[self._savepoint_effects :]
            savepoint = self._savepoint
            if savepoint is None:  # the step opened the transaction: it holds nothing else
                await self.session.rollback()
            elif savepoint.is_active:
                await savepoint.rollback()
            return
        self._effects.clear()
        await self.session.rollback()

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[Self]:
        """A step of the transaction that stands or falls alone: kept when the block ends
        normally, rolled back (with the effects it registered) when it raises. In a transaction
        already under way it is a savepoint (``SAVEPOINT`` … ``RELEASE``); when it opens the
        transaction, none is needed: failing, the transaction is rolled back. Not nested."""
        if self._step:
            raise RuntimeError("savepoints of a unit of work are not nested")
        session = self.session
        self._savepoint_effects = len(self._effects)
        savepoint = await session.begin_nested() if session.in_transaction() else None
        self._step, self._savepoint = True, savepoint
        try:
            yield self
        except BaseException:
            del self._effects[self._savepoint_effects :]
            if savepoint is None:
                if session.in_transaction():
                    await session.rollback()
            elif savepoint.is_active:
                await savepoint.rollback()
            raise
        else:
            if savepoint is not None and savepoint.is_active:
                await savepoint.commit()
        finally:
            self._step, self._savepoint = False, None

    async def __aenter__(self) -> Self:
        if self._session is not None:
            raise RuntimeError("a unit of work is not re-entrant")
        self._session = self._sessionmaker()
        self._effects = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        session = self.session
        try:
            if exc_type is None:
                await self.commit()
            else:
                self._effects.clear()
                if session.in_transaction():
                    await session.rollback()
        finally:
            self._effects.clear()
            self._session = None
            await session.close()


class UnitOfWorkFactory:
    """Makes a fresh :class:`UnitOfWork` per use case on the process's sessions."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self.sessionmaker)
