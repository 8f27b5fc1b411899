"""Embedded mode: without FCM credentials the relay runs inside the API process and the console
sender logs each push (its text, never the token); the app's metrics count what it did."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from sqlalchemy import select

from api.app import create_app
from notifications.models import SENT, OutboxEntry
from notifications.senders.console import ConsoleSender
from tests.integration.notifications.helpers import booked, enqueue
from tests.support.auth import (
    bearer,
    create_client_directly,
    login,
    register_provider,
)
from tests.support.auth import client_token as get_client_token
from tests.support.running import app_client

TOKEN = "fcm-embedded-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


@pytest.fixture
def embedded_settings(settings):
    return settings.replace(fcm_credentials=None, fcm_endpoint=None, relay_embedded=True)


async def test_the_embedded_relay_logs_pushes_on_the_console(embedded_settings, clock, idp, caplog):
    caplog.set_level("INFO")
    app = create_app(embedded_settings, clock=clock)
    async with app_client(app) as client:
        assert isinstance(app.state.push_sender, ConsoleSender)
        admin = await create_client_directly(app, "admin")
        await register_provider(client, await get_client_token(client, admin), idp)
        token = (await login(client, idp, "001090000401"))["access_token"]
        me = (await client.get("/citizens/me", headers=bearer(token))).json()["id"]
        registered = await client.put(
            "/citizens/me/devices/embedded-phone",
            json={"token": TOKEN, "platform": "android"},
            headers=bearer(token),
        )
        assert registered.status_code == 201
        await asyncio.wait_for(app.state.relay._listening.wait(), 5)
        notification_id = await enqueue(app, uuid.UUID(me), booked())
        deadline = time.monotonic() + 5
        while not any(r.getMessage() == "push" for r in caplog.records):
            assert time.monotonic() < deadline, "the embedded relay did not push"
            await asyncio.sleep(0.02)
        [push] = [r for r in caplog.records if r.getMessage() == "push"]
        assert push.push["title"] == "Đặt lịch khám thành công"
        assert push.push["notification_id"] == str(notification_id)
        assert all(TOKEN not in str(r.__dict__) for r in caplog.records)
        inbox = await client.get("/citizens/me/notifications", headers=bearer(token))
        assert [i["id"] for i in inbox.json()["items"]] == [str(notification_id)]
        while (await _outbox(app))[0].status != SENT:  # recorded just after the send
            assert time.monotonic() < deadline, "the embedded relay did not record the push"
            await asyncio.sleep(0.02)
        metrics = (await client.get("/metrics")).text
        assert 'healthbook_notification_pushes_total{outcome="sent"} 1.0' in metrics
    assert app.state.relay._task is None  # stopped with the app


async def _outbox(app):
    async with app.state.sessionmaker() as session:
        return list(await session.scalars(select(OutboxEntry)))
