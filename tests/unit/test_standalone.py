"""The repository stands on its own: nothing in it reads or links a folder beside the clone or a
path of one machine, and the sample data the tests and benchmarks read is inside it, with its
origin and licence."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

from bench import fhir_parse, overview_rebuild, setups
from tests.support.fhir_samples import IPS, LEONOR, RUSTY, sample_names, samples_dir

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = re.compile(
    r"(\.\./)+shared/"  # a sibling folder of the clone
    r"|shared/(samples|research|BENCHMARKING|DESIGN)"
    r"|/work/(shared|wt|main)\b"  # the machine the project was first written on
)
SKIPPED_DIRS = {".git", ".venv", ".tools", ".healthbook", "node_modules", "test-artifacts"}


def _repository_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if listed.returncode == 0:
        return [ROOT / name for name in listed.stdout.decode().split("\0") if name]
    files = []  # an exported tree without .git
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.endswith("_cache")]
        files.extend(Path(folder) / name for name in names)
    return files


def test_no_file_reads_or_links_outside_the_repository() -> None:
    found = []
    for path in _repository_files():
        if not path.is_file() or path.suffix in {".png", ".ico", ".woff2", ".lock"}:
            continue
        text = path.read_text(errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []


def test_the_samples_live_in_the_repository() -> None:
    assert samples_dir().resolve().is_relative_to(ROOT)
    assert {IPS, LEONOR, RUSTY} <= set(sample_names())


def test_the_benchmarks_read_the_same_samples() -> None:
    for folder in (setups.SAMPLES, fhir_parse.SAMPLES_DIR):
        assert folder.resolve() == samples_dir().resolve()
    assert overview_rebuild._sample() == (samples_dir() / overview_rebuild.SAMPLE).read_bytes()


def test_every_sample_has_its_origin_licence_and_digest() -> None:
    sources = (ROOT / "tests" / "data" / "SOURCES.md").read_text()
    for name in sample_names():
        digest = hashlib.sha256((samples_dir() / name).read_bytes()).hexdigest()
        assert f"`{name}`" in sources
        assert f"{digest}  {name}" in sources
    assert "Apache License 2.0" in sources
    assert "CC0" in sources
