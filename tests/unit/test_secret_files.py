"""Secret settings read from files (``<NAME>_FILE``): Kubernetes secret volumes, Docker secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.core.settings import SECRET_FILE_MAX_BYTES, SECRET_VARIABLES, Settings, SettingsError
from tests.unit.test_settings import PRODUCTION_ENV

DOCUMENT_KEY = PRODUCTION_ENV["DOCUMENT_ENCRYPTION_KEYS"]


def _files(tmp_path: Path, values: dict[str, str], newline: str = "\n") -> dict[str, str]:
    env = {}
    for name, value in values.items():
        path = tmp_path / name.lower()
        path.write_text(value + newline, encoding="utf-8")
        env[f"{name}_FILE"] = str(path)
    return env


def test_every_secret_can_come_from_a_file_and_production_starts_on_them(tmp_path: Path) -> None:
    secrets = {name: PRODUCTION_ENV[name] for name in SECRET_VARIABLES if name in PRODUCTION_ENV}
    secrets["METRICS_TOKEN"] = "metrics-token-from-a-mounted-file-0001"
    assert set(secrets) >= set(SECRET_VARIABLES) - {"HEALTH_CARD_SIGNING_KEYS"}
    rest = {name: value for name, value in PRODUCTION_ENV.items() if name not in secrets}
    settings = Settings.from_env(rest | _files(tmp_path, secrets))
    assert settings.production
    assert settings.database.url == PRODUCTION_ENV["DATABASE_URL"]
    assert settings.redis.url == PRODUCTION_ENV["REDIS_URL"]
    assert settings.security.identifier_hash_key == PRODUCTION_ENV["IDENTIFIER_HASH_KEY"]
    assert settings.observability.metrics_token == secrets["METRICS_TOKEN"]
    assert settings.security.document_encryption_keys == [DOCUMENT_KEY]


@pytest.mark.parametrize("newline", ["", "\n", "\r\n"])
def test_one_trailing_newline_is_not_part_of_the_secret(tmp_path: Path, newline: str) -> None:
    key = "k" * 40
    settings = Settings.from_env(_files(tmp_path, {"IDENTIFIER_HASH_KEY": key}, newline))
    assert settings.security.identifier_hash_key == key


def test_a_list_secret_from_a_file_is_split_like_the_variable(tmp_path: Path) -> None:
    second = "k2:" + "QkJC" * 10 + "QkI="
    env = _files(tmp_path, {"DOCUMENT_ENCRYPTION_KEYS": f"{DOCUMENT_KEY}, {second}"})
    assert Settings.from_env(env).security.document_encryption_keys == [DOCUMENT_KEY, second]


def test_both_the_variable_and_its_file_are_refused(tmp_path: Path) -> None:
    env = _files(tmp_path, {"IDENTIFIER_HASH_KEY": "a" * 40}) | {"IDENTIFIER_HASH_KEY": "b" * 40}
    with pytest.raises(SettingsError, match="set IDENTIFIER_HASH_KEY or IDENTIFIER_HASH_KEY_FILE"):
        Settings.from_env(env)


def test_bad_files_are_refused_naming_the_variable(tmp_path: Path) -> None:
    missing = {"METRICS_TOKEN_FILE": str(tmp_path / "nope")}
    with pytest.raises(SettingsError, match=r"^METRICS_TOKEN_FILE: cannot read .*nope"):
        Settings.from_env(missing)
    with pytest.raises(SettingsError, match=r"^METRICS_TOKEN_FILE: cannot read"):
        Settings.from_env({"METRICS_TOKEN_FILE": str(tmp_path)})  # a directory
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(SettingsError, match=r"^DATABASE_URL_FILE: .* is empty"):
        Settings.from_env({"DATABASE_URL_FILE": str(empty)})
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe key")
    with pytest.raises(SettingsError, match=r"^REDIS_URL_FILE: .* is not UTF-8"):
        Settings.from_env({"REDIS_URL_FILE": str(binary)})
    large = tmp_path / "large"
    large.write_bytes(b"k" * (SECRET_FILE_MAX_BYTES + 1))
    with pytest.raises(SettingsError, match=r"^IDENTIFIER_HASH_KEY_FILE: .* is larger than"):
        Settings.from_env({"IDENTIFIER_HASH_KEY_FILE": str(large)})


def test_a_bad_value_in_a_file_is_refused_like_the_variable(tmp_path: Path) -> None:
    env = _files(tmp_path, {"DOCUMENT_ENCRYPTION_KEYS": "not-a-key"}) | {"PRODUCTION": "true"}
    with pytest.raises(SettingsError, match="DOCUMENT_ENCRYPTION_KEYS"):
        Settings.from_env(env)


def test_only_secrets_have_a_file_variant() -> None:
    assert Settings.secret_file_variables() == {f"{name}_FILE" for name in SECRET_VARIABLES}
    assert "PORT_FILE" not in Settings.secret_file_variables()
    assert not Settings.secret_file_variables() & Settings.environment_variables()
