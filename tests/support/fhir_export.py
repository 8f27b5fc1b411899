"""Every FHIR resource this service hands out is checked with ``fhir.resources`` (R4B models,
a test-only dependency) as well as by shape: it must parse and validate, or the test fails."""

from __future__ import annotations

import json
from typing import Any

from fhir.resources.R4B import get_fhir_model_class


def assert_valid_fhir(body: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """Parse ``body`` (a Bundle or any resource) with the R4B model of its type, every entry's
    resource with its own model too; answer the JSON. Fails the test on any error."""
    document = json.loads(body) if isinstance(body, bytes | str) else body
    assert isinstance(document, dict), document
    assert "resourceType" in document, document
    _parse(document, "")
    if document["resourceType"] == "Bundle":
        for index, entry in enumerate(document.get("entry", [])):
            if "resource" in entry:
                _parse(entry["resource"], f"entry[{index}].resource")
    return document


def _parse(resource: dict[str, Any], where: str) -> None:
    model = get_fhir_model_class(resource["resourceType"])
    try:
        model.model_validate(resource)
    except Exception as exc:  # the model's ValidationError, said with where it happened
        raise AssertionError(
            f"invalid FHIR {resource['resourceType']} at {where or 'root'}: {exc}"
        ) from None
