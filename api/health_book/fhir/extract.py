"""Turn a parsed Bundle into the health book's entries: :func:`extract`.

The bundle's patient is the ``Composition.subject`` when a Composition names one in the bundle,
else its only Patient. Every clinical resource must be about that patient. The patient must carry
an identifier of a configured national-ID system (the identifier we match citizens by).

Document identity: ``Bundle.identifier``, else the first Composition's ``identifier``, else the
SHA-256 of the canonical body (the JSON with insignificant whitespace removed), which is always
computed as ``content_sha256`` so that the same content sent twice can be recognised.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from api.health_book.fhir import clinical
from api.health_book.fhir import resources as r
from api.health_book.fhir.context import Context
from api.health_book.fhir.model import (
    DocumentInfo,
    Extraction,
    OtherEntry,
    PatientIdentifier,
    PatientInfo,
    SectionEntry,
)
from api.health_book.fhir.outcome import FhirError
from api.health_book.fhir.parse import ParsedBundle, ParsedEntry

_CATEGORY: dict[str, tuple[str, Callable[[Context, ParsedEntry, Any], Any]]] = {
    "Encounter": ("visits", clinical.visit),
    "Condition": ("conditions", clinical.condition),
    "AllergyIntolerance": ("allergies", clinical.allergy),
    "MedicationRequest": ("medications", clinical.medication),
    "MedicationStatement": ("medications", clinical.medication),
    "Immunization": ("immunizations", clinical.immunization),
    "Observation": ("observations", clinical.observation),
    "DiagnosticReport": ("diagnostic_reports", clinical.diagnostic_report),
    "Procedure": ("procedures", clinical.procedure),
}
"""Resource type -> (the Extraction list it goes to, its extractor)."""


def extract(bundle: ParsedBundle, *, national_id_systems: Sequence[str]) -> Extraction:
    """Extract the patient, the document identity and the entries of each category.

    ``national_id_systems`` lists the identifier systems that carry a national ID, most preferred
    first (at least one). Raises :class:`FhirError` when the bundle cannot be stored as a whole.
    """
    if not national_id_systems:
        raise ValueError("national_id_systems is empty: no patient could ever be matched")
    ctx = Context(bundle)
    compositions = [entry for entry in bundle.entries if entry.resource_type == "Composition"]
    patient_entry = _find_patient(ctx, bundle, compositions)
    ctx.patient = patient_entry
    patient = _patient(ctx, patient_entry, national_id_systems)

    lists: dict[str, list[Any]] = {name: [] for name, _ in _CATEGORY.values()}
    others: list[OtherEntry] = []
    for entry in bundle.entries:
        if entry is patient_entry:
            continue
        category = _CATEGORY.get(entry.resource_type)
        if category is None:
            others.append(
                OtherEntry(
                    key=entry.key,
                    resource_type=entry.resource_type,
                    full_url=entry.full_url,
                    raw=entry.raw,
                )
            )
            continue
        name, extractor = category
        lists[name].append(extractor(ctx, entry, entry.resource))

    sections: list[SectionEntry] = []
    for entry in compositions:
        composition: r.Composition = entry.resource  # type: ignore[assignment]  # chosen by type
        _walk_sections(ctx, entry, composition.section, "Composition", entry.expression, sections)

    return Extraction(
        document=_document(ctx, bundle, compositions[0] if compositions else None),
        patient=patient,
        sections=sections,
        others=others,
        **lists,
    )


def _find_patient(
    ctx: Context, bundle: ParsedBundle, compositions: list[ParsedEntry]
) -> ParsedEntry:
    patients = [entry for entry in bundle.entries if entry.resource_type == "Patient"]
    if not patients:
        raise FhirError.single("required", "the bundle has no Patient", "Bundle.entry")
    for entry in compositions:
        composition: r.Composition = entry.resource  # type: ignore[assignment]  # chosen by type
        target, _ = ctx.resolve(composition.subject, entry.expression, "subject", ("Patient",))
        if target is not None:
            return target
    if len(patients) > 1:
        raise FhirError.single(
            "business-rule",
            "the bundle has more than one Patient and no Composition saying which it is about",
            patients[1].expression,
        )
    return patients[0]


def _patient(ctx: Context, entry: ParsedEntry, national_id_systems: Sequence[str]) -> PatientInfo:
    res: r.Patient = entry.resource  # type: ignore[assignment]  # the entry chosen as Patient
    identifiers = [
        PatientIdentifier(
            system=identifier.system,
            value=identifier.value,
            use=identifier.use,
            type_codes=identifier.type.coding if identifier.type else [],
        )
        for identifier in res.identifier
        if identifier.system and identifier.value
    ]
    national_id = next(
        (
            identifier
            for system in national_id_systems
            for identifier in identifiers
            if identifier.system == system
        ),
        None,
    )
    if national_id is None:
        raise FhirError.single(
            "required",
            "missing patient identifier: the Patient has no identifier of a national-ID system ("
            + ", ".join(national_id_systems)
            + ")",
            f"{entry.expression}.identifier",
        )
    name = _preferred_name(res.name)
    return PatientInfo(
        key=entry.key,
        full_url=entry.full_url,
        identifiers=identifiers,
        national_id=national_id,
        name=_display_name(name),
        family=name.family if name else None,
        given=name.given if name else [],
        birth_date=ctx.when(res.birthDate, entry.expression, "birthDate"),
        gender=res.gender,
        raw=entry.raw,
    )


def _preferred_name(names: list[r.HumanName]) -> r.HumanName | None:
    for use in ("official", "usual"):
        for name in names:
            if name.use == use:
                return name
    return names[0] if names else None


def _display_name(name: r.HumanName | None) -> str | None:
    if name is None:
        return None
    if name.text:
        return name.text
    parts = [*name.given, *([name.family] if name.family else [])]
    return " ".join(parts) or None


def _walk_sections(
    ctx: Context,
    entry: ParsedEntry,
    sections: list[r.CompositionSection],
    path: str,
    expression: str,
    out: list[SectionEntry],
) -> None:
    for index, section in enumerate(sections):
        section_path = f"{path}.section[{index}]"
        section_expression = f"{expression}.section[{index}]"
        out.append(
            SectionEntry(
                composition_key=entry.key,
                path=section_path,
                title=section.title,
                codes=section.code.coding if section.code else [],
                entry_keys=ctx.keys(section.entry, section_expression, "entry"),
                empty_reason=section.emptyReason.coding if section.emptyReason else [],
            )
        )
        _walk_sections(ctx, entry, section.section, section_path, section_expression, out)


def _document(
    ctx: Context, bundle: ParsedBundle, composition_entry: ParsedEntry | None
) -> DocumentInfo:
    content_sha256 = hashlib.sha256(msgspec.json.format(bundle.body, indent=-1)).hexdigest()
    head = bundle.bundle
    composition: r.Composition | None = (
        # the entry found as the Composition
        composition_entry.resource if composition_entry is not None else None  # type: ignore[assignment]
    )
    identifier: r.Identifier | None = None
    if head.identifier is not None and head.identifier.value:
        identifier, source = head.identifier, "bundle"
    elif composition is not None and composition.identifier and composition.identifier.value:
        identifier, source = composition.identifier, "composition"
    else:
        source = "content"
    document_key = (
        f"{identifier.system or ''}|{identifier.value}"
        if identifier is not None
        else f"sha256:{content_sha256}"
    )
    info = DocumentInfo(
        bundle_type=head.type,
        bundle_id=head.id,
        identifier_system=identifier.system if identifier else None,
        identifier_value=identifier.value if identifier else None,
        identity_source=source,
        document_key=document_key,
        content_sha256=content_sha256,
        timestamp=ctx.when(head.timestamp, "Bundle", "timestamp"),
    )
    if composition is not None and composition_entry is not None:
        info.composition_key = composition_entry.key
        info.title = composition.title
        info.type_codes = composition.type.coding
        info.date = ctx.when(composition.date, composition_entry.expression, "date")
    return info
