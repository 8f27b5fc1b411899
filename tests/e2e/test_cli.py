"""``healthbook`` as an operator types it, each command in a process of its own: every failure is
one line on stderr (``healthbook: …``) with exit status 1, the traceback only on request; and
``healthbook --version`` names the installed release."""

from __future__ import annotations

import subprocess
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.support.server import HEALTHBOOK


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HEALTHBOOK, *args],
        # TMPDIR too: the worker's default heartbeat file lives in the temporary folder, where a
        # worker of another test may be beating
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "DATA_DIR": str(tmp_path),
            "TMPDIR": str(tmp_path),
            **env,
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _refused_in_one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line that says why; what else is on stderr can only be the service's JSON log
    records written before (a warning about a generated key, say)."""
    lines = [line for line in result.stderr.splitlines() if not line.startswith('{"ts":')]
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("healthbook: "), lines[0]
    assert "Traceback" not in result.stderr
    return lines[0]


def test_version_is_the_installed_release(tmp_path: Path) -> None:
    for flag in ("--version", "-V"):
        result = _run(tmp_path, flag)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"healthbook, version {version('healthbook')}"


def test_an_unknown_revision_is_one_line_naming_it(tmp_path: Path) -> None:
    line = _refused_in_one_line(_run(tmp_path, "migrate", "--revision", "nonexistent"))
    assert "nonexistent" in line
    assert "HEALTHBOOK_DEBUG=1" in line  # where the traceback is, when one is wanted


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["nosuch"], {}, "No such command 'nosuch'"),
        (["migrate", "--bogus"], {}, "No such option '--bogus'"),
        (["serve", "--port", "eighty"], {}, "'eighty' is not a valid integer"),
        (["migrate", "--downgrade"], {}, "--downgrade needs an explicit --revision"),
        (["sync", "--facility", "F"], {}, "give either --identifier"),
        (["check-config"], {"PORT": "eighty"}, "port"),
        (["serve"], {"PRODUCTION": "true"}, "PRODUCTION needs DATABASE_URL"),
        (["serve", "--host", "192.0.2.1"], {}, "cannot listen on 192.0.2.1 port 8000"),
        (["demo", "--host", "192.0.2.1"], {}, "cannot listen on 192.0.2.1 port 8000"),
        (["migrate"], {"DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/none"}, ""),
        (["audit", "verify"], {"DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/none"}, ""),
        (["keys", "list"], {"SIGNING_KEYS_DIR": "/nonexistent/keys"}, ""),
        (["clients", "create", "--kind", "hospital", "--name", "HIS"], {}, "facility"),
        (["worker-alive"], {}, "no worker heartbeat"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_every_failure_is_one_line_with_status_1(
    tmp_path: Path, args: list[str], env: dict[str, str], says: str
) -> None:
    line = _refused_in_one_line(_run(tmp_path, *args, **env))
    assert says in line


def test_the_traceback_is_there_on_request(tmp_path: Path) -> None:
    for result in (
        _run(tmp_path, "--debug", "migrate", "--revision", "nonexistent"),
        _run(tmp_path, "migrate", "--revision", "nonexistent", HEALTHBOOK_DEBUG="1"),
    ):
        assert result.returncode == 1
        assert "Traceback (most recent call last)" in result.stderr
        last = result.stderr.splitlines()[-1]
        assert last == "healthbook: Can't locate revision identified by 'nonexistent'"


def test_no_command_prints_the_help(tmp_path: Path) -> None:
    result = _run(tmp_path)
    assert result.returncode == 0
    assert "Commands:" in result.stdout
    assert "--version" in result.stdout
    assert "--debug" in result.stdout
