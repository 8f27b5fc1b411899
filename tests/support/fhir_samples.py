"""The public FHIR samples in ``tests/data/fhir`` (origin and licence: ``tests/data/SOURCES.md``)
and counts taken from them with plain json."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

NATIONAL_ID_SYSTEMS = (
    "urn:oid:2.16.840.1.113883.2.4.6.3",  # Dutch BSN, the IPS sample's patient
    "http://hospital.smarthealthit.org",  # the medical record number Synthea writes
)

IPS = "ips-bundle-minimal.json"
LEONOR = "synthea-Leonor_Trujillo_5542148c-67d6-4d91-be71-29973234a33b.json"
RUSTY = "synthea-Rusty_Weimann_3ab5ea65-563b-422e-831e-339c7f147ec6.json"

CATEGORY_TYPES: dict[str, tuple[str, ...]] = {
    "visits": ("Encounter",),
    "conditions": ("Condition",),
    "allergies": ("AllergyIntolerance",),
    "medications": ("MedicationRequest", "MedicationStatement"),
    "immunizations": ("Immunization",),
    "observations": ("Observation",),
    "diagnostic_reports": ("DiagnosticReport",),
    "procedures": ("Procedure",),
}


SAMPLES_DIR = Path(__file__).resolve().parents[1] / "data" / "fhir"


def samples_dir() -> Path:
    """``tests/data/fhir`` in this repository."""
    return SAMPLES_DIR


def sample_names() -> list[str]:
    return sorted(path.name for path in samples_dir().glob("*.json"))


def sample_bytes(name: str) -> bytes:
    return (samples_dir() / name).read_bytes()


def sample_json(name: str) -> dict[str, Any]:
    """A fresh dict each call, free to mutate."""
    return json.loads(sample_bytes(name))


def dump(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def _count_sections(sections: list[dict[str, Any]]) -> int:
    return sum(1 + _count_sections(section.get("section", [])) for section in sections)


def expected_counts(name: str) -> dict[str, int]:
    """Entries per category, counted from the file's resources by their resourceType."""
    document = sample_json(name)
    resources = [entry["resource"] for entry in document["entry"] if "resource" in entry]
    by_type = Counter(resource["resourceType"] for resource in resources)
    counts = {
        category: sum(by_type[t] for t in types) for category, types in CATEGORY_TYPES.items()
    }
    counts["sections"] = sum(
        _count_sections(resource.get("section", []))
        for resource in resources
        if resource["resourceType"] == "Composition"
    )
    categorised = sum(by_type[t] for types in CATEGORY_TYPES.values() for t in types)
    counts["others"] = len(resources) - categorised - by_type["Patient"]
    return counts


def entry_index(document: dict[str, Any], resource_type: str, nth: int = 0) -> int:
    """Position in ``entry`` of the nth resource of a type."""
    positions = [
        index
        for index, entry in enumerate(document["entry"])
        if entry["resource"]["resourceType"] == resource_type
    ]
    return positions[nth]
