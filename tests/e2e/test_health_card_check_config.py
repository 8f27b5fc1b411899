"""``healthbook check-config`` and the health card keys in production: hidden when set, warned
about when unset (production never generates or reads the embedded key)."""

from __future__ import annotations

from pathlib import Path

from api.health_cards.keys import KEY_FILE, new_key_text
from tests.e2e.test_insurance_check_config import _check_config


def test_production_without_health_card_keys_is_warned_about(tmp_path: Path) -> None:
    (tmp_path / ".healthbook").mkdir()
    (tmp_path / ".healthbook" / KEY_FILE).write_text(new_key_text() + "\n")  # never used there
    unset = _check_config(tmp_path)
    assert unset.returncode == 0, unset.stderr
    assert "WARNING: HEALTH_CARD_SIGNING_KEYS is not set in production" in unset.stderr
    key = new_key_text()
    configured = _check_config(tmp_path, HEALTH_CARD_SIGNING_KEYS=key)
    assert configured.returncode == 0, configured.stderr
    assert "HEALTH_CARD_SIGNING_KEYS" not in configured.stderr
    assert "HEALTH_CARD_SIGNING_KEYS=***" in configured.stdout
    assert key not in configured.stdout
    refused = _check_config(tmp_path, HEALTH_CARD_SIGNING_KEYS="bm90IGEga2V5")
    assert refused.returncode == 1
    assert "HEALTH_CARD_SIGNING_KEYS: key 1" in refused.stderr
