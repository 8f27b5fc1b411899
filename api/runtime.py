"""The one composition root: everything with a lifetime, built once per process.

The API's lifespan, the worker, the CLI commands and the pull job all build their engine, Redis,
HTTP client, unit-of-work factory and domain services here, the same way::

    async with Runtime(settings) as runtime:
        async with runtime.uow() as uow:
            ...

Each part is built on first use (a CLI command that only reads the database opens no Redis and
loads no signing keys) and only once; :meth:`Runtime.stop` closes, in reverse order, what was
built. Nothing here runs at import time, and no module keeps state of its own: the caches, the
wake-up hook and the access log's hook belong to this object and the sessions it makes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.appointments.service import AppointmentService, SlotService
from api.appointments.service import Limits as AppointmentLimits
from api.checkin.board_feeds import MAX_STREAMS, QueueFeeds
from api.checkin.page_assets import CheckInPages
from api.checkin.queues import QueueAverages
from api.checkin.schemas import QueueStatus
from api.checkin.services import CheckInService, QueueDeskService
from api.checkin.services.check_in import read_queue_status
from api.checkin.status_publisher import StatusPublisher
from api.checkin.ticket_views import QueueRules
from api.checkin.tokens import CheckInTokens, WalkInCodes
from api.core.access_tokens import AccessTokens
from api.core.background import BackgroundTasks
from api.core.cache import Invalidations
from api.core.clock import Clock, SystemClock
from api.core.db import DatabasePoolCollector, ping
from api.core.errors import ProblemCatalogue
from api.core.observability import Metrics
from api.core.pagination import Cursors
from api.core.ratelimit import RateLimiter
from api.core.redis import (
    RedisClient,
    RedisPoolCollector,
    create_redis,
    create_subscriber_redis,
)
from api.core.security import SigningKeys, load_or_create_secret
from api.core.settings import Settings
from api.core.uow import UnitOfWorkFactory
from api.db.engine import open_engine, open_sessionmaker
from api.facilities.service import FacilityService, Places
from api.health_book import access_log
from api.health_book.book import BookReader
from api.health_book.export import patient_url as export_patient_url
from api.health_book.home import HomeEntries
from api.health_book.ingest import IngestConfig
from api.health_book.publishing import BookChanges, SummaryService
from api.health_book.pull.http import FhirHttp
from api.health_book.pull.service import PullService, pull_ingest_config
from api.health_book.service import BookService, ReadLog
from api.health_cards.keys import HealthCardKeys
from api.health_cards.service import HealthCardService
from api.identity.citizens import CitizenDirectory, guardians_of
from api.identity.demo_idp import DemoIdentityProvider
from api.identity.guardianships import GuardianshipService
from api.identity.jwks import JwksCache
from api.identity.registry import RegistryService
from api.identity.service import IdentityService
from api.insurance.episodes import XmlEpisodeMapper
from api.insurance.service import InsuranceService
from api.insurance.service import Limits as InsuranceLimits
from api.measurements.service import MeasurementLimits, MeasurementService
from api.measurements.uploads import ImportLimits, MeasurementImports, directory_of
from api.operations.service import OperationsService
from api.questionnaires.service import QuestionnaireService
from api.sharing.consents import Consents
from api.sharing.service import POLL_CLASS, ShareService, poll_budget
from api.sharing.viewer_page import ViewerPages
from notifications.backlog import OutboxBacklog
from notifications.outbox import Wakeup, bind_wakeup
from notifications.relay import Relay, RelayConfig, RelayStats
from notifications.senders import Sender, build_sender
from notifications.service import NotificationService

logger = logging.getLogger("healthbook.runtime")


def package_version() -> str:
    try:
        return version("healthbook")
    except PackageNotFoundError:  # running from a source tree without an install
        return "0.0.0"


class Runtime:
    """The process's parts (see the module's docstring). ``metrics``: the API's registry (one of
    its own otherwise), where the relay's statistics are registered too."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.metrics = metrics or Metrics()
        self._closers: list[Callable[[], Awaitable[Any]]] = []
        self._started = False

    # --- infrastructure ---------------------------------------------------------------------

    @cached_property
    def engine(self) -> AsyncEngine:
        engine = open_engine(self.settings)
        self._closers.append(engine.dispose)
        self.metrics.registry.register(DatabasePoolCollector(engine))  # metrics: pool gauges
        return engine

    @cached_property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        # the process caches use cases reach through their session
        info = {**self.places.session_info(), **QueueAverages().session_info()}
        return open_sessionmaker(self.engine, info=info)

    @cached_property
    def uow(self) -> UnitOfWorkFactory:
        """``async with runtime.uow() as uow:`` — one use case's transaction."""
        return UnitOfWorkFactory(self.sessionmaker)

    @cached_property
    def redis(self) -> RedisClient:
        redis = create_redis(self.settings)
        self._closers.append(redis.aclose)
        self.metrics.registry.register(RedisPoolCollector(redis))  # metrics: pool gauges
        return redis

    @cached_property
    def http(self) -> httpx.AsyncClient:
        """Outbound HTTP (identity providers' JWKS, facilities' FHIR APIs); never follows a
        redirect by itself."""
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(5.0, connect=3.0),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
            headers={"user-agent": f"healthbook/{package_version()}"},
        )
        self._closers.append(http.aclose)
        return http

    @cached_property
    def invalidations(self) -> Invalidations:
        invalidations = Invalidations(self.redis)
        self._closers.append(invalidations.stop)
        return invalidations

    @cached_property
    def background(self) -> BackgroundTasks:
        background = BackgroundTasks()
        self._closers.append(background.stop)
        return background

    @cached_property
    def places(self) -> Places:
        """Facilities and departments as every domain reads them (process caches, invalidated
        across processes once :meth:`start_api` has subscribed); the sessions carry them."""
        return Places()

    @cached_property
    def invalidated_caches(self) -> Invalidations:
        """The invalidations, with the caches of facilities and departments registered."""
        invalidations = self.invalidations
        self.places.register(invalidations)
        return invalidations

    @cached_property
    def facilities(self) -> FacilityService:
        return FacilityService(
            uow=self.uow,
            invalidations=self.invalidations,
            cursors=self.cursors,
            clock=self.clock,
            production=self.settings.production,
        )

    @cached_property
    def readiness_probes(self) -> dict[str, Callable[[], Awaitable[Any]]]:
        engine, redis = self.engine, self.redis
        return {"database": lambda: ping(engine), "redis": redis.ping}

    @cached_property
    def operations(self) -> OperationsService:
        """Readiness, metrics and the problem types, for operators."""
        return OperationsService(
            probes=self.readiness_probes,
            probe_limit_seconds=self.settings.database.timeout_seconds,
            metrics=self.metrics,
            public_base_url=self.settings.http.public_base_url,
            problems=ProblemCatalogue.loaded(),
            metrics_token=self.settings.observability.metrics_token,
        )

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        return RateLimiter.from_settings(
            self.settings, self.redis, self.clock, rejections=self.metrics.rate_limited
        )

    # --- identity ---------------------------------------------------------------------------

    @cached_property
    def identifier_key(self) -> str:
        settings = self.settings
        return settings.security.identifier_hash_key or load_or_create_secret(
            Path(settings.data_dir) / "identifier_hash_key", create=not settings.production
        )

    @cached_property
    def signing_keys(self) -> SigningKeys:
        settings = self.settings
        return SigningKeys(
            settings.effective_signing_keys_dir,
            verify_keep=dt.timedelta(days=settings.security.signing_key_verify_keep_days),
            generate_if_missing=not settings.production,
        )

    @cached_property
    def access_tokens(self) -> AccessTokens:
        settings = self.settings
        return AccessTokens(
            self.signing_keys,
            issuer=settings.issuer,
            ttl=settings.identity.access_token_ttl_seconds,
        )

    @cached_property
    def jwks(self) -> JwksCache:
        settings = self.settings
        return JwksCache(
            self.http,
            ttl=settings.identity.jwks_cache_ttl_seconds,
            cooldown=settings.identity.jwks_refetch_cooldown_seconds,
            max_staleness=settings.identity.jwks_max_staleness_seconds,
            fetch_timeout=settings.identity.jwks_fetch_timeout_seconds,
            fetches=self.metrics.jwks_fetches,
        )

    @cached_property
    def directory(self) -> CitizenDirectory:
        return CitizenDirectory(
            self.redis,
            self.sessionmaker,
            self.invalidations,
            child_max_age=self.settings.identity.guardian_child_max_age,
            clock=self.clock,
        )

    @cached_property
    def demo_idp(self) -> DemoIdentityProvider | None:
        return DemoIdentityProvider(self.settings) if self.settings.demo else None

    @cached_property
    def identity(self) -> IdentityService:
        identity = IdentityService(
            uow=self.uow,
            settings=self.settings,
            identifier_key=self.identifier_key,
            tokens=self.access_tokens,
            jwks=self.jwks,
            directory=self.directory,
            redis=self.redis,
            clock=self.clock,
        )

        def pull_at_first_login(number: str) -> None:
            # the number lives only in this task's memory; it is never stored or logged
            self.background.start("pull-at-first-login", self.pull.sync_national_id(number))

        identity.on_first_login = pull_at_first_login
        # the health card issuer's keys are published beside ours (built on the first request)
        identity.published_key_sources.append(lambda: self.health_cards.public_keys())
        return identity

    @cached_property
    def identity_registry(self) -> RegistryService:
        """Trusted identity providers and API clients, for operators (and the CLI)."""
        return RegistryService(uow=self.uow, clock=self.clock, production=self.settings.production)

    @cached_property
    def guardianships(self) -> GuardianshipService:
        return GuardianshipService(
            uow=self.uow,
            directory=self.directory,
            identifier_key=self.identifier_key,
            child_max_age=self.settings.identity.guardian_child_max_age,
            clock=self.clock,
        )

    # --- health book ------------------------------------------------------------------------

    @cached_property
    def cursors(self) -> Cursors:
        return Cursors(self.identifier_key)

    @cached_property
    def book(self) -> BookReader:
        return BookReader(
            self.redis,
            self.sessionmaker,
            self.cursors,
            self.invalidations,
            check_version=self.settings.redis.embedded,
        )

    @cached_property
    def book_changes(self) -> BookChanges:
        """What follows a committed change of a book (after-commit effects)."""
        return BookChanges(self.book, self.background, self.clock)

    @cached_property
    def summaries(self) -> SummaryService:
        """Hospitals' publishes and withdrawals."""
        settings = self.settings
        return SummaryService(
            uow=self.uow,
            config=IngestConfig(
                identifier_key=self.identifier_key,
                national_id_systems=tuple(settings.fhir.national_id_systems),
                insurance_card_systems=tuple(settings.fhir.insurance_card_systems),
                max_bytes=settings.fhir.max_body_bytes,
                max_depth=settings.fhir.max_depth,
            ),
            changes=self.book_changes,
            clock=self.clock,
        )

    @cached_property
    def insurance(self) -> InsuranceService:
        """Hospitals' insurance XML (QĐ 130) into the book, through the summaries' pipeline."""
        settings = self.settings
        return InsuranceService(
            uow=self.uow,
            publisher=self.summaries,
            mapper=XmlEpisodeMapper(),
            limits=InsuranceLimits(
                max_envelope_bytes=settings.insurance.max_envelope_bytes,
                max_file_bytes=settings.insurance.max_file_bytes,
                max_episodes=settings.insurance.max_episodes,
                accept_unsigned=frozenset(settings.insurance.accept_unsigned_facilities),
            ),
            clock=self.clock,
            reads=ReadLog(uow=self.uow, clock=self.clock),
            child_max_age=settings.identity.guardian_child_max_age,
        )

    @cached_property
    def health_book(self) -> BookService:
        """Citizens' and guardians' reads of the book (guardians' reads logged first)."""
        return BookService(
            uow=self.uow,
            book=self.book,
            reads=ReadLog(uow=self.uow, clock=self.clock),
            clock=self.clock,
            service_url=self.settings.issuer,
            consents=self.consents,
        )

    @cached_property
    def measurements(self) -> MeasurementService:
        """Home readings citizens record and import: entries of the book (HomeEntries), its
        overview dropped after each change."""
        settings = self.settings.measurements
        return MeasurementService(
            uow=self.uow,
            clock=self.clock,
            book=HomeEntries(),
            changes=self.book_changes,
            cursors=self.cursors,
            limits=MeasurementLimits(
                max_per_citizen=settings.max_per_citizen, max_batch=settings.max_batch
            ),
        )

    @cached_property
    def measurement_imports(self) -> MeasurementImports:
        """Apple Health exports uploaded into DATA_DIR and imported in this process's
        background (api/measurements/uploads.py)."""
        settings = self.settings.measurements
        return MeasurementImports(
            uow=self.uow,
            clock=self.clock,
            measurements=self.measurements,
            background=self.background,
            directory=directory_of(Path(self.settings.data_dir)),
            limits=ImportLimits(
                max_bytes=settings.import_max_bytes,
                per_day=settings.imports_per_day,
                stale_after=dt.timedelta(seconds=settings.import_stale_seconds),
            ),
        )

    @cached_property
    def consents(self) -> Consents:
        """Each SMART Health Link of a book as the FHIR Consent it is (in the book's export)."""
        return Consents(uow=self.uow, clock=self.clock, patient_of=export_patient_url)

    @cached_property
    def sharing(self) -> ShareService:
        """SMART Health Links of the book: the IPS from the book's export, recipients' reads
        written to the book's access log."""
        return ShareService(
            uow=self.uow,
            clock=self.clock,
            book=self.health_book,
            log=ReadLog(uow=self.uow, clock=self.clock),
            settings=self.settings.sharing,
            base_url=self.settings.issuer,
            consents=self.consents,
            location_secret=self.identifier_key,
            polls=RateLimiter(
                self.redis,
                self.clock,
                {POLL_CLASS: poll_budget(self.settings.sharing)},
                rejections=self.metrics.rate_limited,
            ),
            cards=self.health_cards,
        )

    @cached_property
    def viewer_pages(self) -> ViewerPages:
        """The SMART Health Link viewer page and its assets."""
        return ViewerPages()

    @cached_property
    def health_card_keys(self) -> HealthCardKeys:
        settings = self.settings
        return HealthCardKeys.configured(
            settings.health_cards.signing_keys,
            data_dir=Path(settings.data_dir),
            production=settings.production,
        )

    @cached_property
    def health_card_issuers(self) -> JwksCache:
        """Trusted health card issuers' keys: a cache of its own, as careful as the identity
        providers' (same TTL, cool-down, staleness and timeout settings)."""
        settings = self.settings
        return JwksCache(
            self.http,
            ttl=settings.identity.jwks_cache_ttl_seconds,
            cooldown=settings.identity.jwks_refetch_cooldown_seconds,
            max_staleness=settings.identity.jwks_max_staleness_seconds,
            fetch_timeout=settings.identity.jwks_fetch_timeout_seconds,
            fetches=self.metrics.jwks_fetches,
        )

    @cached_property
    def health_cards(self) -> HealthCardService:
        """SMART Health Cards of the book: issued from the health book's service, verified
        with our keys or trusted issuers' (HEALTH_CARD_TRUSTED_ISSUERS)."""
        settings = self.settings
        return HealthCardService(
            uow=self.uow,
            clock=self.clock,
            book=self.health_book,
            keys=self.health_card_keys,
            issuer=settings.issuer,
            rid_secret=self.identifier_key,
            trusted_issuers=settings.health_cards.trusted_issuers,
            remote_keys=self.health_card_issuers,
            http=self.http,
        )

    @cached_property
    def pull(self) -> PullService:
        """Pulls from facilities' FHIR APIs. Built once per process: it caches access tokens."""
        return self.new_pull_service()

    def new_pull_service(self, settings: Settings | None = None) -> PullService:
        """A PullService of its own (empty token cache) on this runtime's parts, with
        ``settings`` when given (limits and timeouts to try out)."""
        settings = settings or self.settings
        return PullService(
            uow=self.uow,
            http=FhirHttp(self.http, self.signing_keys, settings),
            settings=settings,
            ingest_config=pull_ingest_config(settings, self.identifier_key),
            clock=self.clock,
            book=self.book_changes,
            outcomes=self.metrics.pulls,
        )

    # --- appointments, check-in -------------------------------------------------------------

    @cached_property
    def appointment_limits(self) -> AppointmentLimits:
        return AppointmentLimits.from_settings(self.settings)

    @cached_property
    def appointments(self) -> AppointmentService:
        """Citizens' bookings and changes, the hospital's day lists and statuses."""
        return AppointmentService(
            uow=self.uow,
            cursors=self.cursors,
            directory=self.directory,
            limits=self.appointment_limits,
            clock=self.clock,
            record_access=access_log.record,
        )

    @cached_property
    def questionnaires(self) -> QuestionnaireService:
        """Facilities' intake questionnaires and citizens' answers (hospital reads logged)."""
        return QuestionnaireService(
            uow=self.uow,
            clock=self.clock,
            limits=self.appointment_limits,
            record_access=access_log.record,
            base_url=self.settings.issuer,
        )

    @cached_property
    def appointment_slots(self) -> SlotService:
        """The hospital's slot publishing and the public slot search."""
        return SlotService(
            uow=self.uow, cursors=self.cursors, limits=self.appointment_limits, clock=self.clock
        )

    @cached_property
    def queue_rules(self) -> QueueRules:
        settings = self.settings
        return QueueRules(
            walk_in_reuse=dt.timedelta(minutes=settings.checkin.walk_in_reuse_minutes),
            approaching_threshold=settings.checkin.queue_approaching_threshold,
            default_service_minutes=settings.checkin.queue_default_service_minutes,
        )

    @cached_property
    def queue_status_publisher(self) -> StatusPublisher:
        """Publishes a queue's status on its channel after each committed change."""
        uow, clock = self.uow, self.clock

        async def read(facility_id: str, department: str) -> QueueStatus:
            async with uow() as unit:
                return await read_queue_status(unit.session, facility_id, department, clock.now())

        publisher = StatusPublisher(
            self.redis, read, interval=self.settings.checkin.queue_status_publish_seconds
        )
        self._closers.append(publisher.aclose)
        return publisher

    @cached_property
    def checkin(self) -> CheckInService:
        """Check-in codes, kiosk check-ins, walk-ins, the queues' public status."""
        settings = self.settings
        return CheckInService(
            uow=self.uow,
            redis=self.redis,
            tokens=CheckInTokens(
                self.signing_keys,
                issuer=settings.issuer,
                secret=self.identifier_key,
                lead=dt.timedelta(minutes=settings.checkin.lead_minutes),
                grace=dt.timedelta(minutes=settings.checkin.grace_minutes),
            ),
            codes=WalkInCodes(self.identifier_key),
            publisher=self.queue_status_publisher,
            rules=self.queue_rules,
            limits=self.appointment_limits,
            clock=self.clock,
        )

    @cached_property
    def queue_desk(self) -> QueueDeskService:
        """The hospital's queue desk: arrivals, call-next, skip, recall."""
        return QueueDeskService(
            uow=self.uow,
            publisher=self.queue_status_publisher,
            directory=self.directory,
            rules=self.queue_rules,
            clock=self.clock,
        )

    @cached_property
    def checkin_pages(self) -> CheckInPages:
        """The kiosk and board pages and their assets."""
        return CheckInPages()

    @cached_property
    def queue_feeds(self) -> QueueFeeds:
        """The boards' live streams. Each open board holds a Redis connection: they get a
        client of their own, one connection per stream allowed (and a few for the ones
        closing), never the requests' pool."""
        subscriber = create_subscriber_redis(self.settings, self.redis, MAX_STREAMS + 16)
        self._closers.append(subscriber.aclose)
        feeds = QueueFeeds(subscriber, self.checkin.queue_status, max_streams=MAX_STREAMS)
        self._closers.append(feeds.aclose)
        return feeds

    # --- notifications ----------------------------------------------------------------------

    @cached_property
    def notifications(self) -> NotificationService:
        """Devices, the inbox and push preferences, for citizens."""
        return NotificationService(uow=self.uow, clock=self.clock)

    @cached_property
    def push_sender(self) -> Sender:
        sender = build_sender(self.settings)
        self._closers.append(sender.aclose)
        return sender

    @cached_property
    def relay_wakeup(self) -> Wakeup:
        """Commits that enqueued something due wake every relay through Redis (and this
        process's relay directly, when it runs one)."""
        wakeup = Wakeup(self.redis)
        self._closers.append(wakeup.aclose)
        self._closers.append(self._unbind(bind_wakeup(self.sessionmaker, wakeup)))
        return wakeup

    @cached_property
    def relay(self) -> Relay:
        stats = RelayStats()
        relay = Relay(
            self.uow,
            self.redis,
            self.push_sender,
            self.clock,
            RelayConfig.from_settings(self.settings),
            guardians=guardians_of,
            stats=stats,
        )
        self.metrics.registry.register(stats)
        wakeup = self.relay_wakeup  # this process's commits wake every relay
        if self.settings.relay_in_process:
            wakeup.local = relay.wake
        self._closers.append(relay.stop)
        return relay

    @cached_property
    def outbox_backlog(self) -> OutboxBacklog:
        """The outbox's due rows and the oldest one's age, as gauges the worker refreshes."""
        backlog = OutboxBacklog(self.uow, self.clock)
        self.metrics.registry.register(backlog)
        return backlog

    @staticmethod
    def _unbind(unbind: Callable[[], None]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            unbind()

        return run

    # --- lifetime ---------------------------------------------------------------------------

    async def start_api(self) -> None:
        """What an API process runs besides its requests: the cross-process cache
        invalidations, the wake-up of relays after commits, and (embedded mode) the relay."""
        self._started = True
        _ = self.relay
        await self.invalidated_caches.start()
        if self.settings.relay_in_process:
            if self.settings.redis.embedded:
                logger.info("the relay runs inside the API process (embedded mode)")
            self.relay.start()
            # no worker in embedded mode: this process sweeps the expired links and tickets
            self.background.start("shares-sweep", self.sharing.run_sweeps(asyncio.Event()))
        if self.demo_idp is not None:  # demo mode: the demo identity provider is trusted
            await self.demo_idp.register(self.identity_registry)

    async def stop(self) -> None:
        """Close what was built, the last built first."""
        closers, self._closers = self._closers, []
        for close in reversed(closers):
            await close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
