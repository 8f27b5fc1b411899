"""The one rule for programs the tests need (wrk, nginx, Chromium): found, else installed the way
``.ci/run`` installs them, else skipped with the reason (failed under CI)."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from tests.support import tools

PACKAGE = "healthbook-test-package"


def _fake_apt(monkeypatch: pytest.MonkeyPatch, calls: list[tuple[str, ...]], provides: Path | None):
    """apt-get as root on a Debian machine; ``install`` creates ``provides`` when given."""
    monkeypatch.setattr(tools.os, "geteuid", lambda: 0)
    monkeypatch.setattr(
        tools.shutil,
        "which",
        lambda name: "/usr/bin/apt-get" if name == "apt-get" else None,
    )

    def apt(*args: str) -> subprocess.CompletedProcess[bytes]:
        calls.append(args)
        if args[0] == "install" and provides is not None:
            provides.write_text("#!/bin/sh\n")
            provides.chmod(provides.stat().st_mode | stat.S_IXUSR)
            return subprocess.CompletedProcess(args, 0, b"", b"")
        return subprocess.CompletedProcess(args, 100, b"", b"E: Unable to locate package")

    monkeypatch.setattr(tools, "_apt", apt)


def _tool(path: Path, packages: tuple[str, ...] = (PACKAGE,)) -> tools.Tool:
    return tools.Tool("faketool", (str(path),), packages, "a test drives it")


def test_a_tool_on_the_machine_is_used_without_installing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[tuple[str, ...]] = []
    _fake_apt(monkeypatch, calls, None)
    program = tmp_path / "faketool"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    assert tools.require(_tool(program)) == str(program)
    assert calls == []


def test_a_missing_tool_is_installed_as_ci_does(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[tuple[str, ...]] = []
    program = tmp_path / "faketool"
    _fake_apt(monkeypatch, calls, program)
    assert tools.require(_tool(program)) == str(program)
    assert calls == [("install", "-y", "-q", PACKAGE)]


def test_outside_ci_a_tool_that_cannot_be_installed_skips_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CI", raising=False)
    calls: list[tuple[str, ...]] = []
    _fake_apt(monkeypatch, calls, None)
    with pytest.raises(pytest.skip.Exception) as skipped:
        tools.require(_tool(tmp_path / "faketool", ("first-choice", "second-choice")))
    message = str(skipped.value)
    assert "faketool is missing (a test drives it)" in message
    assert "Unable to locate package" in message
    assert "apt-get install -y first-choice" in message
    # every package tried, then the package lists refreshed and every package tried again
    assert calls == [
        ("install", "-y", "-q", "first-choice"),
        ("install", "-y", "-q", "second-choice"),
        ("update", "-q"),
        ("install", "-y", "-q", "first-choice"),
        ("install", "-y", "-q", "second-choice"),
    ]


@pytest.mark.parametrize("value", ["true", "1", "yes"])
def test_under_ci_a_tool_that_cannot_be_installed_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
) -> None:
    monkeypatch.setenv("CI", value)
    _fake_apt(monkeypatch, [], None)
    with pytest.raises(pytest.fail.Exception, match="CI requires faketool"):
        tools.require(_tool(tmp_path / "faketool"))


@pytest.mark.parametrize("value", ["", "0", "false", "no"])
def test_ci_set_to_a_false_value_is_not_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    assert not tools.in_ci()


def test_without_root_or_sudo_nothing_is_attempted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(tools.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(tools.shutil, "which", lambda name: None)
    monkeypatch.setattr(tools, "_apt", lambda *args: pytest.fail("apt-get must not run"))
    with pytest.raises(pytest.skip.Exception, match="not root and no sudo"):
        tools.require(_tool(tmp_path / "faketool"))


@pytest.mark.parametrize("tool", [tools.WRK, tools.NGINX, tools.CHROMIUM], ids=lambda t: t.name)
def test_the_tools_are_the_debian_packages_ci_installs(tool: tools.Tool) -> None:
    ci_run = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text()
    conftest = Path(__file__).resolve().parents[1] / "e2e" / "browser" / "conftest.py"
    if tool is tools.CHROMIUM:  # the browser tests' fixture installs it, through require()
        assert "require(CHROMIUM)" in conftest.read_text()
    else:
        assert all(f"install -y -q {package}" in ci_run for package in tool.packages)
