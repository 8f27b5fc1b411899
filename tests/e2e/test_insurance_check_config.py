"""``healthbook check-config`` warns when production accepts unsigned insurance XML."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.server import HEALTHBOOK

DOCUMENT_KEY = "20261207-test:" + "A" * 43 + "="


def _check_config(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "keys").mkdir(exist_ok=True)
    (tmp_path / "fcm.json").write_text("{}")
    production = {
        "PRODUCTION": "true",
        "DATABASE_URL": "postgresql+asyncpg://app@db.example:5432/healthbook",
        "REDIS_URL": "redis://redis.example:6379/0",
        "IDENTIFIER_HASH_KEY": "0123456789abcdef" * 3,
        "SIGNING_KEYS_DIR": str(tmp_path / "keys"),
        "FCM_CREDENTIALS": str(tmp_path / "fcm.json"),
        "DOCUMENT_ENCRYPTION_KEYS": DOCUMENT_KEY,
    }
    return subprocess.run(
        [HEALTHBOOK, "check-config"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **production, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_accepting_unsigned_insurance_xml_is_warned_about(tmp_path: Path) -> None:
    quiet = _check_config(tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert "INSURANCE_ACCEPT_UNSIGNED_FACILITIES" not in quiet.stderr
    warned = _check_config(tmp_path, INSURANCE_ACCEPT_UNSIGNED_FACILITIES="79001,01001")
    assert warned.returncode == 0, warned.stderr
    assert "INSURANCE_ACCEPT_UNSIGNED_FACILITIES=['79001', '01001']" in warned.stdout
    assert "WARNING" in warned.stderr
    assert "79001, 01001" in warned.stderr
