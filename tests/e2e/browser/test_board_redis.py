"""The board over a real Redis: when Redis drops the server's subscription (a Redis restart or
failover), the stream ends, the browser reconnects by itself and the board keeps following."""

from __future__ import annotations

from playwright.sync_api import Page, Request, expect
from redis import Redis

from tests.e2e.browser.clinic import DEPARTMENT, FACILITY, ServedClinic
from tests.e2e.browser.conftest import Shots


def _drop_subscribers(redis_url: str) -> int:
    """Close every pub/sub connection on the server's Redis database (only that one: other
    tests share the Redis server)."""
    client = Redis.from_url(redis_url)
    try:
        database = client.connection_pool.connection_kwargs.get("db", 0)
        dropped = 0
        for entry in client.client_list():
            if int(entry["db"]) == database and "P" in entry["flags"]:
                dropped += client.client_kill_filter(_id=entry["id"])
        return dropped
    finally:
        client.close()


def test_board_follows_the_queue_after_redis_drops_its_subscription(
    page: Page, servers_clinic: ServedClinic, shots: Shots
) -> None:
    clinic = servers_clinic
    streams: list[Request] = []
    page.on("request", lambda r: streams.append(r) if r.url.endswith("/events") else None)
    page.goto(f"{clinic.base_url}/board/{FACILITY}/{DEPARTMENT}")
    expect(page.locator("#connection")).to_have_text("Cập nhật trực tiếp")
    assert len(streams) == 1

    assert _drop_subscribers(clinic.env["REDIS_URL"]) >= 1
    # the stream ends; the browser opens a new one after the retry delay (3 s)
    for _ in range(40):
        if len(streams) > 1:
            break
        page.wait_for_timeout(250)
    assert len(streams) == 2, "the board did not reconnect"
    expect(page.locator("#connection")).to_have_text("Cập nhật trực tiếp")

    ticket = clinic.walk_in("001090000501")
    while True:
        called = clinic.call_next()["called"]
        assert called is not None
        expect(page.locator("#now-label")).to_have_text(called["label"], timeout=5000)
        if called["label"] == ticket["label"]:
            break
    shots.take(page, "1-after-redis-drop")
