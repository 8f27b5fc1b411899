"""Service settings: frozen msgspec Structs, one section per concern, read from the environment.

Each field names its environment variable (the section's ``rename``): ``settings.database.url`` is
``DATABASE_URL``, ``settings.http.port`` is ``PORT``; the variable names and defaults are those of
the one flat Struct this replaced. Ranges are ``msgspec.Meta`` constraints checked when the
settings are read (``from_env``) and by ``check()``; rules across fields are the few explicit
checks in ``check()``. A bad value's error names its variable.

With nothing set the service runs in embedded mode: SQLite in ``DATA_DIR``, in-process fakeredis,
signing keys generated into ``DATA_DIR/keys``. ``PRODUCTION=true`` refuses to start on embedded
backends or with missing secrets.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal, NamedTuple, get_args
from urllib.parse import urlsplit

import msgspec
from msgspec import Meta

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

RateClass = Literal["token", "booking", "checkin", "publishing", "reads", "writes"]
RATE_CLASSES: Final[tuple[RateClass, ...]] = get_args(RateClass)
"""The classes of request that rate limits tell apart (api/core/ratelimit.py)."""

_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,32}$")

PositiveInt = Annotated[int, Meta(ge=1)]
SHL_MAX_BASE_URL = 128 - len("/shl/") - 43
"""The longest public base URL under which a SMART Health Link's ``url`` stays within 128."""
NonNegativeInt = Annotated[int, Meta(ge=0)]
PositiveFloat = Annotated[float, Meta(gt=0)]


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


def parse_health_card_key(text: str) -> Any:
    """One HEALTH_CARD_SIGNING_KEYS item -> its EC P-256 private key: PKCS#8 as PEM (newlines
    may be written ``\\n``) or the base64 (standard or URL-safe) of its DER."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    value = text.strip()
    try:
        if value.startswith("-----BEGIN"):
            key: Any = serialization.load_pem_private_key(
                value.replace("\\n", "\n").encode(), password=None
            )
        else:
            der = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_")
            key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ValueError("not a PKCS#8 private key (PEM or base64 DER)") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("a health card key must be an EC P-256 key (ES256)")
    return key


class SettingsError(ValueError):
    """The environment does not describe a service that may start."""


def _env(prefix: str = "", **explicit: str) -> Callable[[str], str]:
    """A section's ``rename``: a field's environment variable is ``prefix + NAME``, or as given."""

    def rename(name: str) -> str:
        return explicit.get(name, f"{prefix}{name}".upper())

    return rename


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A group of settings about one concern; each field is one environment variable."""


class DatabaseSettings(
    _Section, frozen=True, rename=_env("DATABASE_", auto_migrate="AUTO_MIGRATE")
):
    url: str | None = None
    """SQLAlchemy URL, ``postgresql+asyncpg://user@host:5432/db``. Unset: SQLite in DATA_DIR."""

    pool_size: int = 20
    """Database connections per process (a fixed pool; requests beyond it wait their turn)."""

    timeout_seconds: float = 5.0
    """How long a request waits for a connection or a statement before failing fast."""

    auto_migrate: bool | None = None
    """Apply migrations at start. Unset: on in embedded mode, off when DATABASE_URL is set."""

    @property
    def embedded(self) -> bool:
        return self.url is None


class RedisSettings(_Section, frozen=True, rename=_env("REDIS_")):
    url: str | None = None
    """``redis://host:6379/0``. Unset: in-process fakeredis (single process only)."""

    timeout_seconds: float = 2.0
    """Socket timeouts towards Redis, and how long a command waits for a free pooled connection."""

    max_connections: Annotated[int, Meta(ge=1, le=10_000)] = 100
    """Connections per process to Redis. Past them a command waits (up to
    ``REDIS_TIMEOUT_SECONDS``) for one to come back instead of failing at once."""

    cluster: bool = False
    """``REDIS_URL`` names one node of a Redis Cluster (database 0): the client finds the other
    nodes from it and sends each key to the node owning its slot (README, "Redis Cluster")."""

    @property
    def embedded(self) -> bool:
        return self.url is None


class HttpSettings(_Section, frozen=True, rename=_env()):
    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=0, le=65_535)] = 8000
    workers: PositiveInt = 1

    max_request_body_bytes: Annotated[int, Meta(ge=1024)] = 1_048_576
    """Request body limit for every route that does not set its own (413 past it)."""

    public_base_url: str = "http://127.0.0.1:8000"
    """The URL callers use to reach this service (token audience, links)."""

    trusted_proxy_hops: Annotated[int, Meta(ge=0, le=10)] = 0
    """Reverse proxies in front of the service that append to ``X-Forwarded-For``: the caller's
    address is the entry this many places from the right. 0: the connection's peer address."""


class ObservabilitySettings(_Section, frozen=True, rename=_env()):
    log_level: LogLevel = "INFO"

    access_log: bool = True
    """One JSON line per request (method, route template, status, duration, request id)."""

    metrics_token: Annotated[str, Meta(min_length=32)] | None = None
    """When set, ``/metrics`` answers only requests with ``Authorization: Bearer <token>`` (the
    Prometheus scraper's credential); at least 32 characters."""


class SecuritySettings(_Section, frozen=True, rename=_env()):
    identifier_hash_key: str | None = None
    """Secret for the keyed hash (HMAC-SHA-256) of national ID numbers. Required in production."""

    signing_keys_dir: str | None = None
    """Directory of our Ed25519 signing keys. Unset: DATA_DIR/keys, generated on first start."""

    signing_key_verify_keep_days: int = 30
    """After a rotation, the previous signing key still verifies this long."""

    document_deflate: bool = False
    """Deflate documents before encrypting them (stored with the ``HBE2`` marker). Every release
    from this one reads such values; one before it does not, so turn this on once no older pod
    or image can read the database (a rolling update done, no rollback past this release)."""

    document_encryption_keys: list[str] = msgspec.field(default_factory=list)
    """Key-encryption keys of health documents at rest, ``ID:BASE64`` (32 random bytes each),
    comma-separated: the first wraps new data keys, every one unwraps (rotation). Unset outside
    production: one generated into DATA_DIR/document-keys. ``healthbook keys new-document-key``
    makes one. A secret."""


class IdentitySettings(_Section, frozen=True, rename=_env()):
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

    jwks_fetch_timeout_seconds: Annotated[float, Meta(gt=0, le=60)] = 5.0
    """How long one fetch of an identity provider's keys may take; logins that arrive while it
    is in flight wait for it (at most this long) rather than being refused."""

    client_assertion_max_lifetime_seconds: int = 300
    """A client assertion must expire within this many seconds of being issued."""

    guardian_child_max_age: int = 18
    """A parent acts for a child until the child turns this old."""


class FhirSettings(
    _Section,
    frozen=True,
    rename=_env(
        "FHIR_",
        national_id_systems="NATIONAL_ID_SYSTEMS",
        insurance_card_systems="INSURANCE_CARD_SYSTEMS",
    ),
):
    max_body_bytes: int = 10_000_000
    """Largest FHIR Bundle accepted on the FHIR endpoints (413 OperationOutcome past it)."""

    max_depth: int = 64
    """Deepest JSON nesting accepted in a FHIR Bundle."""

    national_id_systems: Annotated[list[str], Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["https://fhir.moh.gov.vn/sid/cccd"]
    )
    """Patient identifier systems that carry the national ID number (comma-separated). Published
    summaries are matched to citizens by an identifier in one of these systems."""

    insurance_card_systems: list[str] = msgspec.field(
        default_factory=lambda: ["https://fhir.moh.gov.vn/sid/bhyt"]
    )
    """Patient identifier systems of health-insurance card numbers (comma-separated)."""


class PullSettings(_Section, frozen=True, rename=_env("PULL_")):
    max_bytes: Annotated[int, Meta(ge=1024)] = 20_000_000
    """Most bytes one patient's pull from a facility's FHIR API may download, all pages together
    (checked while each response streams; past it the pull is refused)."""

    max_pages: PositiveInt = 100
    """Most ``$everything`` pages (``Bundle.link[next]``) followed for one patient."""

    connect_timeout_seconds: PositiveFloat = 5.0
    """Timeout of connecting to a facility's FHIR API (or its token endpoint)."""

    read_timeout_seconds: PositiveFloat = 30.0
    """Longest wait for the next bytes of a response from a facility's FHIR API."""

    response_deadline_seconds: PositiveFloat = 120.0
    """The most one response from a facility's FHIR API may take in all, first byte to last."""

    max_attempts: PositiveInt = 4
    """Attempts of one request to a facility's FHIR API that fails with 429, 502, 503, 504, a
    connection error or a timeout, before the pull gives up."""

    retry_base_seconds: PositiveFloat = 1.0
    """First retry delay of a pull request; doubles per attempt, with jitter; a longer
    ``Retry-After`` wins."""

    retry_max_seconds: float = 30.0
    """Longest retry delay; a server asking to wait longer (``Retry-After``) fails the pull. At
    least PULL_RETRY_BASE_SECONDS."""

    token_scope: str = "system/*.read"
    """Scope asked of a facility's token endpoint (SMART Backend Services)."""

    interval_seconds: PositiveFloat = 3600.0
    """How often the periodic pull job re-syncs the patients it knows at each facility."""


_FCM_TEST_ORIGIN = r"^http://(127\.0\.0\.1|localhost):"


class NotificationSettings(
    _Section,
    frozen=True,
    rename=_env(
        max_attempts="NOTIFICATION_MAX_ATTEMPTS",
        retry_base_seconds="NOTIFICATION_RETRY_BASE_SECONDS",
        retry_max_seconds="NOTIFICATION_RETRY_MAX_SECONDS",
        retention_days="NOTIFICATION_RETENTION_DAYS",
    ),
):
    fcm_credentials: str | None = None
    """Path to a Firebase service-account JSON file. Unset: notifications go to the console."""

    fcm_endpoint: Annotated[str, Meta(pattern=_FCM_TEST_ORIGIN)] | None = None
    """Origin of the FCM HTTP v1 API instead of https://fcm.googleapis.com. Tests only: a fake FCM
    server on loopback (``http://127.0.0.1:PORT``); refused in production and for other hosts."""

    fcm_timeout_seconds: float = 10.0
    """Timeout of one request to FCM."""

    fcm_max_concurrency: Annotated[int, Meta(ge=1, le=1000)] = 64
    """Requests in flight to FCM per relay process (HTTP/2 streams on one connection)."""

    relay_embedded: bool | None = None
    """Run the notification relay inside the API process. Unset: on in embedded mode (no
    DATABASE_URL), off otherwise (run ``healthbook worker`` replicas)."""

    relay_batch_size: Annotated[int, Meta(ge=1, le=1000)] = 100
    """Outbox rows a relay claims at a time."""

    relay_poll_seconds: PositiveFloat = 5.0
    """How often an idle relay looks for due rows when no Redis wake-up arrives."""

    relay_concurrency: Annotated[int, Meta(ge=1, le=16)] = 2
    """Batches a relay process works on at once (one's database work overlaps another's sending);
    always one on SQLite."""

    relay_lease_seconds: Annotated[float, Meta(ge=1)] = 60.0
    """A claimed row is the relay's for this long (renewed while it works); a relay that dies
    loses its rows to another after it."""

    relay_stop_grace_seconds: Annotated[float, Meta(ge=0)] = 30.0
    """A stopping relay (SIGTERM) lets the batch in hand finish for this long; past it, it stops
    sending and gives its claimed rows back, so another relay sends them at once."""

    worker_heartbeat_file: str | None = None
    """Where ``healthbook worker`` writes when its relay last went round its loop, for
    ``healthbook worker-alive`` (the liveness check). Unset: ``healthbook-worker.heartbeat`` in
    the system's temporary directory."""

    worker_metrics_host: str = "127.0.0.1"
    """Address ``healthbook worker`` serves ``/metrics`` and ``/health/live`` on (``0.0.0.0`` in
    a container Prometheus scrapes)."""

    worker_metrics_port: Annotated[int, Meta(ge=0, le=65535)] = 0
    """Port of the worker's ``/metrics`` (METRICS_TOKEN applies) and ``/health/live`` (200 while
    the relay's last cycle is fresh, 503 otherwise). 0: not served."""

    max_attempts: PositiveInt = 8
    """Attempts before a notification that keeps failing on some device is dead-lettered."""

    retry_base_seconds: PositiveFloat = 10.0
    """First retry delay; doubles per attempt, with jitter; FCM's Retry-After wins when longer."""

    retry_max_seconds: float = 3600.0
    """Longest retry delay (before Retry-After)."""

    retention_days: PositiveInt = 30
    """Finished outbox rows (and their per-device outcomes) are deleted after this many days."""

    device_stale_days: PositiveInt = 60
    """A device not seen (no registration refresh) for this many days is pruned."""

    @property
    def effective_worker_heartbeat_file(self) -> Path:
        if self.worker_heartbeat_file:
            return Path(self.worker_heartbeat_file)
        return Path(tempfile.gettempdir()) / "healthbook-worker.heartbeat"


class AppointmentSettings(
    _Section,
    frozen=True,
    rename=_env("APPOINTMENT_", idempotency_key_ttl_hours="IDEMPOTENCY_KEY_TTL_HOURS"),
):
    booking_window_days: PositiveInt = 60
    """Slots starting further ahead than this many days are neither listed nor bookable."""

    max_active_per_citizen: PositiveInt = 10
    """Most upcoming appointments (booked or checked in) one citizen may hold at a time."""

    cancel_cutoff_minutes: NonNegativeInt = 120
    """A citizen may cancel or reschedule until this many minutes before the start."""

    reminder_minutes: list[Annotated[int, Meta(ge=1, le=43_200)]] = msgspec.field(
        default_factory=lambda: [1440, 120]
    )
    """Reminders before an appointment's start, in minutes (comma-separated)."""

    idempotency_key_ttl_hours: PositiveInt = 24
    """How long an ``Idempotency-Key`` and its stored answer are kept (per citizen)."""


class CheckinSettings(
    _Section,
    frozen=True,
    rename=_env(lead_minutes="CHECKIN_LEAD_MINUTES", grace_minutes="CHECKIN_GRACE_MINUTES"),
):
    lead_minutes: NonNegativeInt = 60
    """A check-in code is valid from this many minutes before the appointment's start."""

    grace_minutes: NonNegativeInt = 30
    """... until this many minutes after the start."""

    walk_in_reuse_minutes: NonNegativeInt = 30
    """Scanning a facility QR again within this time answers the ticket already issued."""

    queue_approaching_threshold: NonNegativeInt = 3
    """A waiting citizen is told when this many people (or fewer) are ahead of them."""

    queue_default_service_minutes: PositiveFloat = 10.0
    """Estimated minutes per person when the queue has no calls in the last hour to average."""

    queue_status_publish_seconds: Annotated[float, Meta(gt=0, le=60)] = 0.2
    """Live queue updates (Redis pub/sub) of one queue are coalesced to one per this interval."""


class RateLimitSettings(_Section, frozen=True, rename=_env("RATE_LIMIT_")):
    enabled: bool = True
    """Rate limits per caller and class of request (see README, "Rate limits"). Off: no limit and
    no Redis round trip per request (benchmarks run with it off)."""

    token: str = "1200/60"
    """Budget of the token endpoint (``POST /auth/token``), per IP address: ``N/S`` is N requests
    in any S seconds, ``off`` is no limit. Generous: a carrier's NAT puts many phones behind one
    address."""

    booking: str = "30/60"
    """Budget of booking, cancelling and rescheduling appointments, per citizen (``N/S``)."""

    checkin: str = "300/60"
    """Budget of kiosk check-ins (per kiosk client) and walk-ins (per citizen) (``N/S``)."""

    publishing: str = "600/60"
    """Budget of publishing summaries and slots, per hospital client (``N/S``)."""

    reads: str = "1200/60"
    """Budget of every other ``GET``, per caller (citizen, client, or IP address) (``N/S``)."""

    writes: str = "300/60"
    """Budget of every other write (``POST``/``PUT``/``PATCH``/``DELETE``), per caller (``N/S``)."""

    fail_closed: list[RateClass] = msgspec.field(default_factory=lambda: ["booking", "checkin"])
    """Classes answered 503 when Redis cannot be asked (comma-separated); the other classes pass
    unlimited while it is away."""

    @property
    def budgets(self) -> dict[str, tuple[int, int] | None]:
        """Each rate-limit class's budget as (requests, window seconds); None: unlimited."""
        return {name: parse_budget(self.budget_text(name)) for name in RATE_CLASSES}

    def budget_text(self, name: RateClass) -> str:
        return {
            "token": self.token,
            "booking": self.booking,
            "checkin": self.checkin,
            "publishing": self.publishing,
            "reads": self.reads,
            "writes": self.writes,
        }[name]


class InsuranceSettings(_Section, frozen=True, rename=_env("INSURANCE_")):
    """Hospitals' insurance XML (QĐ 130/4750/3176)."""

    max_envelope_bytes: Annotated[int, Meta(ge=1024)] = 32_000_000
    """Largest ``GIAMDINHHS`` envelope accepted on ``POST /hospital/insurance-xml`` and by
    ``healthbook import-xml`` (413 past it)."""

    max_file_bytes: Annotated[int, Meta(ge=1024, le=7_500_000)] = 7_000_000
    """Largest decoded table file (one ``FILEHOSO``'s ``NOIDUNGFILE``); a larger one rejects
    its episode. At most 7,500,000: its base64 must stay under the 10 MB the hardened parser
    allows one text node."""

    max_episodes: PositiveInt = 2_000
    """Most episodes (``HOSO``) in one envelope."""

    accept_unsigned_facilities: list[str] = msgspec.field(default_factory=list)
    """Facility codes whose envelopes are accepted without a valid ``CHUKYDONVI`` signature
    (comma-separated; empty by default). For test systems only: ``check-config`` warns when set
    in production."""


class SharingSettings(_Section, frozen=True, rename=_env("SHARING_")):
    """SMART Health Links a citizen makes to share the book (README, "Sharing")."""

    max_days: Annotated[int, Meta(ge=1, le=365)] = 90
    """Longest a share may live: its ``expires_at`` is at most this many days ahead."""

    passcode_attempts: Annotated[int, Meta(ge=1, le=100)] = 10
    """Wrong passcodes a link accepts over its whole life; at zero it is disabled (404)."""

    file_url_seconds: Annotated[int, Meta(ge=10, le=3600)] = 300
    """How long a manifest's file ``location`` URL stays valid (the spec allows at most one
    hour)."""

    viewer_url: Annotated[str, Meta(max_length=200, pattern=r"^(https?://[^\s#]+)?$")] = ""
    """An external SHL viewer (a web app that reads the payload after ``#``) the link and QR
    open; empty: the viewer this service serves at ``PUBLIC_BASE_URL/viewer``."""

    poll_seconds: Annotated[int, Meta(ge=0, le=86_400)] = 10
    """Long-term (``L``) links: a recipient polls the manifest at most once per this many
    seconds on average (429 with ``Retry-After`` past it); 0: not limited."""

    poll_burst: Annotated[int, Meta(ge=1, le=100)] = 6
    """… allowing this many requests at once: at most ``poll_burst`` manifest answers of one
    ``L`` link in any ``poll_burst`` × ``poll_seconds`` seconds."""

    sweep_after_days: Annotated[int, Meta(ge=0, le=3650)] = 0
    """An expired or revoked link's ciphertext, key, passcode hash and file tickets are erased
    this many days after it stopped working (the row's metadata stays); 0: at the next sweep."""

    sweep_interval_seconds: Annotated[int, Meta(ge=10, le=86_400)] = 3600
    """How often ``healthbook worker`` sweeps."""


class MeasurementSettings(_Section, frozen=True, rename=_env("MEASUREMENTS_")):
    """Home measurements citizens record and import (README, "Home measurements")."""

    max_per_citizen: Annotated[int, Meta(ge=1, le=10_000_000)] = 200_000
    """Most home readings one person's book holds (deleted ones not counted); past it a
    reading is refused (422 ``measurement-limit-reached``, or the sample's reason in an
    import)."""

    max_batch: Annotated[int, Meta(ge=1, le=10_000)] = 1000
    """Most samples in one JSON batch (``POST …/measurements/batch``)."""

    import_max_bytes: Annotated[int, Meta(ge=1024, le=64 * 1024**3)] = 4 * 1024**3
    """Largest Apple Health export uploaded (``POST …/measurements/imports``, the zip or the
    xml as sent); a larger one is refused (413) as it arrives. It waits in
    DATA_DIR/measurement-imports until imported, so the disk needs this much free per import."""

    imports_per_day: Annotated[int, Meta(ge=1, le=1000)] = 10
    """Most imports one person starts in 24 hours (429 past it); one runs at a time (409)."""

    import_stale_seconds: Annotated[int, Meta(ge=30, le=86_400)] = 600
    """An import whose job row has not moved for this long (its process stopped) is reported
    failed, its readings deleted."""


class HealthCardSettings(_Section, frozen=True, rename=_env("HEALTH_CARD_")):
    """SMART Health Cards this service signs and verifies (README, "SMART Health Cards")."""

    signing_keys: list[str] = msgspec.field(default_factory=list)
    """Issuer private keys (EC P-256), comma-separated, each PKCS#8 PEM or base64 DER: the first
    signs, the others only verify (rotation). Unset outside production: one generated into
    DATA_DIR/health-card-keys; unset in production: no card is issued. A secret."""

    trusted_issuers: list[
        Annotated[str, Meta(max_length=200, pattern=r"^https://[^\s/#?]+(/[^\s#?]*[^\s#?/])?$")]
    ] = msgspec.field(default_factory=list)
    """Other issuers (their ``iss``, https, no trailing slash) whose cards the verifier accepts;
    their keys are fetched from ``ISS/.well-known/jwks.json``. This service is always trusted."""


class Settings(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    rename={"production": "PRODUCTION", "data_dir": "DATA_DIR", "demo": "DEMO"},
):
    production: bool = False
    """Production mode: no embedded backends, every secret required."""

    data_dir: str = ".healthbook"
    """Where embedded mode keeps its SQLite file and generated keys."""

    demo: bool = False
    """Demo mode (``healthbook demo``): mounts the demo identity provider. Never in production."""

    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    redis: RedisSettings = msgspec.field(default_factory=RedisSettings)
    http: HttpSettings = msgspec.field(default_factory=HttpSettings)
    observability: ObservabilitySettings = msgspec.field(default_factory=ObservabilitySettings)
    security: SecuritySettings = msgspec.field(default_factory=SecuritySettings)
    identity: IdentitySettings = msgspec.field(default_factory=IdentitySettings)
    fhir: FhirSettings = msgspec.field(default_factory=FhirSettings)
    pull: PullSettings = msgspec.field(default_factory=PullSettings)
    notifications: NotificationSettings = msgspec.field(default_factory=NotificationSettings)
    appointments: AppointmentSettings = msgspec.field(default_factory=AppointmentSettings)
    checkin: CheckinSettings = msgspec.field(default_factory=CheckinSettings)
    rate_limits: RateLimitSettings = msgspec.field(default_factory=RateLimitSettings)
    insurance: InsuranceSettings = msgspec.field(default_factory=InsuranceSettings)
    sharing: SharingSettings = msgspec.field(default_factory=SharingSettings)
    health_cards: HealthCardSettings = msgspec.field(default_factory=HealthCardSettings)
    measurements: MeasurementSettings = msgspec.field(default_factory=MeasurementSettings)

    @property
    def effective_database_url(self) -> str:
        if self.database.url is not None:
            return self.database.url
        return f"sqlite+aiosqlite:///{Path(self.data_dir).resolve() / 'healthbook.db'}"

    @property
    def relay_in_process(self) -> bool:
        """Whether the API process runs the notification relay itself."""
        if self.notifications.relay_embedded is not None:
            return self.notifications.relay_embedded
        return self.database.embedded

    @property
    def migrate_on_start(self) -> bool:
        if self.database.auto_migrate is not None:
            return self.database.auto_migrate
        return self.database.embedded

    @property
    def effective_signing_keys_dir(self) -> Path:
        return Path(self.security.signing_keys_dir or Path(self.data_dir) / "keys")

    @property
    def issuer(self) -> str:
        """Our ``iss`` and ``aud``: the public base URL without a trailing slash."""
        return self.http.public_base_url.rstrip("/")

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/auth/token"

    def check(self) -> None:
        """Refuse settings that must not start; raise SettingsError naming every problem.

        The ranges (``Meta`` constraints) are checked again here, for settings built in code
        rather than read by ``from_env``; then the rules across fields."""
        problems: list[str] = []
        try:
            msgspec.convert(msgspec.to_builtins(self), Settings)
        except msgspec.ValidationError as exc:
            problems.append(_naming_the_variable(exc))
        problems.extend(self._cross_field_problems())
        if problems:
            raise SettingsError("; ".join(problems))

    def _cross_field_problems(self) -> list[str]:
        problems: list[str] = []
        if self.http.workers > 1 and self.redis.embedded:
            problems.append(
                "the embedded Redis lives inside one process: set REDIS_URL to run more than one "
                "worker"
            )
        problems.extend(self._redis_cluster_problems())
        if self.pull.retry_max_seconds < self.pull.retry_base_seconds:
            problems.append("PULL_RETRY_MAX_SECONDS must be at least PULL_RETRY_BASE_SECONDS")
        if len(self.issuer) > SHL_MAX_BASE_URL:
            problems.append(
                f"PUBLIC_BASE_URL must be at most {SHL_MAX_BASE_URL} characters: a SMART Health "
                "Link's manifest URL (PUBLIC_BASE_URL/shl/ and 43 characters) may not pass 128"
            )
        if self.insurance.max_envelope_bytes < self.insurance.max_file_bytes:
            problems.append(
                "INSURANCE_MAX_ENVELOPE_BYTES must be at least INSURANCE_MAX_FILE_BYTES"
            )
        for name in RATE_CLASSES:
            try:
                parse_budget(self.rate_limits.budget_text(name))
            except ValueError as exc:
                problems.append(f"RATE_LIMIT_{name.upper()}: {exc}")
        try:
            parse_document_keys(self.security.document_encryption_keys)
        except ValueError as exc:
            problems.append(f"DOCUMENT_ENCRYPTION_KEYS: {exc}")
        for position, text in enumerate(self.health_cards.signing_keys, start=1):
            try:
                parse_health_card_key(text)
            except ValueError as exc:
                problems.append(f"HEALTH_CARD_SIGNING_KEYS: key {position}: {exc}")
        if self.production:
            problems.extend(self._production_problems())
        return problems

    def _production_problems(self) -> list[str]:
        problems: list[str] = []
        secrets = {
            "DATABASE_URL": self.database.url,
            "REDIS_URL": self.redis.url,
            "IDENTIFIER_HASH_KEY": self.security.identifier_hash_key,
            "METRICS_TOKEN": self.observability.metrics_token,
            "DOCUMENT_ENCRYPTION_KEYS": self.security.document_encryption_keys,
            "HEALTH_CARD_SIGNING_KEYS": self.health_cards.signing_keys,
        }
        placeholders = sorted(
            name for name, value in secrets.items() if "REPLACE-ME" in str(value or "")
        )
        if placeholders:
            problems.append(
                "PRODUCTION refuses the deploy templates' placeholders (REPLACE-ME) in "
                + ", ".join(placeholders)
            )
        if self.database.embedded:
            problems.append("PRODUCTION needs DATABASE_URL (no embedded SQLite)")
        if self.redis.embedded:
            problems.append("PRODUCTION needs REDIS_URL (no embedded fakeredis)")
        key = self.security.identifier_hash_key
        if not key or len(key) < 32:
            problems.append("PRODUCTION needs IDENTIFIER_HASH_KEY (at least 32 characters)")
        if not self.security.signing_keys_dir:
            problems.append("PRODUCTION needs SIGNING_KEYS_DIR (keys are never generated)")
        if self.demo:
            problems.append("PRODUCTION cannot run the demo identity provider (DEMO)")
        if not self.notifications.fcm_credentials:
            problems.append("PRODUCTION needs FCM_CREDENTIALS (no console sender)")
        if self.notifications.fcm_endpoint is not None:
            problems.append("FCM_ENDPOINT is for tests against a fake FCM server on loopback only")
        if not self.security.document_encryption_keys:
            problems.append(
                "PRODUCTION needs DOCUMENT_ENCRYPTION_KEYS (document keys are never generated)"
            )
        return problems

    def _redis_cluster_problems(self) -> list[str]:
        if not self.redis.cluster:
            return []
        if self.redis.url is None:
            return ["REDIS_CLUSTER needs REDIS_URL (one node of the cluster)"]
        url = urlsplit(self.redis.url)
        if url.scheme not in ("redis", "rediss") or not url.hostname:
            return ["REDIS_CLUSTER needs REDIS_URL as redis://host:port or rediss://host:port"]
        if url.path.strip("/") not in ("", "0"):
            return ["REDIS_CLUSTER: a Redis Cluster has only database 0 (REDIS_URL ends in /0)"]
        return []

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every field from its environment variable; bad values raise SettingsError."""
        env = os.environ if environ is None else environ
        raw: dict[str, Any] = {}
        files = _secrets_from_files(env)
        for variable in VARIABLES.values():
            value = files.get(variable.name, env.get(variable.name))
            if value is None or value == "":
                continue
            if variable.is_list:
                value = [item.strip() for item in value.split(",") if item.strip()]
            target = raw if variable.section is None else raw.setdefault(variable.section, {})
            target[variable.name] = value
        try:
            settings = msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SettingsError(f"invalid setting {_naming_the_variable(exc)}") from exc
        settings.check()
        return settings

    @classmethod
    def from_flat(cls, **values: Any) -> Settings:
        """Settings from flat names, each an environment variable in lower case
        (``database_url=...``, ``relay_batch_size=...``), the rest at their defaults; like
        constructing a Struct, nothing is checked until ``check()``."""
        return cls().replace(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes``, by flat name (``redis_url=...``, the environment variable in
        lower case) or by this Struct's own fields (``database=DatabaseSettings(...)``)."""
        own: dict[str, Any] = {}
        sections: dict[str, dict[str, Any]] = {}
        for name, value in changes.items():
            if name in self.__struct_fields__:
                own[name] = value
                continue
            variable = VARIABLES.get(name.upper())
            if variable is None or variable.section is None:
                raise TypeError(f"unknown setting {name!r}")
            sections.setdefault(variable.section, {})[variable.field] = value
        for section, values in sections.items():
            own[section] = msgspec.structs.replace(
                own.get(section, getattr(self, section)), **values
            )
        return msgspec.structs.replace(self, **own)

    def by_variable(self) -> dict[str, Any]:
        """Each environment variable and its value in these settings, in declaration order."""
        return {
            variable.name: getattr(
                self if variable.section is None else getattr(self, variable.section),
                variable.field,
            )
            for variable in VARIABLES.values()
        }

    @classmethod
    def environment_variables(cls) -> frozenset[str]:
        """Every environment variable the service reads (one per field; see also
        :meth:`secret_file_variables`)."""
        return frozenset(VARIABLES)

    @classmethod
    def secret_file_variables(cls) -> frozenset[str]:
        """``<NAME>_FILE`` of each secret setting: its value read from that file."""
        return frozenset(f"{name}_FILE" for name in SECRET_VARIABLES)


SECRET_VARIABLES: Final[tuple[str, ...]] = (
    "DATABASE_URL",
    "REDIS_URL",
    "IDENTIFIER_HASH_KEY",
    "METRICS_TOKEN",
    "DOCUMENT_ENCRYPTION_KEYS",
    "HEALTH_CARD_SIGNING_KEYS",
)
"""The settings that hold a secret (a password inside a URL counts). Each may instead be read
from a file named by ``<NAME>_FILE`` (a Kubernetes secret volume, a Docker secret)."""

SECRET_FILE_MAX_BYTES = 64 * 1024


def _secrets_from_files(env: Mapping[str, str]) -> dict[str, str]:
    """``<NAME>_FILE`` -> the file's text (one trailing newline dropped), for each secret setting.

    Setting both ``NAME`` and ``NAME_FILE`` is refused (which one wins would be a guess); so is a
    missing, unreadable, empty, oversized or non-UTF-8 file, with the variable named.
    """
    found: dict[str, str] = {}
    for name in SECRET_VARIABLES:
        path = env.get(f"{name}_FILE")
        if not path:
            continue
        if env.get(name):
            raise SettingsError(f"set {name} or {name}_FILE, not both")
        try:
            with open(path, "rb") as file:
                data = file.read(SECRET_FILE_MAX_BYTES + 1)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise SettingsError(f"{name}_FILE: cannot read {path}: {reason}") from None
        if len(data) > SECRET_FILE_MAX_BYTES:
            raise SettingsError(f"{name}_FILE: {path} is larger than {SECRET_FILE_MAX_BYTES} bytes")
        try:
            text = data.decode("utf-8").removesuffix("\n").removesuffix("\r")
        except UnicodeDecodeError:
            raise SettingsError(f"{name}_FILE: {path} is not UTF-8 text") from None
        if not text.strip():
            raise SettingsError(f"{name}_FILE: {path} is empty")
        found[name] = text
    return found


class Variable(NamedTuple):
    """One environment variable: where it lands in Settings (``section`` None: Settings itself)."""

    name: str
    section: str | None
    field: str
    is_list: bool


def _variables() -> Mapping[str, Variable]:
    found: dict[str, Variable] = {}
    info = msgspec.inspect.type_info(Settings)
    assert isinstance(info, msgspec.inspect.StructType)
    for field in info.fields:
        if isinstance(field.type, msgspec.inspect.StructType):
            for inner in field.type.fields:
                found[inner.encode_name] = Variable(
                    inner.encode_name,
                    field.name,
                    inner.name,
                    isinstance(inner.type, msgspec.inspect.ListType),
                )
        else:
            found[field.encode_name] = Variable(field.encode_name, None, field.name, False)
    return MappingProxyType(found)


VARIABLES: Final[Mapping[str, Variable]] = _variables()
"""Each environment variable (``DATABASE_URL``) and where its value lives in Settings."""

_AT = re.compile(
    r"^(?P<what>.*) - at `\$\.(?:(?P<section>[a-z_]+)\.)?(?P<name>[A-Z0-9_]+)(?P<index>\[\d+\])?`$"
)


def _naming_the_variable(exc: msgspec.ValidationError) -> str:
    """``Expected `int`, got `str` - at `$.http.PORT``` -> ``PORT: Expected `int`, got `str`
    (settings.http.port)``."""
    text = str(exc)
    found = _AT.match(text)
    variable = VARIABLES.get(found["name"]) if found else None
    if found is None or variable is None:
        return text
    where = f"{variable.section}.{variable.field}" if variable.section else variable.field
    return f"{variable.name}{found['index'] or ''}: {found['what']} (settings.{where})"
