"""The deploy/ files, read the way their tools read them (no Docker or Kubernetes needed)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
import yaml

from api.core.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"


@cache
def setting_names() -> frozenset[str]:
    """Every environment variable the service reads (one per Settings field, and the secrets'
    ``<NAME>_FILE``)."""
    return Settings.environment_variables() | Settings.secret_file_variables()


# --- Dockerfile -----------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    arguments: str


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [i.arguments for i in self.instructions if i.keyword == keyword]


@dataclass
class Dockerfile:
    arguments: dict[str, str]
    """ARGs declared before the first FROM, with their defaults."""
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        return next(stage for stage in self.stages if stage.name == name)

    def resolve(self, text: str) -> str:
        return re.sub(r"\$\{(\w+)\}", lambda m: self.arguments[m.group(1)], text)


def dockerfile_instructions(text: str) -> list[Instruction]:
    """Instructions in order: continuation lines joined, comments and blank lines dropped."""
    logical: list[str] = []
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    assert not current, "the Dockerfile ends inside a continued instruction"
    instructions = []
    for entry in logical:
        keyword, _, arguments = entry.partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
    return instructions


@cache
def dockerfile() -> Dockerfile:
    instructions = dockerfile_instructions((DEPLOY / "Dockerfile").read_text())
    arguments: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = instruction.arguments.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif not stages:
            assert instruction.keyword == "ARG", instruction
            key, _, default = instruction.arguments.partition("=")
            arguments[key] = default
        else:
            stages[-1].instructions.append(instruction)
    return Dockerfile(arguments=arguments, stages=stages)


def exec_form(arguments: str) -> list[str]:
    """``["a", "b"]`` (JSON) as a list; Docker's shell form is refused here on purpose."""
    value = msgspec.json.decode(arguments)
    assert isinstance(value, list), arguments
    return value


def flags_and_words(arguments: str) -> tuple[dict[str, str], list[str]]:
    """``--from=uv --chown=a /x /y`` -> ({"from": "uv", "chown": "a"}, ["/x", "/y"])."""
    flags: dict[str, str] = {}
    words: list[str] = []
    for word in shlex.split(arguments):
        if word.startswith("--"):
            key, _, value = word[2:].partition("=")
            flags[key] = value
        else:
            words.append(word)
    return flags, words


def makefile_uv_version() -> str:
    match = re.search(r"^UV_VERSION\s*:=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert match, "no UV_VERSION in the Makefile"
    return match.group(1)


# --- compose.yaml ---------------------------------------------------------------------------

_INTERPOLATION = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def compose_variables() -> dict[str, str | None]:
    """Every ``${NAME...}`` in compose.yaml: its default (``:-``), or None when required."""
    found: dict[str, str | None] = {}
    for name, operator, rest in _INTERPOLATION.findall((DEPLOY / "compose.yaml").read_text()):
        found[name] = rest if operator in (":-", "-") else None
    return found


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's interpolation for the forms compose.yaml uses."""

    def replace(match: re.Match[str]) -> str:
        name, operator, rest = match.group(1), match.group(2), match.group(3)
        if name in variables:
            return variables[name]
        if operator in (":-", "-"):
            return rest
        raise AssertionError(f"compose needs ${name}: {rest or 'required'}")

    return _INTERPOLATION.sub(replace, value)


def env_example_names() -> set[str]:
    names = set()
    for line in (DEPLOY / "env.example").read_text().splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=", line)
        if match:
            names.add(match.group(1))
    return names


# --- Kubernetes -----------------------------------------------------------------------------


def manifest_files() -> list[Path]:
    return sorted(path for path in K8S.glob("*.yaml") if path.name != "kustomization.yaml")


@cache
def manifests() -> tuple[tuple[str, dict[str, Any]], ...]:
    """(file name, resource) for every resource of every manifest file."""
    found = []
    for path in manifest_files():
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found.append((path.name, document))
    return tuple(found)


def resource(kind: str, name: str) -> dict[str, Any]:
    matches = [r for _, r in manifests() if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def workloads() -> list[dict[str, Any]]:
    return [r for _, r in manifests() if r["kind"] in ("Deployment", "Job")]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def command_line(
    container: dict[str, Any], image_entrypoint: list[str], image_cmd: list[str]
) -> list[str]:
    """What a container runs: ``command`` replaces the image's ENTRYPOINT (and drops its CMD),
    ``args`` replaces the CMD."""
    if "command" in container:
        return [*container["command"], *container.get("args", [])]
    return [*image_entrypoint, *container.get("args", image_cmd)]
