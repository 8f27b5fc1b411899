"""``healthbook check-config`` with the secrets mounted as files (``<NAME>_FILE``), as a separate
process: values read from the files, never printed (a URL's password neither); a missing file
stops it with one line naming the variable."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.test_insurance_check_config import _check_config

PASSWORD = "pg-password-from-a-file-7d1c"
KEY = "identifier-hash-key-from-a-file-0123456789"


def test_check_config_reads_secret_files_and_hides_them(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "database-url").write_text(
        f"postgresql+asyncpg://app:{PASSWORD}@db.example:5432/healthbook\n"
    )
    (secrets / "identifier-hash-key").write_text(KEY + "\n")
    result = _check_config(
        tmp_path,
        DATABASE_URL="",
        IDENTIFIER_HASH_KEY="",
        DATABASE_URL_FILE=str(secrets / "database-url"),
        IDENTIFIER_HASH_KEY_FILE=str(secrets / "identifier-hash-key"),
    )
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    assert KEY not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "DATABASE_URL=postgresql+asyncpg://app:***@db.example:5432/healthbook" in lines
    assert "IDENTIFIER_HASH_KEY=***" in lines
    assert "REDIS_URL=redis://redis.example:6379/0" in lines  # no password: shown as it is


def test_a_missing_secret_file_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    result = _check_config(
        tmp_path, IDENTIFIER_HASH_KEY="", IDENTIFIER_HASH_KEY_FILE=str(tmp_path / "absent")
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "IDENTIFIER_HASH_KEY_FILE: cannot read" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_variable_and_its_file_together_are_refused(tmp_path: Path) -> None:
    (tmp_path / "key").write_text(KEY)
    result = _check_config(tmp_path, IDENTIFIER_HASH_KEY_FILE=str(tmp_path / "key"))
    assert result.returncode == 1
    assert "set IDENTIFIER_HASH_KEY or IDENTIFIER_HASH_KEY_FILE, not both" in result.stderr
