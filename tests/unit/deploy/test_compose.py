"""deploy/compose.yaml, read with PyYAML: replicas, health checks, migrate before the API,
volumes, and a production configuration the service accepts."""

from __future__ import annotations

from typing import Any

import pytest

from api.core.settings import Settings
from tests.unit.deploy.files import (
    DEPLOY,
    compose,
    compose_variables,
    env_example_names,
    interpolate,
    setting_names,
)

HEALTHBOOK = ("migrate", "api", "worker", "keys")
LONG_RUNNING = ("postgres", "redis", "api", "worker", "proxy")

# Values for the variables compose.yaml requires (deploy/.env in a real deployment).
DOT_ENV = {
    "POSTGRES_PASSWORD": "compose-test-password",
    "IDENTIFIER_HASH_KEY": "compose-test-identifier-hash-key-0123456789",
    "DOCUMENT_ENCRYPTION_KEYS": "k1:" + "A" * 43 + "=",
    "PUBLIC_BASE_URL": "https://sosuckhoe.example",
}


def services() -> dict[str, Any]:
    return compose()["services"]


def environment(service: str) -> dict[str, str]:
    raw = services()[service].get("environment", {})
    assert isinstance(raw, dict), f"{service}: environment as a mapping, please"
    return {key: interpolate(str(value), DOT_ENV) for key, value in raw.items()}


def test_two_api_and_two_worker_replicas_and_a_one_shot_migration() -> None:
    assert services()["api"]["deploy"]["replicas"] == 2
    assert services()["worker"]["deploy"]["replicas"] == 2
    assert services()["api"]["command"] == ["serve"]
    assert services()["worker"]["command"] == ["worker"]
    assert services()["migrate"]["command"] == ["migrate"]
    assert services()["migrate"]["restart"] == "no"
    assert "deploy" not in services()["migrate"]


def test_every_long_running_service_has_a_health_check() -> None:
    assert set(LONG_RUNNING) | {"migrate", "keys"} == set(services())
    for name in LONG_RUNNING:
        check = services()[name].get("healthcheck")
        assert check, name
        assert not check.get("disable"), name
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert {"interval", "timeout", "retries"} <= set(check), name
    assert services()["migrate"]["healthcheck"] == {"disable": True}  # it exits when done


def test_the_worker_check_reaches_the_database_and_redis() -> None:
    test = services()["worker"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    compile(test[3], "worker-healthcheck", "exec")
    assert 'os.environ["DATABASE_URL"]' in test[3]
    assert 'os.environ["REDIS_URL"]' in test[3]


@pytest.mark.parametrize("service", ["api", "worker"])
def test_api_and_worker_start_after_migrate_succeeded_and_the_stores_are_healthy(
    service: str,
) -> None:
    assert services()[service]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }


def test_migrate_waits_for_a_healthy_database() -> None:
    assert services()["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}


def test_postgresql_16_and_redis_7_keep_their_data_in_named_volumes() -> None:
    volumes = compose()["volumes"]
    assert services()["postgres"]["image"] == "postgres:16"
    assert services()["redis"]["image"] == "redis:7"
    for service, path in (("postgres", "/var/lib/postgresql/data"), ("redis", "/data")):
        (mount,) = services()[service]["volumes"]
        volume, target = mount.split(":")
        assert target == path
        assert volume in volumes
    assert "signing-keys" in volumes


def test_the_environment_names_only_real_settings() -> None:
    for service in HEALTHBOOK:
        unknown = set(services()[service].get("environment", {})) - setting_names()
        assert not unknown, f"{service}: {sorted(unknown)} are not in api/core/settings.py"


@pytest.mark.parametrize("service", ["migrate", "api", "worker"])
def test_the_service_accepts_the_production_configuration(service: str) -> None:
    env = environment(service)
    assert env["PRODUCTION"] == "true"
    settings = Settings.from_env(env)  # raises SettingsError naming anything production lacks
    assert settings.production
    assert not settings.database.embedded
    assert not settings.redis.embedded
    assert settings.relay_in_process is False
    assert settings.migrate_on_start is False


def test_secrets_and_keys_are_mounted_where_the_settings_point() -> None:
    for service in ("migrate", "api", "worker"):
        env = environment(service)
        config = services()[service]
        assert env["FCM_CREDENTIALS"] == "/run/secrets/fcm-credentials"
        assert config["secrets"] == ["fcm-credentials"]
        assert f"signing-keys:{env['SIGNING_KEYS_DIR']}:ro" in config["volumes"]
    keys = services()["keys"]
    assert keys["profiles"] == ["tools"]
    assert keys["entrypoint"] == ["healthbook", "keys"]
    assert keys["volumes"] == [f"signing-keys:{keys['environment']['SIGNING_KEYS_DIR']}"]
    assert compose()["secrets"]["fcm-credentials"]["file"] == "./secrets/fcm-credentials.json"
    ignored = (DEPLOY / ".gitignore").read_text().splitlines()
    assert {".env", "secrets/"} <= set(ignored)


def test_the_containers_are_locked_down() -> None:
    for service in ("migrate", "api", "worker"):
        config = services()[service]
        assert config["read_only"] is True
        assert config["tmpfs"] == ["/tmp"]
        assert config["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in config["security_opt"]


def test_the_database_has_room_for_every_pool() -> None:
    (setting,) = [word for word in services()["postgres"]["command"] if "max_connections=" in word]
    max_connections = int(setting.split("=")[1])
    pool = int(environment("api")["DATABASE_POOL_SIZE"])
    workers = int(environment("api")["WORKERS"])
    replicas = services()["api"]["deploy"]["replicas"]
    relays = services()["worker"]["deploy"]["replicas"]
    needed = replicas * workers * pool + relays * pool + 1  # API processes, relays, migrate
    assert needed <= max_connections


def test_env_example_names_exactly_the_variables_compose_reads() -> None:
    variables = compose_variables()
    required = {name for name, default in variables.items() if default is None}
    assert required == set(DOT_ENV)
    assert set(variables) == env_example_names()


def test_the_proxy_fronts_every_api_replica() -> None:
    proxy = services()["proxy"]
    assert proxy["profiles"] == ["proxy"]
    assert proxy["depends_on"] == {"api": {"condition": "service_healthy"}}
    source = proxy["volumes"][0].split(":")[0]
    config = (DEPLOY / source).read_text()
    assert "server api:8000" in config
    assert "location = /metrics" in config
