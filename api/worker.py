"""``healthbook worker``: the notification relay as a process of its own (any number of replicas),
the periodic pull of health records from facilities' FHIR APIs and the sweep of expired SMART
Health Links, side by side, on the parts the composition root (:class:`api.runtime.Runtime`)
builds once.

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
import time

from api.core.background import cancel_and_wait
from api.core.metrics_server import MetricsServer
from api.core.settings import Settings
from api.db.migrate import upgrade
from api.runtime import Runtime
from notifications import heartbeat

logger = logging.getLogger("healthbook.worker")


def heartbeat_interval(settings: Settings) -> float:
    """How often the worker rewrites its heartbeat file."""
    return max(0.2, min(5.0, settings.notifications.relay_poll_seconds))


def heartbeat_max_age(settings: Settings) -> float:
    """How old a heartbeat may be before ``healthbook worker-alive`` calls the worker hung: a
    lane goes round its loop at least every poll, unless a batch holds it, which its lease
    bounds (while sending, a lane renews the lease; a batch that outlives it is stuck)."""
    return 3 * max(settings.notifications.relay_poll_seconds, heartbeat_interval(settings)) + (
        settings.notifications.relay_lease_seconds
    )


def relay_alive(settings: Settings, last_cycle: float, now: float | None = None) -> bool:
    """The worker's ``/health/live``: the relay went round its loop recently (the same rule as
    ``healthbook worker-alive`` applies to the heartbeat file)."""
    return (time.time() if now is None else now) - last_cycle <= heartbeat_max_age(settings)


async def serve_metrics(settings: Settings, runtime: Runtime) -> MetricsServer | None:
    """``/metrics`` and ``/health/live`` on WORKER_METRICS_HOST:WORKER_METRICS_PORT (not when
    the port is 0), with the outbox backlog measured every poll for the gauges."""
    port = settings.notifications.worker_metrics_port
    if port == 0:
        return None
    relay = runtime.relay
    server = MetricsServer(
        exposition=runtime.metrics.exposition,
        alive=lambda: relay_alive(settings, relay.last_cycle),
        token=settings.observability.metrics_token,
    )
    await server.start(settings.notifications.worker_metrics_host, port)
    return server


async def run_worker(settings: Settings) -> None:
    if settings.migrate_on_start:
        await upgrade(settings.effective_database_url)
    if settings.redis.embedded:
        logger.warning(
            "REDIS_URL is not set: this worker polls every %s s and cannot be woken by the API",
            settings.notifications.relay_poll_seconds,
        )
    # One engine, one Redis client, one HTTP client for the relay and the pull alike.
    async with Runtime(settings.replace(relay_embedded=False)) as runtime:
        relay, pull, sharing = runtime.relay, runtime.pull, runtime.sharing
        # What start-up loaded lives as long as the process: keep it out of the collector's scans.
        gc.freeze()
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        task = relay.start()
        beating = asyncio.create_task(
            heartbeat.beat(
                settings.notifications.effective_worker_heartbeat_file,
                lambda: relay.last_cycle,
                heartbeat_interval(settings),
            ),
            name="worker-heartbeat",
        )
        server = await serve_metrics(settings, runtime)
        measuring = (
            asyncio.create_task(
                runtime.outbox_backlog.run(settings.notifications.relay_poll_seconds),
                name="outbox-backlog",
            )
            if server is not None
            else None
        )
        try:
            # The worker also re-syncs, every PULL_INTERVAL_SECONDS, the patients it already
            # knows at facilities with a FHIR API (two replicas doing so at once store nothing
            # twice).
            pulling = asyncio.create_task(pull.run_periodic(stop), name="pull-periodic")
            # … and every SHARING_SWEEP_INTERVAL_SECONDS erases expired and revoked links'
            # content (replicas sweeping at once erase nothing twice)
            sweeping = asyncio.create_task(sharing.run_sweeps(stop), name="shares-sweep")
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stop.set()
            stopped.cancel()
            await pulling
            await sweeping
            if task.done() and (failure := task.exception()) is not None:
                raise failure
        finally:
            logger.info("worker stopping")
            await cancel_and_wait(beating)
            if measuring is not None:
                await cancel_and_wait(measuring)
            if server is not None:
                await server.stop()
