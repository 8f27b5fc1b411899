"""OperationOutcome rendering and the HTTP status of each issue code."""

from __future__ import annotations

import pytest

from api.health_book.fhir import FhirError, Issue, http_status, operation_outcome


def test_operation_outcome_is_r4_shaped() -> None:
    issues = [
        Issue(code="value", diagnostics="bad date", expression="Bundle.entry[3].resource.issued"),
        Issue(code="structure", diagnostics="not JSON", severity="fatal"),
    ]
    assert operation_outcome(issues) == {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "value",
                "diagnostics": "bad date",
                "expression": ["Bundle.entry[3].resource.issued"],
            },
            {"severity": "fatal", "code": "structure", "diagnostics": "not JSON"},
        ],
    }


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("structure", 400),
        ("invalid", 400),
        ("not-supported", 400),
        ("too-costly", 413),
        ("required", 422),
        ("value", 422),
        ("not-found", 422),
        ("business-rule", 422),
        ("invariant", 422),
    ],
)
def test_status_per_code(code: str, status: int) -> None:
    error = FhirError.single(code, "x")  # type: ignore[arg-type]
    assert error.status == status
    assert http_status(error.issues) == status


def test_first_error_decides_the_status() -> None:
    issues = [
        Issue(code="value", diagnostics="only a warning", severity="warning"),
        Issue(code="too-costly", diagnostics="too big"),
        Issue(code="value", diagnostics="bad"),
    ]
    assert http_status(issues) == 413


def test_an_error_needs_an_issue() -> None:
    with pytest.raises(ValueError, match="at least one issue"):
        FhirError([])


def test_message_names_code_and_place() -> None:
    error = FhirError.single("not-found", "no such entry", "Bundle.entry[1].resource.subject")
    assert str(error) == "not-found: no such entry at Bundle.entry[1].resource.subject"
