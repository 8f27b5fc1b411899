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
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

logger = logging.getLogger("healthbook.uow")

Effect = Callable[[], Awaitable[object]]
"""Something to do once the transaction has committed."""


class UnitOfWork:
    """One session and one transaction at a time; see the module's docstring."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._session: AsyncSession | None = None
        self._effects: list[Effect] = []

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the unit of work is used outside its 'async with' block")
        return self._session

    def after_commit(self, effect: Effect) -> None:
        """Run ``effect`` after the next successful commit (never after a rollback)."""
        self._effects.append(effect)

    async def commit(self) -> None:
        """Commit, then run the effects registered until now."""
        await self.session.commit()
        effects, self._effects = self._effects, []
        for effect in effects:
            try:
                await effect()
            except Exception:  # the transaction stands: one failed effect must not hide it
                logger.exception("an after-commit effect failed")

    async def rollback(self) -> None:
        """Roll back and forget the effects registered until now."""
        self._effects.clear()
        await self.session.rollback()

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
