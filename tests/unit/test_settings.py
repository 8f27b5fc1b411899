import pytest

from api.core.settings import Settings, SettingsError


def test_defaults_are_embedded() -> None:
    settings = Settings.from_env({})
    assert settings.embedded_database
    assert settings.embedded_redis
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
    assert settings.port == 9000
    assert settings.workers == 3
    assert settings.access_log is False
    assert settings.max_request_body_bytes == 2048
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
    assert Settings.from_env({"METRICS_TOKEN": copied["METRICS_TOKEN"]}).metrics_token


def test_several_workers_need_a_real_redis() -> None:
    with pytest.raises(SettingsError, match="REDIS_URL"):
        Settings.from_env({"WORKERS": "2"})
    assert Settings.from_env({"WORKERS": "2", "REDIS_URL": "redis://h/0"}).workers == 2


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]
