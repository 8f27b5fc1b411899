"""The README's make targets: `make run`/`serve`/`walkthrough` take a port, and running the service
installs only what the service needs (the test targets install the dev group)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.support.tools import in_ci

ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILES = ("pyproject.toml", "uv.lock", "README.md", "api", "notifications")


def _dry_run(*args: str) -> list[str]:
    """The commands ``make -n ARGS`` would run (make prints them, runs none, but for the
    recipe that would install uv itself when it is missing)."""
    if shutil.which("make") is None:
        if in_ci():
            pytest.fail("CI runs the tests through make, which is missing", pytrace=False)
        pytest.skip("make is not installed")
    result = subprocess.run(
        ["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    return [line for line in result.stdout.splitlines() if " run " in line]


@pytest.mark.parametrize(
    ("target", "command"),
    [
        ("run", "healthbook demo"),
        ("serve", "healthbook serve"),
        ("walkthrough", "healthbook demo --walkthrough"),
    ],
)
def test_the_run_targets_take_a_port_and_install_no_dev_group(target: str, command: str) -> None:
    (line,) = _dry_run(target, "PORT=8011")
    assert command in line
    assert "--port 8011" in line
    assert "--no-dev" in shlex.split(line)
    (default,) = _dry_run(target)
    assert "--host 127.0.0.1 --port 8000" in default


def _dev_group() -> set[str]:
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    return {re.split(r"[=<>~!; \[]", spec, maxsplit=1)[0].lower() for spec in groups["dev"]}


def test_running_the_service_on_a_fresh_clone_installs_no_dev_package(tmp_path: Path) -> None:
    """``make run``'s own uv command, on a copy of the project with no environment yet."""
    (line,) = _dry_run("run")
    words = shlex.split(line)
    uv, options = words[0], words[1 : words.index("healthbook")]
    if shutil.which(uv) is None:
        if in_ci():
            pytest.fail(f"CI runs make, which installs uv: {uv} is missing", pytrace=False)
        pytest.skip(f"{uv} is not installed here (make run installs it into .tools/)")
    project = tmp_path / "clone"
    project.mkdir()
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, project / name)
    listing = subprocess.run(
        [
            uv,
            *options,
            "python",
            "-c",
            "import json, importlib.metadata as m, api.app, api.cli;"
            "print(json.dumps(sorted(d.metadata['Name'].lower() for d in m.distributions())))",
        ],
        cwd=project,
        env={
            k: v
            for k, v in os.environ.items()
            if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
        },
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert listing.returncode == 0, listing.stderr[-3000:]
    installed = set(json.loads(listing.stdout.splitlines()[-1]))
    assert "healthbook" in installed
    assert {"litestar", "granian", "sqlalchemy"} <= installed
    assert installed & _dev_group() == set()
    for not_needed in ("playwright", "schemathesis", "hypothesis", "pytest", "kubernetes-validate"):
        assert not_needed not in installed
