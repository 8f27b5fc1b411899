"""Service settings: one frozen msgspec Struct, loaded from environment variables.

Every field maps to the environment variable of the same name in upper case (``database_url`` ->
``DATABASE_URL``). With nothing set the service runs in embedded mode: SQLite in ``DATA_DIR``,
in-process fakeredis, signing keys generated into ``DATA_DIR/keys``. ``PRODUCTION=true`` refuses to
start on embedded backends or with missing secrets.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class SettingsError(ValueError):
    """The environment does not describe a service that may start."""


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    production: bool = False
    """Production mode: no embedded backends, every secret required."""

    data_dir: str = ".healthbook"
    """Where embedded mode keeps its SQLite file and generated keys."""

    database_url: str | None = None
    """SQLAlchemy URL, ``postgresql+asyncpg://user@host:5432/db``. Unset: SQLite in DATA_DIR."""

    database_pool_size: int = msgspec.field(default=10)
    database_timeout_seconds: float = 5.0
    """How long a request waits for a connection or a statement before failing fast."""

    redis_url: str | None = None
    """``redis://host:6379/0``. Unset: in-process fakeredis (single process only)."""

    redis_timeout_seconds: float = 2.0

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

    client_assertion_max_lifetime_seconds: int = 300
    """A client assertion must expire within this many seconds of being issued."""

    signing_key_verify_keep_days: int = 30
    """After a rotation, the previous signing key still verifies this long."""

    guardian_child_max_age: int = 18
    """A parent acts for a child until the child turns this old."""

    demo: bool = False
    """Demo mode (``healthbook demo``): mounts the demo identity provider. Never in production."""

    fcm_credentials: str | None = None
    """Path to a Firebase service-account JSON file. Unset: notifications go to the console."""

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    @property
    def effective_database_url(self) -> str:
        if self.database_url is not None:
            return self.database_url
        return f"sqlite+aiosqlite:///{Path(self.data_dir).resolve() / 'healthbook.db'}"

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
        if self.workers > 1 and self.embedded_redis:
            problems.append(
                "the embedded Redis lives inside one process: set REDIS_URL to run more than one "
                "worker"
            )
        if self.max_request_body_bytes < 1024:
            problems.append("MAX_REQUEST_BODY_BYTES must be at least 1024")
        if self.production:
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
        if problems:
            raise SettingsError("; ".join(problems))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every field from its upper-case environment variable; bad values raise."""
        env = os.environ if environ is None else environ
        raw: dict[str, Any] = {}
        for name in cls.__struct_fields__:
            value = env.get(name.upper())
            if value is not None and value != "":
                raw[name] = value
        try:
            settings = msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SettingsError(f"invalid setting: {exc}") from exc
        settings.check()
        return settings

    def replace(self, **changes: Any) -> Settings:
        return msgspec.structs.replace(self, **changes)
