"""The checks ``promtool check metrics`` makes of an exposition, for tests (promtool itself is a
Go binary the test environment does not have).

The exposition is parsed with prometheus_client's own parser (a malformed one raises), then each
family is held to promtool's lint rules: a HELP text; a known TYPE; no colons (reserved for
recording rules) and no camelCase in names; counters' samples end in ``_total`` and nothing else
does; no abbreviated units (``_sec``, ``_ms``...) and only base units (seconds, bytes, ratios:
never milliseconds, kilobytes, percent); histogram buckets with an ``le`` label.
"""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_CAMEL = re.compile(r"[a-z][A-Z]")
# promtool's lintUnitAbbreviations and lintNonBaseUnit (as name parts)
_ABBREVIATIONS = {"sec", "secs", "ms", "msec", "msecs", "us", "usec", "ns", "nsec", "kb", "mb"}
_NON_BASE = {
    "milliseconds",
    "microseconds",
    "nanoseconds",
    "minutes",
    "hours",
    "days",
    "kilobytes",
    "megabytes",
    "gigabytes",
    "bits",
    "percent",
    "celsius",
    "kilograms",
    "grams",
}
_KNOWN_TYPES = {"counter", "gauge", "histogram", "summary", "info", "stateset", "gaugehistogram"}


def families(text: str) -> dict[str, tuple[str, str, list[Sample]]]:
    """Each family by name: its type, help text and samples."""
    return {
        family.name: (family.type, family.documentation, list(family.samples))
        for family in text_string_to_metric_families(text)
    }


def problems(text: str) -> list[str]:
    """What ``promtool check metrics`` would complain of in ``text`` (empty when clean)."""
    found: list[str] = []
    declared: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            if name in declared:
                found.append(f"{name}: declared twice")
            declared[name] = kind
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        sample = line.split("{", 1)[0].split(" ", 1)[0]
        owner = max((name for name in declared if sample.startswith(name)), key=len, default=None)
        counter = owner is not None and declared[owner] == "counter"
        if counter and not sample.endswith(("_total", "_created")):
            found.append(f"{sample}: a counter's sample not ending in _total")
    for family in text_string_to_metric_families(text):
        name = family.name
        if not family.documentation.strip():
            found.append(f"{name}: no help text")
        if family.type not in _KNOWN_TYPES:
            found.append(f"{name}: type {family.type!r}")
        if ":" in name or not _NAME.match(name):
            found.append(f"{name}: reserved characters in the name")
        if _CAMEL.search(name):
            found.append(f"{name}: camelCase name")
        parts = set(name.lower().split("_"))
        for part in sorted(parts & _ABBREVIATIONS):
            found.append(f"{name}: abbreviated unit {part!r}")
        for part in sorted(parts & _NON_BASE):
            found.append(f"{name}: non-base unit {part!r}")
        for sample in family.samples:
            for label in sample.labels:
                if not _NAME.match(label) or label.startswith("__"):
                    found.append(f"{name}: bad label name {label!r}")
            if family.type != "counter" and sample.name.endswith("_total"):
                found.append(f"{sample.name}: a {family.type} ending in _total")
            if sample.name.endswith("_bucket") and "le" not in sample.labels:
                found.append(f"{sample.name}: a bucket without le")
    return found


def value(text: str, sample: str, **labels: str) -> float | None:
    """The value of the sample named ``sample`` with exactly ``labels`` (None: not exposed)."""
    for family in text_string_to_metric_families(text):
        for point in family.samples:
            if point.name == sample and point.labels == labels:
                return point.value
    return None
