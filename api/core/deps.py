"""Dependencies shared by every domain: the request's database session and the Redis client."""

from __future__ import annotations

from collections.abc import AsyncIterator

from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.db import session_scope
from api.core.redis import RedisClient


async def provide_db_session(state: State) -> AsyncIterator[AsyncSession]:
    async for session in session_scope(state.sessionmaker):
        yield session


def provide_redis(state: State) -> RedisClient:
    return state.redis
