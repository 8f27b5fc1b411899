"""``healthbook worker``: the notification relay as a process of its own (any number of replicas),
and the periodic pull of health records from facilities' FHIR APIs.

It needs the same ``DATABASE_URL`` and ``REDIS_URL`` as the API (without ``REDIS_URL`` it still
works, polling every ``RELAY_POLL_SECONDS``, but no wake-up crosses processes). SIGTERM or SIGINT
stop it after the batch in hand; a SIGKILL loses nothing (the rows' leases run out and another
relay takes them over).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

from litestar.datastructures import State

from api.core.background import cancel_and_wait
from api.core.clock import SystemClock
from api.core.db import create_sessionmaker
from api.core.redis import create_redis
from api.core.settings import Settings
from api.db.engine import open_engine
from api.health_book.pull import standalone_pull_service
from api.identity.citizens import guardians_of
from notifications import heartbeat
from notifications.setup import build_notifications, stop_notifications

logger = logging.getLogger("healthbook.worker")


def heartbeat_interval(settings: Settings) -> float:
    """How often the worker rewrites its heartbeat file."""
    return max(0.2, min(5.0, settings.relay_poll_seconds))


def heartbeat_max_age(settings: Settings) -> float:
    """How old a heartbeat may be before ``healthbook worker-alive`` calls the worker hung: a
    lane goes round its loop at least every poll, unless a batch holds it, which its lease
    bounds (while sending, a lane renews the lease; a batch that outlives it is stuck)."""
    return 3 * max(settings.relay_poll_seconds, heartbeat_interval(settings)) + (
        settings.relay_lease_seconds
    )


async def run_worker(settings: Settings) -> None:
    if settings.migrate_on_start:
        from api.db.migrate import upgrade

        await upgrade(settings.effective_database_url)
    if settings.embedded_redis:
        logger.warning(
            "REDIS_URL is not set: this worker polls every %s s and cannot be woken by the API",
            settings.relay_poll_seconds,
        )
    engine = open_engine(settings)
    redis = create_redis(settings)
    state = State()
    state.engine = engine
    state.sessionmaker = create_sessionmaker(engine)
    state.redis = redis
    state.clock = SystemClock()
    relay = build_notifications(
        state, settings.replace(relay_embedded=False), guardians=guardians_of
    )
    # What start-up loaded lives as long as the process: keep it out of the collector's scans.
    gc.freeze()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    task = relay.start()
    beating = asyncio.create_task(
        heartbeat.beat(
            settings.effective_worker_heartbeat_file,
            lambda: relay.last_cycle,
            heartbeat_interval(settings),
        ),
        name="worker-heartbeat",
    )
    try:
        # The worker also re-syncs, every PULL_INTERVAL_SECONDS, the patients it already knows at
        # facilities with a FHIR API (two replicas doing so at once store nothing twice).
        async with standalone_pull_service(settings) as pull:
            pulling = asyncio.create_task(pull.run_periodic(stop), name="pull-periodic")
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stop.set()
            stopped.cancel()
            await pulling
        if task.done() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    finally:
        logger.info("worker stopping")
        await cancel_and_wait(beating)
        await stop_notifications(state)
        await redis.aclose()
        await engine.dispose()
