"""Programs some tests drive that are not Python packages: wrk, nginx, Chromium (Debian packages).

One rule for all of them (``require``): a test that needs one finds it, or installs it the way
``.ci/run`` does (``apt-get install -y -q PACKAGE``, after ``apt-get update`` when the package
lists are stale or missing; as root, or through passwordless ``sudo``). When that is not possible,
the test is skipped with the reason printed in pytest's summary (``-ra``), except under CI (``CI``
set to anything but ``0``/``false``/``no``), where it fails.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from dataclasses import dataclass

import pytest

APT_TIMEOUT_S = 900
APT_LOCK = "/tmp/healthbook-apt-install.lock"  # one installer at a time across xdist workers


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@dataclass(frozen=True)
class Tool:
    name: str
    candidates: tuple[str, ...]
    """Absolute paths, or names looked up on PATH, tried in order."""
    packages: tuple[str, ...]
    """Debian packages that provide it, tried in order."""
    needed_by: str

    def find(self) -> str | None:
        for candidate in self.candidates:
            if os.path.isabs(candidate):
                if os.access(candidate, os.X_OK):
                    return candidate
            elif found := shutil.which(candidate):
                return found
        return None


WRK = Tool("wrk", ("wrk",), ("wrk",), "the benchmark runner loads the service with it")
NGINX = Tool(
    "nginx",
    ("nginx", "/usr/sbin/nginx", "/usr/bin/nginx"),
    ("nginx-light", "nginx"),
    "the scale-out run balances two API processes behind it",
)
CHROMIUM = Tool("chromium", ("/usr/bin/chromium",), ("chromium",), "Playwright drives it")


def _apt(*args: str) -> subprocess.CompletedProcess[bytes]:
    command = ["apt-get", *args]
    if os.geteuid() != 0:
        command = ["sudo", "-n", *command]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(command, env=env, capture_output=True, timeout=APT_TIMEOUT_S, check=False)


def _install_any(packages: tuple[str, ...]) -> subprocess.CompletedProcess[bytes]:
    result = None
    for package in packages:
        result = _apt("install", "-y", "-q", package)
        if result.returncode == 0:
            break
    assert result is not None
    return result


def install(tool: Tool) -> str | None:
    """Install ``tool`` with apt-get; answer why it is still missing, or None once it is there."""
    if os.geteuid() != 0 and shutil.which("sudo") is None:
        return "not root and no sudo to run apt-get"
    if shutil.which("apt-get") is None:
        return "no apt-get on this machine"
    with open(APT_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if tool.find() is not None:  # another worker installed it meanwhile
            return None
        result = _install_any(tool.packages)
        if result.returncode != 0:  # a fresh machine may have no package lists yet
            _apt("update", "-q")
            result = _install_any(tool.packages)
        if result.returncode != 0:
            tail = result.stderr.decode(errors="replace").strip()[-300:]
            return f"apt-get install -y {tool.packages[-1]} failed: {tail}"
    if tool.find() is None:
        return f"apt-get installed {' or '.join(tool.packages)} but {tool.name} is still missing"
    return None


def require(tool: Tool) -> str:
    """The path of ``tool``, installed when missing; else skip the test (fail under CI)."""
    found = tool.find()
    if found is not None:
        return found
    reason = install(tool)
    found = tool.find()
    if found is not None:
        return found
    message = (
        f"{tool.name} is missing ({tool.needed_by}) and could not be installed: {reason}. "
        f"Install it with `apt-get install -y {tool.packages[0]}`"
    )
    if in_ci():
        pytest.fail(f"CI requires {tool.name}; .ci/run installs it. {message}", pytrace=False)
    pytest.skip(f"{message}; CI requires it")
