import pytest

from api.core.settings import DatabaseSettings, Settings, SettingsError


def test_defaults_are_embedded() -> None:
    settings = Settings.from_env({})
    assert settings.database.embedded
    assert settings.redis.embedded
    assert settings.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.effective_database_url.endswith("/.healthbook/healthbook.db")
    assert settings.migrate_on_start is True
    assert settings.production is False


def test_environment_values_are_converted() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql+asyncpg://u@h:5432/db",
            "REDIS_URL": "redis://h:6379/0",
            "PORT": "9000",
            "WORKERS": "3",
            "ACCESS_LOG": "false",
            "MAX_REQUEST_BODY_BYTES": "2048",
            "UNRELATED": "ignored",
        }
    )
    assert settings.http.port == 9000
    assert settings.http.workers == 3
    assert settings.observability.access_log is False
    assert settings.http.max_request_body_bytes == 2048
    assert settings.migrate_on_start is False  # a real database is migrated by `healthbook migrate`


def test_bad_value_names_the_setting() -> None:
    with pytest.raises(SettingsError, match="port"):
        Settings.from_env({"PORT": "eighty"})


def test_production_refuses_embedded_backends_and_missing_secrets() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"PRODUCTION": "true"})
    message = str(caught.value)
    for needed in (
        "DATABASE_URL",
        "REDIS_URL",
        "IDENTIFIER_HASH_KEY",
        "SIGNING_KEYS_DIR",
        "FCM_CREDENTIALS",
    ):
        assert needed in message


PRODUCTION_ENV = {
    "PRODUCTION": "1",
    "DATABASE_URL": "postgresql+asyncpg://u@h/db",
    "REDIS_URL": "redis://h:6379/0",
    "IDENTIFIER_HASH_KEY": "k" * 32,
    "SIGNING_KEYS_DIR": "/run/secrets/keys",
    "FCM_CREDENTIALS": "/run/secrets/fcm.json",
    "DOCUMENT_ENCRYPTION_KEYS": "k1:" + "QUFB" * 10 + "QUE=",
}


def test_production_starts_when_everything_is_given() -> None:
    settings = Settings.from_env(PRODUCTION_ENV)
    assert settings.production


def test_production_refuses_the_templates_placeholders() -> None:
    copied = {
        "METRICS_TOKEN": "REPLACE-ME-at-least-32-random-characters",
        "IDENTIFIER_HASH_KEY": "REPLACE-ME-at-least-32-random-characters",
        "DATABASE_URL": "postgresql+asyncpg://healthbook:REPLACE-ME-PASSWORD@postgresql:5432/hb",
    }
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**PRODUCTION_ENV, **copied})
    message = str(caught.value)
    assert "REPLACE-ME" in message
    for name in copied:
        assert name in message
    # outside production a placeholder is somebody's test value, not a mistake to stop on
    assert Settings.from_env({"METRICS_TOKEN": copied["METRICS_TOKEN"]}).observability.metrics_token


def test_several_workers_need_a_real_redis() -> None:
    with pytest.raises(SettingsError, match="REDIS_URL"):
        Settings.from_env({"WORKERS": "2"})
    assert Settings.from_env({"WORKERS": "2", "REDIS_URL": "redis://h/0"}).http.workers == 2


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.http.port = 1  # type: ignore[misc]


# The environment variables of the flat Settings this nesting replaced (with the INSURANCE_*
# ones that arrived beside it, and the SHARING_* ones that came later): none renamed, none lost.
VARIABLES_BEFORE_NESTING = [
    "ACCESS_LOG",
    "ACCESS_TOKEN_TTL_SECONDS",
    "APPOINTMENT_BOOKING_WINDOW_DAYS",
    "APPOINTMENT_CANCEL_CUTOFF_MINUTES",
    "APPOINTMENT_MAX_ACTIVE_PER_CITIZEN",
    "APPOINTMENT_REMINDER_MINUTES",
    "AUTO_MIGRATE",
    "CHECKIN_GRACE_MINUTES",
    "CHECKIN_LEAD_MINUTES",
    "CLIENT_ASSERTION_MAX_LIFETIME_SECONDS",
    "DATABASE_POOL_SIZE",
    "DATABASE_TIMEOUT_SECONDS",
    "DATABASE_URL",
    "DATA_DIR",
    "DEMO",
    "DEVICE_STALE_DAYS",
    "DOCUMENT_DEFLATE",
    "DOCUMENT_ENCRYPTION_KEYS",
    "FCM_CREDENTIALS",
    "FCM_ENDPOINT",
    "FCM_MAX_CONCURRENCY",
    "FCM_TIMEOUT_SECONDS",
    "FHIR_MAX_BODY_BYTES",
    "FHIR_MAX_DEPTH",
    "GUARDIAN_CHILD_MAX_AGE",
    "HEALTH_CARD_SIGNING_KEYS",
    "HEALTH_CARD_TRUSTED_ISSUERS",
    "HOST",
    "IDEMPOTENCY_KEY_TTL_HOURS",
    "IDENTIFIER_HASH_KEY",
    "INSURANCE_ACCEPT_UNSIGNED_FACILITIES",
    "INSURANCE_CARD_SYSTEMS",
    "INSURANCE_MAX_ENVELOPE_BYTES",
    "INSURANCE_MAX_EPISODES",
    "INSURANCE_MAX_FILE_BYTES",
    "JWKS_CACHE_TTL_SECONDS",
    "JWKS_FETCH_TIMEOUT_SECONDS",
    "JWKS_MAX_STALENESS_SECONDS",
    "JWKS_REFETCH_COOLDOWN_SECONDS",
    "LOG_LEVEL",
    "MAX_REQUEST_BODY_BYTES",
    "MEASUREMENTS_IMPORTS_PER_DAY",
    "MEASUREMENTS_IMPORT_MAX_BYTES",
    "MEASUREMENTS_IMPORT_STALE_SECONDS",
    "MEASUREMENTS_MAX_BATCH",
    "MEASUREMENTS_MAX_PER_CITIZEN",
    "METRICS_TOKEN",
    "NATIONAL_ID_SYSTEMS",
    "NOTIFICATION_MAX_ATTEMPTS",
    "NOTIFICATION_RETENTION_DAYS",
    "NOTIFICATION_RETRY_BASE_SECONDS",
    "NOTIFICATION_RETRY_MAX_SECONDS",
    "PORT",
    "PRODUCTION",
    "PUBLIC_BASE_URL",
    "PULL_CONNECT_TIMEOUT_SECONDS",
    "PULL_INTERVAL_SECONDS",
    "PULL_MAX_ATTEMPTS",
    "PULL_MAX_BYTES",
    "PULL_MAX_PAGES",
    "PULL_READ_TIMEOUT_SECONDS",
    "PULL_RESPONSE_DEADLINE_SECONDS",
    "PULL_RETRY_BASE_SECONDS",
    "PULL_RETRY_MAX_SECONDS",
    "PULL_TOKEN_SCOPE",
    "QUEUE_APPROACHING_THRESHOLD",
    "QUEUE_DEFAULT_SERVICE_MINUTES",
    "QUEUE_STATUS_PUBLISH_SECONDS",
    "RATE_LIMIT_BOOKING",
    "RATE_LIMIT_CHECKIN",
    "RATE_LIMIT_ENABLED",
    "RATE_LIMIT_FAIL_CLOSED",
    "RATE_LIMIT_PUBLISHING",
    "RATE_LIMIT_READS",
    "RATE_LIMIT_TOKEN",
    "RATE_LIMIT_WRITES",
    "REDIS_CLUSTER",
    "REDIS_MAX_CONNECTIONS",
    "REDIS_TIMEOUT_SECONDS",
    "REDIS_URL",
    "REFRESH_TOKEN_TTL_DAYS",
    "RELAY_BATCH_SIZE",
    "RELAY_CONCURRENCY",
    "RELAY_EMBEDDED",
    "RELAY_LEASE_SECONDS",
    "RELAY_POLL_SECONDS",
    "RELAY_STOP_GRACE_SECONDS",
    "SHARING_FILE_URL_SECONDS",
    "SHARING_VIEWER_URL",
    "SHARING_MAX_DAYS",
    "SHARING_PASSCODE_ATTEMPTS",
    "SHARING_POLL_BURST",
    "SHARING_POLL_SECONDS",
    "SHARING_SWEEP_AFTER_DAYS",
    "SHARING_SWEEP_INTERVAL_SECONDS",
    "SIGNING_KEYS_DIR",
    "SIGNING_KEY_VERIFY_KEEP_DAYS",
    "TOKEN_LEEWAY_SECONDS",
    "TRUSTED_PROXY_HOPS",
    "WALK_IN_REUSE_MINUTES",
    "WORKERS",
    "WORKER_HEARTBEAT_FILE",
    "WORKER_METRICS_HOST",
    "WORKER_METRICS_PORT",
]


def test_the_environment_variables_are_those_of_the_flat_settings() -> None:
    assert Settings.environment_variables() == frozenset(VARIABLES_BEFORE_NESTING)
    assert len(VARIABLES_BEFORE_NESTING) == 104


def test_each_variable_lands_in_its_section() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql+asyncpg://u@h/db",
            "AUTO_MIGRATE": "true",
            "REDIS_MAX_CONNECTIONS": "7",
            "NOTIFICATION_MAX_ATTEMPTS": "3",
            "RELAY_BATCH_SIZE": "50",
            "CHECKIN_LEAD_MINUTES": "15",
            "WALK_IN_REUSE_MINUTES": "5",
            "IDEMPOTENCY_KEY_TTL_HOURS": "2",
            "APPOINTMENT_REMINDER_MINUTES": "60, 10",
            "NATIONAL_ID_SYSTEMS": "urn:a,urn:b",
            "RATE_LIMIT_FAIL_CLOSED": "token",
            "PULL_MAX_PAGES": "9",
        }
    )
    assert settings.database.url == "postgresql+asyncpg://u@h/db"
    assert settings.database.auto_migrate is True
    assert settings.redis.max_connections == 7
    assert settings.notifications.max_attempts == 3
    assert settings.notifications.relay_batch_size == 50
    assert settings.checkin.lead_minutes == 15
    assert settings.checkin.walk_in_reuse_minutes == 5
    assert settings.appointments.idempotency_key_ttl_hours == 2
    assert settings.appointments.reminder_minutes == [60, 10]
    assert settings.fhir.national_id_systems == ["urn:a", "urn:b"]
    assert settings.rate_limits.fail_closed == ["token"]
    assert settings.pull.max_pages == 9
    assert settings.by_variable()["PULL_MAX_PAGES"] == 9


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WORKERS", "0"),
        ("REDIS_MAX_CONNECTIONS", "10001"),
        ("MAX_REQUEST_BODY_BYTES", "1023"),
        ("TRUSTED_PROXY_HOPS", "11"),
        ("NATIONAL_ID_SYSTEMS", ","),
        ("FCM_MAX_CONCURRENCY", "0"),
        ("FCM_ENDPOINT", "https://fcm.example.com"),
        ("RELAY_CONCURRENCY", "17"),
        ("RELAY_POLL_SECONDS", "0"),
        ("RELAY_LEASE_SECONDS", "0.5"),
        ("RELAY_STOP_GRACE_SECONDS", "-1"),
        ("NOTIFICATION_RETRY_BASE_SECONDS", "0"),
        ("JWKS_FETCH_TIMEOUT_SECONDS", "61"),
        ("DEVICE_STALE_DAYS", "0"),
        ("PULL_MAX_BYTES", "1000"),
        ("PULL_READ_TIMEOUT_SECONDS", "0"),
        ("PULL_RETRY_MAX_SECONDS", "0.5"),
        ("APPOINTMENT_CANCEL_CUTOFF_MINUTES", "-1"),
        ("APPOINTMENT_REMINDER_MINUTES", "60,43201"),
        ("CHECKIN_GRACE_MINUTES", "-1"),
        ("QUEUE_STATUS_PUBLISH_SECONDS", "61"),
        ("RATE_LIMIT_BOOKING", "30/0"),
        ("RATE_LIMIT_FAIL_CLOSED", "booking,nosuch"),
        ("LOG_LEVEL", "LOUD"),
        ("METRICS_TOKEN", "short"),
    ],
)
def test_a_value_out_of_range_is_refused_naming_its_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({variable: value})


def test_check_refuses_settings_built_in_code_out_of_range() -> None:
    Settings.from_flat(trusted_proxy_hops=10).check()
    with pytest.raises(SettingsError, match="TRUSTED_PROXY_HOPS"):
        Settings.from_flat(trusted_proxy_hops=11).check()
    with pytest.raises(SettingsError, match="APPOINTMENT_REMINDER_MINUTES"):
        Settings().replace(appointment_reminder_minutes=[0]).check()


def test_replace_takes_flat_names_and_sections() -> None:
    base = Settings.from_flat(redis_url="redis://h/0", relay_embedded=False, data_dir="/d")
    assert (base.redis.url, base.notifications.relay_embedded, base.data_dir) == (
        "redis://h/0",
        False,
        "/d",
    )
    changed = base.replace(redis_max_connections=3, database=DatabaseSettings(url="x"))
    assert changed.redis.url == "redis://h/0"  # the rest of the section is kept
    assert changed.redis.max_connections == 3
    assert changed.database.url == "x"
    assert base.redis.max_connections == 100  # frozen: the original is untouched
    with pytest.raises(TypeError, match="nosuch"):
        base.replace(nosuch=1)
