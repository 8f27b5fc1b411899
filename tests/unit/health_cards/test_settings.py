"""The health card settings: keys checked when read, trusted issuers' form, production."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.core.settings import Settings, SettingsError
from api.health_cards.keys import KEY_FILE, HealthCardKeys, new_key_text


def test_signing_keys_are_checked_when_read() -> None:
    good = new_key_text()
    settings = Settings.from_env({"HEALTH_CARD_SIGNING_KEYS": f"{good}, {new_key_text()}"})
    assert len(settings.health_cards.signing_keys) == 2
    with pytest.raises(SettingsError, match="HEALTH_CARD_SIGNING_KEYS: key 2"):
        Settings.from_env({"HEALTH_CARD_SIGNING_KEYS": f"{good},bm90IGEga2V5"})


@pytest.mark.parametrize(
    "value",
    ["http://issuer.example.org", "https://issuer.example.org/", "issuer.example.org"],
)
def test_trusted_issuers_are_https_without_a_trailing_slash(value: str) -> None:
    with pytest.raises(SettingsError, match="HEALTH_CARD_TRUSTED_ISSUERS"):
        Settings.from_env({"HEALTH_CARD_TRUSTED_ISSUERS": value})


def test_trusted_issuers_are_read_as_a_list() -> None:
    settings = Settings.from_env(
        {
            "HEALTH_CARD_TRUSTED_ISSUERS": "https://spec.smarthealth.cards/examples/issuer,"
            "https://shc.example.vn"
        }
    )
    assert settings.health_cards.trusted_issuers == [
        "https://spec.smarthealth.cards/examples/issuer",
        "https://shc.example.vn",
    ]


def test_embedded_mode_generates_one_key_and_production_none(tmp_path: Path) -> None:
    first = HealthCardKeys.configured([], data_dir=tmp_path, production=False)
    again = HealthCardKeys.configured([], data_dir=tmp_path, production=False)
    assert first.kids == again.kids
    assert len(first.kids) == 1
    assert (tmp_path / KEY_FILE).stat().st_mode & 0o077 == 0
    assert HealthCardKeys.configured([], data_dir=tmp_path / "p", production=True).kids == []
    assert not (tmp_path / "p" / KEY_FILE).exists()
    configured = new_key_text()
    keys = HealthCardKeys.configured([configured], data_dir=tmp_path, production=False)
    assert keys.kids != first.kids
