"""REDIS_CLUSTER: validated with REDIS_URL, and the client it builds (no I/O: clients connect on
their first command). The cluster itself is exercised in tests/integration/test_redis_cluster.py."""

import pytest
import redis.asyncio as redis_asyncio
from redis.crc import key_slot

from api.checkin.services.check_in import used_marker as _marker
from api.core.ratelimit import RateLimiter
from api.core.redis import CLUSTER_RETRIES, ClusterClient, create_redis
from api.core.settings import Settings, SettingsError
from api.health_book.book import book_key
from api.identity.citizens import profile_key


def test_redis_cluster_is_read_from_the_environment() -> None:
    settings = Settings.from_env({"REDIS_URL": "redis://redis-0:6379/0", "REDIS_CLUSTER": "true"})
    assert settings.redis.cluster is True
    assert Settings.from_env({"REDIS_URL": "redis://redis:6379/3"}).redis.cluster is False


@pytest.mark.parametrize(
    ("environment", "problem"),
    [
        ({"REDIS_CLUSTER": "true"}, "REDIS_CLUSTER needs REDIS_URL"),
        (
            {"REDIS_CLUSTER": "true", "REDIS_URL": "redis://redis-0:6379/2"},
            "has only database 0",
        ),
        (
            {"REDIS_CLUSTER": "true", "REDIS_URL": "unix:///run/redis.sock"},
            "redis://host:port",
        ),
    ],
)
def test_redis_cluster_settings_that_cannot_work_are_refused(
    environment: dict[str, str], problem: str
) -> None:
    with pytest.raises(SettingsError, match=problem):
        Settings.from_env(environment)


def test_a_database_path_is_optional_on_a_cluster() -> None:
    for url in ("redis://redis-0:6379", "redis://redis-0:6379/", "rediss://u:p@redis-0:6380/0"):
        assert Settings.from_env({"REDIS_URL": url, "REDIS_CLUSTER": "true"}).redis.cluster


def test_the_cluster_client_gets_the_same_timeouts_and_few_retries() -> None:
    settings = Settings.from_flat(
        redis_url="redis://redis-0:6379/0", redis_cluster=True, redis_timeout_seconds=1.5
    )
    client = create_redis(settings)
    assert isinstance(client, ClusterClient)
    assert client.connection_kwargs["socket_timeout"] == 1.5
    assert client.connection_kwargs["socket_connect_timeout"] == 1.5
    assert client.retry.get_retries() == CLUSTER_RETRIES
    single = create_redis(settings.replace(redis_cluster=False))
    assert type(single) is redis_asyncio.Redis


def _tag(key: str) -> str:
    opened = key.index("{")
    return key[opened + 1 : key.index("}", opened)]


def test_every_key_carries_a_hash_tag_of_what_it_belongs_to() -> None:
    """What a key is about decides its slot: one citizen's keys share a slot, a limiter's sorted
    set (the rate limiter's MULTI) is one slot, a check-in marker is its token's."""
    citizen = "4b0a6f7e-1c1e-4a8e-9d53-2d8b1d5c9a10"
    assert _tag(profile_key(citizen)) == _tag(book_key(citizen)) == citizen
    assert key_slot(profile_key(citizen).encode()) == key_slot(book_key(citizen).encode())
    assert _tag(RateLimiter.key("booking", f"citizen:{citizen}")) == f"booking:citizen:{citizen}"
    assert _tag(_marker("jti-1")) == "jti-1"


def test_the_single_server_client_waits_for_a_pooled_connection() -> None:
    settings = Settings.from_flat(redis_url="redis://redis:6379/0", redis_max_connections=7)
    client = create_redis(settings)
    pool = client.connection_pool
    assert isinstance(pool, redis_asyncio.BlockingConnectionPool)
    assert pool.max_connections == 7
    assert pool.timeout == settings.redis.timeout_seconds
    assert pool.connection_kwargs["socket_timeout"] == settings.redis.timeout_seconds
    assert Settings.from_env({"REDIS_MAX_CONNECTIONS": "250"}).redis.max_connections == 250
    with pytest.raises(SettingsError, match="REDIS_MAX_CONNECTIONS"):
        Settings.from_env({"REDIS_MAX_CONNECTIONS": "0"})
