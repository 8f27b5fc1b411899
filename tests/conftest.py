"""Shared fixtures: settings, app and client on both backend pairs."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar

from api.app import create_app
from api.core.clock import FrozenClock
from api.core.settings import Settings
from tests.support.auth import (
    ClientCredentials,
    client_token,
    create_client_directly,
    login,
    register_provider,
)
from tests.support.backends import (
    PostgresTemplate,
    SqliteTemplate,
    fresh_redis_url,
    require_servers,
)
from tests.support.fhir_samples import NATIONAL_ID_SYSTEMS
from tests.support.hospital import Hospital, make_hospital
from tests.support.idp import TestIdentityProvider
from tests.support.redis_cluster import LocalRedisCluster
from tests.support.running import app_client

BACKENDS = ("embedded", "servers")
CLUSTER = "cluster"
"""The third backend pair, PostgreSQL + a local three-master Redis Cluster: only for the tests
marked ``redis`` (they exercise what the service keeps in Redis)."""


def _parametrizes_backend(metafunc: pytest.Metafunc) -> bool:
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
        if "backend" in (
            [n.strip() for n in names.split(",")] if isinstance(names, str) else names
        ):
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses ``backend`` runs on both pairs; a test marked ``redis`` also on the
    Redis Cluster. A test may name its pairs itself (``parametrize("backend", [...])``)."""
    if "backend" not in metafunc.fixturenames or _parametrizes_backend(metafunc):
        return
    params = BACKENDS
    if metafunc.definition.get_closest_marker("redis") is not None:
        params = (*BACKENDS, CLUSTER)
    metafunc.parametrize("backend", params, indirect=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by folder so ``-m unit`` and friends select what they say, and the runs on the
    Redis Cluster ``redis_cluster`` (``-m redis_cluster`` runs exactly those)."""
    for item in items:
        path = str(item.fspath)
        for marker in ("unit", "integration", "e2e"):
            if f"/tests/{marker}/" in path:
                item.add_marker(getattr(pytest.mark, marker))
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("backend") == CLUSTER:
            item.add_marker(pytest.mark.redis_cluster)


@pytest.fixture
def clock() -> FrozenClock:
    """The tests' one clock: frozen at the test's start (whole seconds); ``advance`` moves it.
    An app built with it (``create_app(settings, clock=clock)``) sees only this time."""
    return FrozenClock(dt.datetime.now(dt.UTC).replace(microsecond=0))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    return SqliteTemplate(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[PostgresTemplate]:
    require_servers()
    template = PostgresTemplate()
    yield template
    template.close()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedisCluster]:
    """This test process's own Redis Cluster (xdist workers never share one)."""
    cluster = LocalRedisCluster(tmp_path_factory.mktemp("redis-cluster")).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The test's backend pair: ``embedded``, ``servers`` or ``cluster`` (see BACKENDS)."""
    return request.param


def base_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings a test starts from: embedded, quiet, keys and data in the test's folder."""
    values: dict[str, object] = {
        "data_dir": str(tmp_path / "data"),
        "auto_migrate": False,
        "access_log": True,
        "log_level": "INFO",
        "identifier_hash_key": "test-identifier-hash-key-0123456789abcdef",
        # the identifier systems the public FHIR samples use, beside our own default
        "national_id_systems": ["https://fhir.moh.gov.vn/sid/cccd", *NATIONAL_ID_SYSTEMS],
    }
    values.update(overrides)
    return Settings.from_flat(**values)


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Settings]:
    """Settings for an isolated database and Redis on the test's backend pair."""
    if backend == "embedded":
        template: SqliteTemplate = request.getfixturevalue("sqlite_template")
        yield base_settings(tmp_path, database_url=template.fresh(tmp_path))
        return
    pg: PostgresTemplate = request.getfixturevalue("postgres_template")
    if backend == CLUSTER:
        cluster: LocalRedisCluster = request.getfixturevalue("redis_cluster")
        cluster.flush()
        redis = {"redis_url": cluster.url, "redis_cluster": True}
    else:
        redis = {"redis_url": fresh_redis_url()}
    name, url = pg.fresh()
    try:
        yield base_settings(tmp_path, database_url=url, **redis)
    finally:
        pg.drop(name)


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app in the test's own event loop (concurrent requests interleave)."""
    async with app_client(app) as http:
        yield http


@pytest.fixture
def idp() -> Iterator[TestIdentityProvider]:
    with TestIdentityProvider() as provider:
        yield provider


@pytest.fixture
async def admin_credentials(app: Litestar, client: httpx.AsyncClient) -> ClientCredentials:
    return await create_client_directly(app, "admin")


@pytest.fixture
async def admin_token(client: httpx.AsyncClient, admin_credentials: ClientCredentials) -> str:
    return await client_token(client, admin_credentials)


@pytest.fixture
async def citizen(
    client: httpx.AsyncClient, admin_token: str, idp: TestIdentityProvider
) -> Callable[..., Awaitable[dict[str, Any]]]:
    """Log a citizen in through the test identity provider: ``await citizen("001090000001")``."""
    await register_provider(client, admin_token, idp)

    async def _login(national_id: str, **claims: Any) -> dict[str, Any]:
        return await login(client, idp, national_id, **claims)

    return _login


@pytest.fixture
async def hospital(app: Litestar, client: httpx.AsyncClient, admin_token: str) -> Hospital:
    """Facility ``01001`` and a hospital client bound to it."""
    return await make_hospital(app, client, admin_token)
