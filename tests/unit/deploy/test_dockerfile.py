"""deploy/Dockerfile, read as text: multi-stage with uv, non-root, health check, granian."""

from __future__ import annotations

import ast
import fnmatch
import tomllib

from packaging.specifiers import SpecifierSet

from tests.unit.deploy.files import (
    DEPLOY,
    ROOT,
    compose,
    dockerfile,
    exec_form,
    flags_and_words,
    makefile_uv_version,
)


def runtime():
    return dockerfile().stages[-1]


def builder():
    return dockerfile().stage("builder")


def test_it_is_multi_stage_with_uv_from_the_version_the_makefile_pins() -> None:
    image = dockerfile()
    assert len(image.stages) >= 3
    uv_stage = image.stage("uv")
    assert image.resolve(uv_stage.base) == f"ghcr.io/astral-sh/uv:{makefile_uv_version()}"
    copies = [flags_and_words(c) for c in builder().all("COPY")]
    assert ({"from": "uv"}, ["/uv", "/uvx", "/bin/"]) in copies


def test_the_builder_installs_exactly_the_lock_without_dev_and_compiles_bytecode() -> None:
    syncs = [run for run in builder().all("RUN") if "uv sync" in run]
    assert len(syncs) == 2  # dependencies first (cached layer), then the project
    for run in syncs:
        command = run[run.index("uv sync") :].split()
        assert "--frozen" in command
        assert "--no-dev" in command
        assert "--no-editable" in command
    assert "--no-install-project" in syncs[0]
    environment = " ".join(builder().all("ENV"))
    assert "UV_COMPILE_BYTECODE=1" in environment
    assert "UV_PYTHON_DOWNLOADS=never" in environment


def test_builder_and_runtime_are_the_same_slim_python() -> None:
    image = dockerfile()
    base = image.resolve(builder().base)
    assert base == image.resolve(runtime().base)
    assert base.startswith(f"python:{image.arguments['PYTHON_VERSION']}-slim")
    required = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert image.arguments["PYTHON_VERSION"] in SpecifierSet(required)


def test_the_builder_copies_every_package_of_the_wheel_and_the_context_lets_it_in() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = set(project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"])
    sources = set()
    for copy in builder().all("COPY"):
        flags, words = flags_and_words(copy)
        if "from" not in flags:
            sources.update(words[:-1])
    assert packages <= sources
    assert {"pyproject.toml", "uv.lock", project["project"]["readme"]} <= sources
    allowed = [
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    for source in sources:
        assert (ROOT / source).exists(), source
        assert any(fnmatch.fnmatch(source, pattern) for pattern in allowed), source
    rules = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert rules[0] == "*"  # everything else stays out of the build context


def test_the_runtime_runs_as_a_fixed_non_root_user_and_carries_no_build_tools() -> None:
    users = runtime().all("USER")
    assert users, "the runtime stage sets no USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit(), users[-1]  # numeric: Kubernetes' runAsNonRoot can check it
    assert int(uid) >= 10000, users[-1]
    assert gid.isdigit()
    assert int(gid) > 0
    setup = " ".join(runtime().all("RUN"))
    assert f"--uid {uid}" in setup
    assert "apt-get" not in setup
    assert "pip install" not in setup
    copies = [flags_and_words(c) for c in runtime().all("COPY")]
    assert copies == [({"from": "builder"}, ["/app/.venv", "/app/.venv"])]  # no uv, no sources


def test_the_runtime_listens_on_every_interface_and_serves_by_default() -> None:
    environment = " ".join(runtime().all("ENV"))
    assert "HOST=0.0.0.0" in environment
    assert "PATH=/app/.venv/bin:$PATH" in environment
    assert exec_form(runtime().all("ENTRYPOINT")[-1]) == ["healthbook"]
    assert exec_form(runtime().all("CMD")[-1]) == ["serve"]
    assert runtime().all("EXPOSE") == ["8000"]


def healthcheck_command() -> list[str]:
    (healthcheck,) = runtime().all("HEALTHCHECK")
    options, _, command = healthcheck.partition(" CMD ")
    assert "--interval=" in options
    assert "--timeout=" in options
    return exec_form(command)


def test_the_health_check_probes_liveness_with_the_images_own_python() -> None:
    command = healthcheck_command()
    assert command[:2] == ["python", "-c"]
    code = command[2]
    ast.parse(code)  # it is valid Python
    assert "/health/live" in code
    assert "os.environ.get('PORT', '8000')" in code
    assert "curl" not in code


def test_compose_checks_the_api_with_the_same_command_as_the_image() -> None:
    api = compose()["services"]["api"]
    assert api["healthcheck"]["test"] == ["CMD", *healthcheck_command()]


def test_the_dockerfile_lives_where_compose_builds_it() -> None:
    build = compose()["services"]["api"]["build"]
    assert (DEPLOY / build["context"]).resolve() == ROOT
    assert (ROOT / build["dockerfile"]).resolve() == (DEPLOY / "Dockerfile").resolve()
