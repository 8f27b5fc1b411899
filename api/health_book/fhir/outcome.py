"""FHIR errors and their R4 ``OperationOutcome`` rendering.

Everything that goes wrong while reading a Bundle raises :class:`FhirError`, which carries one or
more :class:`Issue` values. FHIR endpoints answer with :func:`operation_outcome` of those issues as
``application/fhir+json`` and the HTTP status of :func:`http_status`.

Issue codes come from the R4 IssueType value set (http://hl7.org/fhir/issue-type). The codes this
package raises, and the HTTP status each maps to:

================  ======  ==========================================================================
code              status  raised for
================  ======  ==========================================================================
``structure``     400     not JSON, truncated JSON, not a JSON object, no ``resourceType``
``invalid``       400     a FHIR resource that is not a Bundle
``not-supported`` 400     not FHIR R4 (``fhirVersion`` parameter, ``Bundle.meta.profile``), a
                          Bundle type we do not ingest
``too-costly``    413     body larger than the caller's limit, JSON nested deeper than the limit
``required``      422     a required element is missing, no Patient, no usable patient identifier
``value``         422     an element of the wrong JSON type, a malformed date/dateTime/instant, a
                          reference to a resource of the wrong type
``not-found``     422     a reference into the bundle (``urn:uuid:``, ``urn:oid:``, ``Type/id``)
                          that no entry answers
``invariant``     422     two entries with the same ``fullUrl``
``business-rule`` 422     a clinical resource about another patient, several Patients and no way to
                          tell which one the bundle is about
================  ======  ==========================================================================

When an error carries several issues, the status of the first ``error``/``fatal`` issue wins,
except for a Bundle refused by validation (:mod:`.validate`), which answers 422 with every issue
(``structure`` for an element R4 does not define there, ``required``, ``value``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import msgspec

Severity = Literal["fatal", "error", "warning", "information"]

IssueCode = Literal[
    "invalid",
    "structure",
    "required",
    "value",
    "invariant",
    "security",
    "processing",
    "not-supported",
    "duplicate",
    "not-found",
    "too-long",
    "too-costly",
    "business-rule",
    "conflict",
    "exception",
]

HTTP_STATUS: dict[str, int] = {
    "structure": 400,
    "invalid": 400,
    "not-supported": 400,
    "too-long": 413,
    "too-costly": 413,
    "security": 403,
    "required": 422,
    "value": 422,
    "invariant": 422,
    "not-found": 422,
    "business-rule": 422,
    "duplicate": 422,
    "processing": 422,
    "conflict": 409,
    "exception": 500,
}
"""HTTP status for an issue code; codes not listed answer 400."""


class Issue(msgspec.Struct, frozen=True, kw_only=True):
    """One ``OperationOutcome.issue``: what went wrong, and where (a FHIRPath expression)."""

    code: IssueCode
    diagnostics: str
    expression: str | None = None
    severity: Severity = "error"


class FhirError(Exception):
    """A Bundle was refused as a whole; ``issues`` say why."""

    def __init__(self, issues: Sequence[Issue], *, status: int | None = None) -> None:
        if not issues:
            raise ValueError("FhirError needs at least one issue")
        self.issues: tuple[Issue, ...] = tuple(issues)
        self._status = status
        super().__init__("; ".join(_describe(issue) for issue in self.issues))

    @classmethod
    def single(cls, code: IssueCode, diagnostics: str, expression: str | None = None) -> FhirError:
        return cls([Issue(code=code, diagnostics=diagnostics, expression=expression)])

    @property
    def status(self) -> int:
        """The status given (422 for a Bundle that fails validation), else that of the issues."""
        return self._status if self._status is not None else http_status(self.issues)

    def operation_outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issues)


def _describe(issue: Issue) -> str:
    where = f" at {issue.expression}" if issue.expression else ""
    return f"{issue.code}: {issue.diagnostics}{where}"


def http_status(issues: Iterable[Issue]) -> int:
    """The HTTP status to answer with: that of the first error (or fatal) issue, else 400."""
    for issue in issues:
        if issue.severity in ("error", "fatal"):
            return HTTP_STATUS.get(issue.code, 400)
    return 400


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    """A valid R4 ``OperationOutcome`` resource (as a JSON-ready dict) listing ``issues``."""
    rendered: list[dict[str, Any]] = []
    for issue in issues:
        item: dict[str, Any] = {
            "severity": issue.severity,
            "code": issue.code,
            "diagnostics": issue.diagnostics,
        }
        if issue.expression:
            item["expression"] = [issue.expression]
        rendered.append(item)
    return {"resourceType": "OperationOutcome", "issue": rendered}
