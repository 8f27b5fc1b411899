"""Service settings: one frozen msgspec Struct, loaded from environment variables.

Every field maps to the environment variable of the same name in upper case (``database_url`` ->
``DATABASE_URL``). With nothing set the service runs in embedded mode: SQLite in ``DATA_DIR``,
in-process fakeredis, signing keys generated into ``DATA_DIR/keys``. ``PRODUCTION=true`` refuses to
start on embedded backends or with missing secrets.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import msgspec

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


RATE_CLASSES = ("token", "booking", "checkin", "publishing", "reads", "writes")
"""The classes of request that rate limits tell apart (api/core/ratelimit.py)."""

_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,32}$")


def parse_budget(value: str) -> tuple[int, int] | None:
    """``"20/60"`` -> (20, 60): 20 requests in any 60 seconds; ``"off"`` -> None (no limit)."""
    text = value.strip().lower()
    if text in ("off", "none", "unlimited"):
        return None
    count, sep, window = text.partition("/")
    if not sep or not count.isdigit() or not window.isdigit():
        raise ValueError(f"{value!r} is not N/SECONDS (for example 20/60) or off")
    budget = int(count), int(window)
    if not 1 <= budget[0] <= 1_000_000 or not 1 <= budget[1] <= 86_400:
        raise ValueError(f"{value!r}: N must be 1..1000000 and SECONDS 1..86400")
    return budget


def parse_document_keys(values: list[str]) -> list[tuple[str, bytes]]:
    """``["ID:BASE64", ...]`` -> [(id, 32-byte key), ...], in order (the first encrypts)."""
    keys: list[tuple[str, bytes]] = []
    for value in values:
        key_id, sep, encoded = value.strip().partition(":")
        if not sep or not _KEY_ID.match(key_id):
            raise ValueError("each key is ID:BASE64, the ID 1-32 of A-Z a-z 0-9 . _ -")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"key {key_id!r} is not valid base64") from exc
        if len(key) != 32:
            raise ValueError(f"key {key_id!r} must be 32 bytes (AES-256), not {len(key)}")
        if any(existing == key_id for existing, _ in keys):
            raise ValueError(f"key id {key_id!r} appears twice")
        keys.append((key_id, key))
    return keys


class SettingsError(ValueError):
    """The environment does not describe a service that may start."""


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    production: bool = False
    """Production mode: no embedded backends, every secret required."""

    data_dir: str = ".healthbook"
    """Where embedded mode keeps its SQLite file and generated keys."""

    database_url: str | None = None
    """SQLAlchemy URL, ``postgresql+asyncpg://user@host:5432/db``. Unset: SQLite in DATA_DIR."""

    database_pool_size: int = 20
    """Database connections per process (a fixed pool; requests beyond it wait their turn)."""

    database_timeout_seconds: float = 5.0
    """How long a request waits for a connection or a statement before failing fast."""

    redis_url: str | None = None
    """``redis://host:6379/0``. Unset: in-process fakeredis (single process only)."""

    redis_timeout_seconds: float = 2.0
    """Socket timeouts towards Redis, and how long a command waits for a free pooled connection."""

    redis_max_connections: int = 100
    """Connections per process to Redis. Past them a command waits (up to
    ``REDIS_TIMEOUT_SECONDS``) for one to come back instead of failing at once."""

    redis_cluster: bool = False
    """``REDIS_URL`` names one node of a Redis Cluster (database 0): the client finds the other
    nodes from it and sends each key to the node owning its slot (README, "Redis Cluster")."""

    auto_migrate: bool | None = None
    """Apply migrations at start. Unset: on in embedded mode, off when DATABASE_URL is set."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1

    log_level: LogLevel = "INFO"
    access_log: bool = True
    """One JSON line per request (method, route template, status, duration, request id)."""

    max_request_body_bytes: int = 1_048_576
    """Request body limit for every route that does not set its own (413 past it)."""

    public_base_url: str = "http://127.0.0.1:8000"
    """The URL callers use to reach this service (token audience, links)."""

    identifier_hash_key: str | None = None
    """Secret for the keyed hash (HMAC-SHA-256) of national ID numbers. Required in production."""

    signing_keys_dir: str | None = None
    """Directory of our Ed25519 signing keys. Unset: DATA_DIR/keys, generated on first start."""

    access_token_ttl_seconds: int = 900
    """Lifetime of our access tokens (15 minutes)."""

    refresh_token_ttl_days: int = 30
    """A refresh token family lives this long from login; each use rotates it."""

    token_leeway_seconds: int = 30
    """Clock skew allowed on exp/iat/nbf of tokens from identity providers and clients."""

    jwks_cache_ttl_seconds: int = 300
    """How long an identity provider's keys are used before they are fetched again."""

    jwks_refetch_cooldown_seconds: int = 60
    """An unknown ``kid`` triggers at most one fetch per provider in this interval."""

    jwks_max_staleness_seconds: int = 86_400
    """Through a JWKS outage, the last good keys keep working this long."""

    jwks_fetch_timeout_seconds: float = 5.0
    """How long one fetch of an identity provider's keys may take; logins that arrive while it
    is in flight wait for it (at most this long) rather than being refused."""

    client_assertion_max_lifetime_seconds: int = 300
    """A client assertion must expire within this many seconds of being issued."""

    signing_key_verify_keep_days: int = 30
    """After a rotation, the previous signing key still verifies this long."""

    guardian_child_max_age: int = 18
    """A parent acts for a child until the child turns this old."""

    national_id_systems: list[str] = msgspec.field(
        default_factory=lambda: ["https://fhir.moh.gov.vn/sid/cccd"]
    )
    """Patient identifier systems that carry the national ID number (comma-separated). Published
    summaries are matched to citizens by an identifier in one of these systems."""

    insurance_card_systems: list[str] = msgspec.field(
        default_factory=lambda: ["https://fhir.moh.gov.vn/sid/bhyt"]
    )
    """Patient identifier systems of health-insurance card numbers (comma-separated)."""

    fhir_max_body_bytes: int = 10_000_000
    """Largest FHIR Bundle accepted on the FHIR endpoints (413 OperationOutcome past it)."""

    fhir_max_depth: int = 64
    """Deepest JSON nesting accepted in a FHIR Bundle."""

    demo: bool = False
    """Demo mode (``healthbook demo``): mounts the demo identity provider. Never in production."""

    fcm_credentials: str | None = None
    """Path to a Firebase service-account JSON file. Unset: notifications go to the console."""

    fcm_endpoint: str | None = None
    """Origin of the FCM HTTP v1 API instead of https://fcm.googleapis.com. Tests only: a fake FCM
    server on loopback (``http://127.0.0.1:PORT``); refused in production and for other hosts."""

    fcm_timeout_seconds: float = 10.0
    """Timeout of one request to FCM."""

    fcm_max_concurrency: int = 64
    """Requests in flight to FCM per relay process (HTTP/2 streams on one connection)."""

    relay_embedded: bool | None = None
    """Run the notification relay inside the API process. Unset: on in embedded mode (no
    DATABASE_URL), off otherwise (run ``healthbook worker`` replicas)."""

    relay_batch_size: int = 100
    """Outbox rows a relay claims at a time."""

    relay_poll_seconds: float = 5.0
    """How often an idle relay looks for due rows when no Redis wake-up arrives."""

    relay_concurrency: int = 2
    """Batches a relay process works on at once (one's database work overlaps another's sending);
    always one on SQLite."""

    relay_lease_seconds: float = 60.0
    """A claimed row is the relay's for this long (renewed while it works); a relay that dies
    loses its rows to another after it."""

    metrics_token: str | None = None
    """When set, ``/metrics`` answers only requests with ``Authorization: Bearer <token>`` (the
    Prometheus scraper's credential); at least 32 characters."""

    worker_heartbeat_file: str | None = None
    """Where ``healthbook worker`` writes when its relay last went round its loop, for
    ``healthbook worker-alive`` (the liveness check). Unset: ``healthbook-worker.heartbeat`` in
    the system's temporary directory."""

    relay_stop_grace_seconds: float = 30.0
    """A stopping relay (SIGTERM) lets the batch in hand finish for this long; past it, it stops
    sending and gives its claimed rows back, so another relay sends them at once."""

    notification_max_attempts: int = 8
    """Attempts before a notification that keeps failing on some device is dead-lettered."""

    notification_retry_base_seconds: float = 10.0
    """First retry delay; doubles per attempt, with jitter; FCM's Retry-After wins when longer."""

    notification_retry_max_seconds: float = 3600.0
    """Longest retry delay (before Retry-After)."""

    notification_retention_days: int = 30
    """Finished outbox rows (and their per-device outcomes) are deleted after this many days."""

    device_stale_days: int = 60
    """A device not seen (no registration refresh) for this many days is pruned."""

    pull_max_bytes: int = 20_000_000
    """Most bytes one patient's pull from a facility's FHIR API may download, all pages together
    (checked while each response streams; past it the pull is refused)."""

    pull_max_pages: int = 100
    """Most ``$everything`` pages (``Bundle.link[next]``) followed for one patient."""

    pull_connect_timeout_seconds: float = 5.0
    """Timeout of connecting to a facility's FHIR API (or its token endpoint)."""

    pull_read_timeout_seconds: float = 30.0
    """Longest wait for the next bytes of a response from a facility's FHIR API."""

    pull_response_deadline_seconds: float = 120.0
    """The most one response from a facility's FHIR API may take in all, first byte to last."""

    pull_max_attempts: int = 4
    """Attempts of one request to a facility's FHIR API that fails with 429, 502, 503, 504, a
    connection error or a timeout, before the pull gives up."""

    pull_retry_base_seconds: float = 1.0
    """First retry delay of a pull request; doubles per attempt, with jitter; a longer
    ``Retry-After`` wins."""

    pull_retry_max_seconds: float = 30.0
    """Longest retry delay; a server asking to wait longer (``Retry-After``) fails the pull."""

    pull_token_scope: str = "system/*.read"
    """Scope asked of a facility's token endpoint (SMART Backend Services)."""

    pull_interval_seconds: float = 3600.0
    """How often the periodic pull job re-syncs the patients it knows at each facility."""

    appointment_booking_window_days: int = 60
    """Slots starting further ahead than this many days are neither listed nor bookable."""

    appointment_max_active_per_citizen: int = 10
    """Most upcoming appointments (booked or checked in) one citizen may hold at a time."""

    appointment_cancel_cutoff_minutes: int = 120
    """A citizen may cancel or reschedule until this many minutes before the start."""

    appointment_reminder_minutes: list[int] = msgspec.field(default_factory=lambda: [1440, 120])
    """Reminders before an appointment's start, in minutes (comma-separated)."""

    idempotency_key_ttl_hours: int = 24
    """How long an ``Idempotency-Key`` and its stored answer are kept (per citizen)."""

    checkin_lead_minutes: int = 60
    """A check-in code is valid from this many minutes before the appointment's start."""

    checkin_grace_minutes: int = 30
    """... until this many minutes after the start."""

    walk_in_reuse_minutes: int = 30
    """Scanning a facility QR again within this time answers the ticket already issued."""

    queue_approaching_threshold: int = 3
    """A waiting citizen is told when this many people (or fewer) are ahead of them."""

    queue_default_service_minutes: float = 10.0
    """Estimated minutes per person when the queue has no calls in the last hour to average."""

    queue_status_publish_seconds: float = 0.2
    """Live queue updates (Redis pub/sub) of one queue are coalesced to one per this interval."""

    rate_limit_enabled: bool = True
    """Rate limits per caller and class of request (see README, "Rate limits"). Off: no limit and
    no Redis round trip per request (benchmarks run with it off)."""

    rate_limit_token: str = "1200/60"
    """Budget of the token endpoint (``POST /auth/token``), per IP address: ``N/S`` is N requests
    in any S seconds, ``off`` is no limit. Generous: a carrier's NAT puts many phones behind one
    address."""

    rate_limit_booking: str = "30/60"
    """Budget of booking, cancelling and rescheduling appointments, per citizen (``N/S``)."""

    rate_limit_checkin: str = "300/60"
    """Budget of kiosk check-ins (per kiosk client) and walk-ins (per citizen) (``N/S``)."""

    rate_limit_publishing: str = "600/60"
    """Budget of publishing summaries and slots, per hospital client (``N/S``)."""

    rate_limit_reads: str = "1200/60"
    """Budget of every other ``GET``, per caller (citizen, client, or IP address) (``N/S``)."""

    rate_limit_writes: str = "300/60"
    """Budget of every other write (``POST``/``PUT``/``PATCH``/``DELETE``), per caller (``N/S``)."""

    rate_limit_fail_closed: list[str] = msgspec.field(
        default_factory=lambda: ["booking", "checkin"]
    )
    """Classes answered 503 when Redis cannot be asked (comma-separated); the other classes pass
    unlimited while it is away."""

    trusted_proxy_hops: int = 0
    """Reverse proxies in front of the service that append to ``X-Forwarded-For``: the caller's
    address is the entry this many places from the right. 0: the connection's peer address."""

    document_deflate: bool = False
    """Deflate documents before encrypting them (stored with the ``HBE2`` marker). Every release
    from this one reads such values; one before it does not, so turn this on once no older pod
    or image can read the database (a rolling update done, no rollback past this release)."""

    document_encryption_keys: list[str] = msgspec.field(default_factory=list)
    """Key-encryption keys of health documents at rest, ``ID:BASE64`` (32 random bytes each),
    comma-separated: the first wraps new data keys, every one unwraps (rotation). Unset outside
    production: one generated into DATA_DIR/document-keys. ``healthbook keys new-document-key``
    makes one. A secret."""

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def effective_worker_heartbeat_file(self) -> Path:
        if self.worker_heartbeat_file:
            return Path(self.worker_heartbeat_file)
        return Path(tempfile.gettempdir()) / "healthbook-worker.heartbeat"

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    @property
    def effective_database_url(self) -> str:
        if self.database_url is not None:
            return self.database_url
        return f"sqlite+aiosqlite:///{Path(self.data_dir).resolve() / 'healthbook.db'}"

    @property
    def relay_in_process(self) -> bool:
        """Whether the API process runs the notification relay itself."""
        if self.relay_embedded is not None:
            return self.relay_embedded
        return self.embedded_database

    @property
    def migrate_on_start(self) -> bool:
        if self.auto_migrate is not None:
            return self.auto_migrate
        return self.embedded_database

    @property
    def effective_signing_keys_dir(self) -> Path:
        return Path(self.signing_keys_dir or Path(self.data_dir) / "keys")

    @property
    def issuer(self) -> str:
        """Our ``iss`` and ``aud``: the public base URL without a trailing slash."""
        return self.public_base_url.rstrip("/")

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/auth/token"

    def check(self) -> None:
        """Refuse settings that must not start; raise SettingsError naming every problem."""
        problems: list[str] = []
        if self.workers < 1:
            problems.append("WORKERS must be at least 1")
        if not 1 <= self.redis_max_connections <= 10_000:
            problems.append("REDIS_MAX_CONNECTIONS must be between 1 and 10000")
        if self.workers > 1 and self.embedded_redis:
            problems.append(
                "the embedded Redis lives inside one process: set REDIS_URL to run more than one "
                "worker"
            )
        problems.extend(self._redis_cluster_problems())
        if not self.national_id_systems:
            problems.append("NATIONAL_ID_SYSTEMS must name at least one identifier system")
        if self.max_request_body_bytes < 1024:
            problems.append("MAX_REQUEST_BODY_BYTES must be at least 1024")
        if not 1 <= self.fcm_max_concurrency <= 1000:
            problems.append("FCM_MAX_CONCURRENCY must be between 1 and 1000")
        if not 1 <= self.relay_concurrency <= 16:
            problems.append("RELAY_CONCURRENCY must be between 1 and 16")
        if self.relay_batch_size < 1 or self.relay_batch_size > 1000:
            problems.append("RELAY_BATCH_SIZE must be between 1 and 1000")
        if self.relay_poll_seconds <= 0 or self.relay_lease_seconds < 1:
            problems.append("RELAY_POLL_SECONDS must be > 0 and RELAY_LEASE_SECONDS at least 1")
        if self.relay_stop_grace_seconds < 0:
            problems.append("RELAY_STOP_GRACE_SECONDS must be >= 0")
        if self.notification_max_attempts < 1 or self.notification_retry_base_seconds <= 0:
            problems.append(
                "NOTIFICATION_MAX_ATTEMPTS and NOTIFICATION_RETRY_BASE_SECONDS must be > 0"
            )
        if not 0 < self.jwks_fetch_timeout_seconds <= 60:
            problems.append("JWKS_FETCH_TIMEOUT_SECONDS must be > 0 and at most 60")
        if self.device_stale_days < 1 or self.notification_retention_days < 1:
            problems.append("DEVICE_STALE_DAYS and NOTIFICATION_RETENTION_DAYS must be at least 1")
        if self.pull_max_bytes < 1024 or self.pull_max_pages < 1 or self.pull_max_attempts < 1:
            problems.append(
                "PULL_MAX_BYTES must be at least 1024, PULL_MAX_PAGES and PULL_MAX_ATTEMPTS at "
                "least 1"
            )
        if (
            min(
                self.pull_connect_timeout_seconds,
                self.pull_read_timeout_seconds,
                self.pull_response_deadline_seconds,
                self.pull_retry_base_seconds,
                self.pull_interval_seconds,
            )
            <= 0
            or self.pull_retry_max_seconds < self.pull_retry_base_seconds
        ):
            problems.append(
                "PULL_*_SECONDS must be > 0, and PULL_RETRY_MAX_SECONDS at least "
                "PULL_RETRY_BASE_SECONDS"
            )
        if (
            self.appointment_booking_window_days < 1
            or self.appointment_max_active_per_citizen < 1
            or self.appointment_cancel_cutoff_minutes < 0
            or self.idempotency_key_ttl_hours < 1
            or any(not 1 <= m <= 43_200 for m in self.appointment_reminder_minutes)
        ):
            problems.append(
                "APPOINTMENT_BOOKING_WINDOW_DAYS, APPOINTMENT_MAX_ACTIVE_PER_CITIZEN and "
                "IDEMPOTENCY_KEY_TTL_HOURS must be at least 1, APPOINTMENT_CANCEL_CUTOFF_MINUTES "
                "at least 0, APPOINTMENT_REMINDER_MINUTES between 1 and 43200 each"
            )
        if (
            min(
                self.checkin_lead_minutes,
                self.checkin_grace_minutes,
                self.walk_in_reuse_minutes,
                self.queue_approaching_threshold,
            )
            < 0
            or self.queue_default_service_minutes <= 0
            or not 0 < self.queue_status_publish_seconds <= 60
        ):
            problems.append(
                "CHECKIN_LEAD_MINUTES, CHECKIN_GRACE_MINUTES, WALK_IN_REUSE_MINUTES and "
                "QUEUE_APPROACHING_THRESHOLD must be at least 0, QUEUE_DEFAULT_SERVICE_MINUTES "
                "> 0, QUEUE_STATUS_PUBLISH_SECONDS between 0 and 60"
            )
        problems.extend(self._rate_limit_problems())
        problems.extend(self._document_key_problems())
        if self.fcm_endpoint is not None and (
            self.production
            or not self.fcm_endpoint.startswith(("http://127.0.0.1:", "http://localhost:"))
        ):
            problems.append("FCM_ENDPOINT is for tests against a fake FCM server on loopback only")
        if self.metrics_token is not None and len(self.metrics_token) < 32:
            problems.append("METRICS_TOKEN must have at least 32 characters")
        if self.production:
            placeholders = sorted(
                name.upper()
                for name in (
                    "database_url",
                    "redis_url",
                    "identifier_hash_key",
                    "metrics_token",
                    "document_encryption_keys",
                )
                if "REPLACE-ME" in str(getattr(self, name) or "")
            )
            if placeholders:
                problems.append(
                    "PRODUCTION refuses the deploy templates' placeholders (REPLACE-ME) in "
                    + ", ".join(placeholders)
                )
            if self.embedded_database:
                problems.append("PRODUCTION needs DATABASE_URL (no embedded SQLite)")
            if self.embedded_redis:
                problems.append("PRODUCTION needs REDIS_URL (no embedded fakeredis)")
            if not self.identifier_hash_key or len(self.identifier_hash_key) < 32:
                problems.append("PRODUCTION needs IDENTIFIER_HASH_KEY (at least 32 characters)")
            if not self.signing_keys_dir:
                problems.append("PRODUCTION needs SIGNING_KEYS_DIR (keys are never generated)")
            if self.demo:
                problems.append("PRODUCTION cannot run the demo identity provider (DEMO)")
            if not self.fcm_credentials:
                problems.append("PRODUCTION needs FCM_CREDENTIALS (no console sender)")
            if not self.document_encryption_keys:
                problems.append(
                    "PRODUCTION needs DOCUMENT_ENCRYPTION_KEYS (document keys are never generated)"
                )
        if problems:
            raise SettingsError("; ".join(problems))

    @property
    def rate_limit_budgets(self) -> dict[str, tuple[int, int] | None]:
        """Each rate-limit class's budget as (requests, window seconds); None: unlimited."""
        return {name: parse_budget(getattr(self, f"rate_limit_{name}")) for name in RATE_CLASSES}

    def _rate_limit_problems(self) -> list[str]:
        problems: list[str] = []
        for name in RATE_CLASSES:
            try:
                parse_budget(getattr(self, f"rate_limit_{name}"))
            except ValueError as exc:
                problems.append(f"RATE_LIMIT_{name.upper()}: {exc}")
        unknown = sorted(set(self.rate_limit_fail_closed) - set(RATE_CLASSES))
        if unknown:
            problems.append(
                f"RATE_LIMIT_FAIL_CLOSED names unknown classes {unknown}; known: "
                f"{', '.join(RATE_CLASSES)}"
            )
        if not 0 <= self.trusted_proxy_hops <= 10:
            problems.append("TRUSTED_PROXY_HOPS must be between 0 and 10")
        return problems

    def _redis_cluster_problems(self) -> list[str]:
        if not self.redis_cluster:
            return []
        if self.redis_url is None:
            return ["REDIS_CLUSTER needs REDIS_URL (one node of the cluster)"]
        url = urlsplit(self.redis_url)
        if url.scheme not in ("redis", "rediss") or not url.hostname:
            return ["REDIS_CLUSTER needs REDIS_URL as redis://host:port or rediss://host:port"]
        if url.path.strip("/") not in ("", "0"):
            return ["REDIS_CLUSTER: a Redis Cluster has only database 0 (REDIS_URL ends in /0)"]
        return []

    def _document_key_problems(self) -> list[str]:
        try:
            parse_document_keys(self.document_encryption_keys)
        except ValueError as exc:
            return [f"DOCUMENT_ENCRYPTION_KEYS: {exc}"]
        return []

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every field from its upper-case environment variable; bad values raise."""
        env = os.environ if environ is None else environ
        raw: dict[str, Any] = {}
        list_fields = {
            field.name
            for field in msgspec.structs.fields(cls)
            if getattr(field.type, "__origin__", None) is list
        }
        for name in cls.__struct_fields__:
            value = env.get(name.upper())
            if value is not None and value != "":
                raw[name] = (
                    [item.strip() for item in value.split(",") if item.strip()]
                    if name in list_fields
                    else value
                )
        try:
            settings = msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SettingsError(f"invalid setting: {exc}") from exc
        settings.check()
        return settings

    def replace(self, **changes: Any) -> Settings:
        return msgspec.structs.replace(self, **changes)
