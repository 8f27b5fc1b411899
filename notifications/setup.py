"""Builds the notification components on ``app.state`` in the lifespan, and the worker's.

- ``state.push_sender``: FCM or the console sender;
- ``state.relay``: the relay (started inside the API process when ``settings.relay_in_process``);
- the wake-up hook: commits that enqueued something publish a Redis signal for every relay.
"""

from __future__ import annotations

import logging

from litestar.datastructures import State

from api.core.settings import Settings
from notifications.outbox import Wakeup, register_wakeup, unregister_wakeup
from notifications.relay import Relay, RelayConfig, RelayStats
from notifications.relay_config import Guardians
from notifications.senders import build_sender

logger = logging.getLogger("healthbook.notifications")


def build_notifications(state: State, settings: Settings, *, guardians: Guardians) -> Relay:
    """Sender, relay and wake-up hook for this process (no I/O). ``guardians`` answers who may
    act for a citizen (the identity domain's, given by the caller)."""
    sender = build_sender(settings)
    stats = RelayStats()
    relay = Relay(
        state.sessionmaker,
        state.redis,
        sender,
        state.clock,
        RelayConfig.from_settings(settings),
        guardians=guardians,
        stats=stats,
    )
    wakeup = Wakeup(state.redis, local=relay.wake if settings.relay_in_process else None)
    register_wakeup(state.engine, wakeup)
    state.push_sender = sender
    state.relay = relay
    state.relay_wakeup = wakeup
    metrics = getattr(state, "metrics", None)
    if metrics is not None:
        metrics.registry.register(stats)
    return relay


def start_embedded_relay(state: State, settings: Settings) -> None:
    """Run the relay inside this process when the settings say so (embedded mode)."""
    if settings.relay_in_process:
        if settings.embedded_redis:
            logger.info("the relay runs inside the API process (embedded mode)")
        state.relay.start()


async def stop_notifications(state: State) -> None:
    """Stop the relay (finishing its batch), flush wake-ups, close the sender."""
    relay: Relay | None = getattr(state, "relay", None)
    if relay is None:
        return
    await relay.stop()
    unregister_wakeup(state.engine)
    await state.relay_wakeup.aclose()
    await state.push_sender.aclose()
