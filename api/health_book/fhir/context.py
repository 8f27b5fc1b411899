"""Reference resolution, date conversion and the patient check, shared by the extractors.

References are resolved inside the bundle: an exact ``fullUrl`` match first (``urn:uuid:``,
``urn:oid:`` or absolute URLs), then a relative ``Type/id`` (a ``/_history/n`` suffix is ignored)
against each entry's ``resourceType/id``. A reference into the bundle's own namespace
(``urn:uuid:``, ``urn:oid:``, relative ``Type/id``) that nothing answers is an error
(``not-found``). Conditional references (``Organization?identifier=...``), absolute URLs of other
servers and contained references (``#id``) are external: kept as written, not errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from api.health_book.fhir.dates import When, WhenCache
from api.health_book.fhir.outcome import FhirError
from api.health_book.fhir.parse import ParsedBundle, ParsedEntry
from api.health_book.fhir.resources import CodeableConcept, Coding, Period, Reference

_RELATIVE = re.compile(r"[A-Z][A-Za-z]{1,63}/[A-Za-z0-9\-.]{1,64}")
_IN_BUNDLE_SCHEMES = ("urn:uuid:", "urn:oid:")


class Context:
    """What every extractor needs: the entries by address, dates, and the bundle's patient."""

    __slots__ = ("_by_type_id", "_by_url", "_dates", "patient")

    def __init__(self, parsed: ParsedBundle) -> None:
        self._by_url: dict[str, ParsedEntry] = {}
        self._by_type_id: dict[str, ParsedEntry] = {}
        for entry in parsed.entries:
            if entry.full_url:
                self._by_url[entry.full_url] = entry
            if entry.id:
                self._by_type_id[entry.key] = entry
        self._dates = WhenCache()
        self.patient: ParsedEntry | None = None

    def lookup(self, reference: str, where: str, field: str) -> ParsedEntry | None:
        """The entry ``reference`` points at; ``None`` when it points outside the bundle."""
        found = self._by_url.get(reference) or self._by_type_id.get(reference)
        if found is not None:
            return found
        if reference.startswith("#"):
            return None
        local = reference.split("/_history/", 1)[0]
        found = self._by_url.get(local) or self._by_type_id.get(local)
        if found is not None:
            return found
        if local.startswith(_IN_BUNDLE_SCHEMES) or _RELATIVE.fullmatch(local):
            raise FhirError.single(
                "not-found",
                f"reference {reference!r} matches no entry of the bundle",
                f"{where}.{field}",
            )
        return None

    def resolve(
        self, ref: Reference | None, where: str, field: str, expected: Iterable[str] = ()
    ) -> tuple[ParsedEntry | None, str | None]:
        """``(entry, key)`` of the reference at ``where.field``: the entry and its key when inside
        the bundle, else ``(None, the reference as written)``; ``(None, None)`` with no
        ``reference`` at all. ``expected`` names the resource types it may point at (any when
        empty). Expressions are built only for errors: extraction runs per entry."""
        if ref is None or ref.reference is None:
            return None, None
        entry = self.lookup(ref.reference, where, field)
        if entry is None:
            return None, ref.reference
        if expected and entry.resource_type not in expected:
            raise FhirError.single(
                "value",
                f"reference {ref.reference!r} points at a {entry.resource_type}, expected "
                + " or ".join(expected),
                f"{where}.{field}",
            )
        return entry, entry.key

    def key(self, ref: Reference | None, where: str, field: str, *expected: str) -> str | None:
        return self.resolve(ref, where, field, expected)[1]

    def keys(self, refs: list[Reference], where: str, field: str, *expected: str) -> list[str]:
        keys: list[str] = []
        for index, ref in enumerate(refs):
            key = self.resolve(ref, where, f"{field}[{index}]", expected)[1]
            if key is not None:
                keys.append(key)
        return keys

    def check_subject(self, ref: Reference | None, where: str, field: str) -> None:
        """A clinical resource must be about the bundle's patient (when it says whom it is about
        and that one is in the bundle)."""
        entry, _ = self.resolve(ref, where, field)
        if entry is not None and entry is not self.patient:
            raise FhirError.single(
                "business-rule",
                f"this resource is about {entry.key}, not the bundle's patient "
                + (self.patient.key if self.patient is not None else ""),
                f"{where}.{field}",
            )

    def when(self, text: str | None, where: str, field: str) -> When | None:
        if text is None:
            return None
        try:
            return self._dates.get(text)
        except ValueError as err:
            raise FhirError.single("value", str(err), f"{where}.{field}") from None

    def period(
        self, period: Period | None, where: str, field: str
    ) -> tuple[When | None, When | None]:
        if period is None:
            return None, None
        return (
            self.when(period.start, where, f"{field}.start"),
            self.when(period.end, where, f"{field}.end"),
        )


def concept_text(concept: CodeableConcept | None) -> str | None:
    """The text a person reads: ``text``, else the first coding's display."""
    if concept is None:
        return None
    if concept.text:
        return concept.text
    for coding in concept.coding:
        if coding.display:
            return coding.display
    return None


def codings(concepts: Iterable[CodeableConcept]) -> list[Coding]:
    return [coding for concept in concepts for coding in concept.coding]


def first_code(concept: CodeableConcept | None) -> str | None:
    if concept is None:
        return None
    for coding in concept.coding:
        if coding.code:
            return coding.code
    return None


def category_codes(concepts: Iterable[CodeableConcept]) -> list[str]:
    return [coding.code for concept in concepts for coding in concept.coding if coding.code]
