"""deploy/README.md's settings table names every setting, and says truly where the Kubernetes
manifests set each one."""

from __future__ import annotations

import re

from api.core.settings import Settings
from tests.unit.deploy.files import DEPLOY, resource, setting_names


def settings_rows() -> dict[str, list[str]]:
    text = (DEPLOY / "README.md").read_text()
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        match = re.match(r"^\| `([A-Z0-9_]+)` \|(.*)\|$", line)
        if match:
            assert match.group(1) not in rows, f"{match.group(1)} appears twice"
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split("|")]
    return rows


def test_the_table_names_every_setting() -> None:
    documented = set(settings_rows())
    missing = setting_names() - documented
    stale = documented - setting_names()
    assert not missing, f"add rows to deploy/README.md's Settings table: {sorted(missing)}"
    assert not stale, f"deploy/README.md names settings that no longer exist: {sorted(stale)}"


def test_the_kubernetes_column_matches_the_manifests() -> None:
    config = resource("ConfigMap", "healthbook-config")["data"]
    secret = resource("Secret", "healthbook-secrets")["stringData"]
    for name, cells in settings_rows().items():
        kubernetes = cells[2]
        assert (name in config) == kubernetes.startswith("ConfigMap"), name
        assert (name in secret) == (kubernetes == "Secret"), name
        value = re.match(r"^ConfigMap `([^`]*)`$", kubernetes)
        if value:
            assert config[name] == value.group(1), name


def shown(value: object) -> str:
    """A default as the table writes it."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list):
        return f"`{','.join(map(str, value))}`" if value else "empty"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def test_the_default_column_matches_the_settings() -> None:
    defaults = Settings().by_variable() | dict.fromkeys(Settings.secret_file_variables())
    for name, cells in settings_rows().items():
        assert cells[0] == shown(defaults[name]), name
