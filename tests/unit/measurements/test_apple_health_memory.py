"""The Apple Health bench's memory check at a small size: reading a 20 MB export.xml grows the
reading process's peak RSS by a small fraction of the file, and every count holds. Never a time."""

from __future__ import annotations

from pathlib import Path

from bench.apple_health_parse import measure_in_child
from tests.support.apple_health_export import write_synthetic


def test_a_20_mb_export_is_read_in_flat_memory(tmp_path: Path) -> None:
    path = tmp_path / "export.xml"
    written = write_synthetic(path, 20_000_000)
    assert written.bytes == path.stat().st_size
    result = measure_in_child("ours", path)
    assert result["samples"] == written.samples
    assert result["refused"] == 0
    assert result["bytes_read"] == written.bytes
    # an element tree kept in memory would be several times the file; a stream keeps a few MiB
    assert result["rss_growth_mib"] < written.bytes / 2**20 / 4
    baseline = measure_in_child("baseline", path)
    assert baseline["records"] == written.records
