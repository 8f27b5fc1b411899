"""Liveness, readiness, metrics, request ids, logs and the OpenAPI document."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.core.settings import Settings, SettingsError
from tests.conftest import base_settings
from tests.support.problems import problem_uri
from tests.support.running import app_client


async def test_live(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.redis
async def test_ready_checks_database_and_redis(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": {"status": "ok"}, "redis": {"status": "ok"}},
    }


def _unreachable(settings: Settings, part: str) -> Settings:
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    if part == "database":
        url = settings.effective_database_url
        if url.startswith("sqlite"):
            # a SQLite file that cannot be opened: its folder is a regular file
            blocker = Path(settings.data_dir) / "not-a-folder"
            blocker.parent.mkdir(parents=True, exist_ok=True)
            blocker.write_text("")
            return settings.replace(database_url=f"sqlite+aiosqlite:///{blocker}/db.sqlite")
        return settings.replace(database_url=url.replace(":5432/", ":1/"))
    return settings.replace(redis_url="redis://127.0.0.1:1/0")


@pytest.mark.parametrize("part", ["database", "redis"])
async def test_ready_is_503_naming_the_unreachable_part(settings: Settings, part: str) -> None:
    app = create_app(_unreachable(settings, part))
    async with app_client(app) as http:
        response = await http.get("/health/ready")
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["retry-after"] == "5"
        body = response.json()
        assert body["type"] == problem_uri("not-ready")
        assert body["failing"] == [part]
        other = "redis" if part == "database" else "database"
        assert body["checks"][part]["status"] == "failing"
        assert body["checks"][other]["status"] == "ok"
        # liveness does not depend on the backends
        assert (await http.get("/health/live")).status_code == 200


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    given = "abc-123-request-XYZ"
    echoed = await client.get("/health/live", headers={"X-Request-ID": given})
    assert echoed.headers["x-request-id"] == given
    generated = await client.get("/health/live")
    assert re.fullmatch(r"[0-9a-f]{28}", generated.headers["x-request-id"])
    assert (
        generated.headers["x-request-id"]
        != (await client.get("/health/live")).headers["x-request-id"]
    )
    # a hostile id (header injection, overlong) is replaced, not echoed
    hostile = await client.get("/health/live", headers={"X-Request-ID": "x" * 300})
    assert hostile.headers["x-request-id"] != "x" * 300


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/health/live")
    await client.get("/health/live")
    await client.get("/problems/not-found")
    await client.get("/no/such/thing/12345")
    text = (await client.get("/metrics")).text
    assert 'healthbook_http_requests_total{method="GET",route="/health/live",status="200"} 2.0' in (
        text
    )
    # the template, never the raw path with its values
    assert 'route="/problems/{slug}"' in text
    assert (
        "not-found"
        not in text.split("healthbook_http_request_duration_seconds")[0].split("route=")[-1]
    )
    assert 'route="<unmatched>",status="404"' in text
    assert "12345" not in text
    assert "healthbook_http_request_duration_seconds_bucket" in text


async def test_access_log_is_json_with_request_id(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    from api.core.observability import JsonFormatter

    caplog.set_level(logging.INFO, logger="healthbook.access")
    response = await client.get("/health/live?national_id=001099012345")
    records = [r for r in caplog.records if r.name == "healthbook.access"]
    assert records
    line = json.loads(JsonFormatter().format(records[-1]))
    assert line["request_id"] == response.headers["x-request-id"]
    assert line["http"]["route"] == "/health/live"
    assert line["http"]["status"] == 200
    assert line["level"] == "INFO"
    assert "001099012345" not in json.dumps(line)  # query strings are never logged


async def test_openapi_31_and_ui(client: httpx.AsyncClient) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    assert "/health/ready" in document["paths"]
    ready = document["paths"]["/health/ready"]["get"]
    assert ready["operationId"] == "GetReadiness"
    assert "503" in ready["responses"]
    ui = await client.get("/schema")
    assert ui.status_code == 200
    assert "text/html" in ui.headers["content-type"]


async def test_body_limit_is_configurable(tmp_path) -> None:
    app = create_app(base_settings(tmp_path, max_request_body_bytes=4096, auto_migrate=True))
    assert app.request_max_body_size == 4096


async def test_metrics_behind_a_token_answer_only_the_scraper(settings: Settings) -> None:
    token = "scraper-" + "s" * 40
    app = create_app(settings.replace(metrics_token=token))
    async with app_client(app) as http:
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token"},
            {"Authorization": f"Basic {token}"},
            {"Authorization": f"Bearer {token}x"},
        ):
            refused = await http.get("/metrics", headers=headers)
            assert refused.status_code == 401, headers
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.headers["www-authenticate"] == 'Bearer realm="metrics"'
            assert refused.json()["type"] == problem_uri("unauthorized")
            assert "healthbook_http_requests_total" not in refused.text
        scraped = await http.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert scraped.status_code == 200
        assert "healthbook_http_requests_total" in scraped.text
        # the probes stay open to the orchestrator
        assert (await http.get("/health/live")).status_code == 200


def test_a_short_metrics_token_is_refused() -> None:
    with pytest.raises(SettingsError, match="METRICS_TOKEN"):
        Settings.from_env({"METRICS_TOKEN": "short"})
    assert Settings.from_env({"METRICS_TOKEN": "m" * 32}).observability.metrics_token == "m" * 32
