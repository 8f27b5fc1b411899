"""The API's Prometheus exposition: it parses with prometheus_client's parser and passes the
checks ``promtool check metrics`` makes; it carries the process, garbage-collector and pool
metrics; and the counters move when their event happens (a rate-limit rejection, a database pool
timeout), on both backend pairs."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import exc as sa_errors

from api.app import create_app
from api.core.settings import Settings
from api.runtime import Runtime
from tests.support.promlint import families, problems, value

TOKEN = "a-metrics-token-of-at-least-32-characters"


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return response.text


async def test_the_exposition_parses_and_passes_promtools_checks(client) -> None:
    assert (await client.get("/health/ready")).status_code == 200
    text = await scrape(client)
    assert problems(text) == []
    exposed = families(text)
    for name in (
        "process_cpu_seconds",
        "process_resident_memory_bytes",
        "process_open_fds",
        "python_gc_collections",
        "python_info",
        "healthbook_http_requests",
        "healthbook_http_request_duration_seconds",
        "healthbook_db_pool_connections",
        "healthbook_db_pool_size",
        "healthbook_db_pool_overflow_connections",
        "healthbook_db_pool_timeouts",
        "healthbook_redis_pool_connections",
        "healthbook_redis_pool_max_connections",
        "healthbook_rate_limit_rejections",
        "healthbook_jwks_fetches",
        "healthbook_pulls",
        "healthbook_notification_pushes",
        "healthbook_notification_push_errors",
    ):
        assert name in exposed, name
    assert exposed["healthbook_db_pool_timeouts"][0] == "counter"
    assert exposed["healthbook_db_pool_connections"][0] == "gauge"
    assert value(text, "healthbook_db_pool_size") == 20
    assert value(text, "healthbook_db_pool_timeouts_total") == 0
    assert value(text, "healthbook_redis_pool_max_connections") is not None
    in_use = value(text, "healthbook_redis_pool_connections", state="in_use")
    available = value(text, "healthbook_redis_pool_connections", state="available")
    assert in_use is not None
    assert available is not None
    assert in_use + available >= 1  # the readiness probe opened one
    assert value(text, "process_cpu_seconds_total") is not None


def test_the_lint_finds_what_promtool_finds() -> None:
    bad = (
        "# HELP requests Requests.\n# TYPE requests counter\nrequests 1\n"
        "# TYPE queue_depth_total gauge\nqueue_depth_total 3\n"
        "# HELP latency_milliseconds Latency.\n# TYPE latency_milliseconds gauge\n"
        "latency_milliseconds 4\n"
        "# HELP job:rate Recorded.\n# TYPE job:rate gauge\njob:rate 1\n"
        "# HELP cacheHits Hits.\n# TYPE cacheHits gauge\ncacheHits 1\n"
    )
    found = "\n".join(problems(bad))
    assert "requests: a counter's sample not ending in _total" in found
    assert "queue_depth_total: no help text" in found
    assert "queue_depth_total: a gauge ending in _total" in found
    assert "latency_milliseconds: non-base unit 'milliseconds'" in found
    assert "job:rate: reserved characters" in found
    assert "cacheHits: camelCase name" in found


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings.replace(rate_limit_token="2/60"))


async def test_a_rate_limit_rejection_is_counted_by_class(client) -> None:
    before = value(
        await scrape(client), "healthbook_rate_limit_rejections_total", limit_class="token"
    )
    assert before is None
    answers = [
        (await client.post("/auth/token", data={"grant_type": "client_credentials"})).status_code
        for _ in range(4)
    ]
    assert answers.count(429) == 2, answers
    text = await scrape(client)
    assert value(text, "healthbook_rate_limit_rejections_total", limit_class="token") == 2
    assert problems(text) == []


async def test_a_database_pool_timeout_is_counted_and_the_gauges_follow(settings) -> None:
    small = settings.replace(database_pool_size=1, database_timeout_seconds=0.3)
    async with Runtime(small) as runtime:
        engine = runtime.engine

        def sample(name: str, **labels: str) -> float | None:
            return value(runtime.metrics.exposition()[0].decode(), name, **labels)

        async with engine.connect():
            assert sample("healthbook_db_pool_connections", state="in_use") == 1
            assert sample("healthbook_db_pool_size") == 1
            with pytest.raises(sa_errors.TimeoutError):
                async with engine.connect():
                    pass
            assert sample("healthbook_db_pool_timeouts_total") == 1
        await asyncio.sleep(0)
        assert sample("healthbook_db_pool_connections", state="in_use") == 0
        assert sample("healthbook_db_pool_connections", state="idle") == 1
        assert sample("healthbook_db_pool_overflow_connections") == 0
        await engine.dispose()  # a recreated pool keeps the count
        assert sample("healthbook_db_pool_timeouts_total") == 1
