"""What :func:`api.health_book.fhir.extract.extract` produces: plain Structs, ready to be stored.

Conventions shared by every extracted entry:

- ``key`` is the entry's stable source key: ``Type/id``, else its ``fullUrl``, else
  ``Bundle.entry[i]``. Every ``*_key`` field holds such a key when the reference was resolved
  inside the bundle; a reference to elsewhere (an absolute URL of another server, a conditional
  reference such as ``Organization?identifier=...``, a contained ``#id``) is kept as written.
- ``codes`` are all the codings of the element that names the entry, as sent (ICD-10, LOINC,
  SNOMED CT, ATC, CVX, RxNorm, ...); ``text`` is the CodeableConcept text, else the first display.
- Dates are :class:`~api.health_book.fhir.dates.When` (text as sent, UTC ``at``, precision).
- ``raw`` is the resource's JSON exactly as received (a :class:`msgspec.Raw` view into the body;
  ``bytes(raw)`` copies it out), for FHIR export.
"""

from __future__ import annotations

import msgspec

from api.health_book.fhir.dates import When
from api.health_book.fhir.resources import Coding


class Out(msgspec.Struct, kw_only=True, gc=False):
    """Base of the extracted Structs."""


class ExtractedEntry(Out, kw_only=True):
    key: str
    resource_type: str
    full_url: str | None
    codes: list[Coding]
    text: str | None
    status: str | None
    encounter_key: str | None = None
    raw: msgspec.Raw


class PatientIdentifier(Out, kw_only=True):
    system: str
    value: str
    use: str | None = None
    type_codes: list[Coding] = []


class PatientInfo(Out, kw_only=True):
    key: str
    full_url: str | None
    identifiers: list[PatientIdentifier]
    """Every identifier that has both a system and a value, in the order sent."""
    national_id: PatientIdentifier
    """The identifier whose system is the first configured national-ID system present."""
    name: str | None
    family: str | None
    given: list[str]
    birth_date: When | None
    gender: str | None
    raw: msgspec.Raw


class DocumentInfo(Out, kw_only=True):
    bundle_type: str
    bundle_id: str | None
    identifier_system: str | None
    identifier_value: str | None
    identity_source: str
    """Where the document identity comes from: ``bundle``, ``composition`` or ``content``."""
    document_key: str
    """``system|value`` of the identifier, or ``sha256:<hex>`` of the content."""
    content_sha256: str
    """SHA-256 (hex) of the body with insignificant JSON whitespace removed."""
    timestamp: When | None
    composition_key: str | None = None
    title: str | None = None
    type_codes: list[Coding] = []
    date: When | None = None


class Visit(ExtractedEntry, kw_only=True):
    """An Encounter. ``codes`` are its types; ``class_code`` is ambulatory, inpatient, ..."""

    class_code: Coding | None
    start: When | None
    end: When | None
    facility_key: str | None
    facility_name: str | None
    reason_codes: list[Coding]
    reason_text: str | None
    reason_keys: list[str]
    diagnosis_keys: list[str]


class ConditionEntry(ExtractedEntry, kw_only=True):
    clinical_status: str | None
    verification_status: str | None
    categories: list[str]
    severity: list[Coding]
    onset: When | None
    onset_text: str | None
    abatement: When | None
    abatement_text: str | None
    recorded: When | None
    notes: list[str]


class AllergyEntry(ExtractedEntry, kw_only=True):
    clinical_status: str | None
    verification_status: str | None
    allergy_type: str | None
    categories: list[str]
    criticality: str | None
    onset: When | None
    onset_text: str | None
    recorded: When | None
    last_occurrence: When | None
    reactions: list[Coding]
    """The manifestations of every reaction."""
    notes: list[str]


class MedicationEntry(ExtractedEntry, kw_only=True):
    """A MedicationRequest or MedicationStatement; ``codes`` are the medication's."""

    intent: str | None
    medication_key: str | None
    authored: When | None
    effective_start: When | None
    effective_end: When | None
    dosage: list[str]
    reason_codes: list[Coding]
    reason_keys: list[str]


class ImmunizationEntry(ExtractedEntry, kw_only=True):
    occurred: When | None
    occurrence_text: str | None
    recorded: When | None
    primary_source: bool | None
    lot_number: str | None


class ReferenceRangeOut(Out, kw_only=True):
    low: float | None
    high: float | None
    unit: str | None
    text: str | None
    type_codes: list[Coding]


class ObservedValue(Out, kw_only=True):
    """An Observation's (or component's) ``value[x]``; ``kind`` says which one was sent."""

    kind: str
    """``quantity``, ``codeable-concept``, ``string``, ``boolean``, ``integer`` or ``datetime``."""
    number: float | None = None
    comparator: str | None = None
    unit: str | None = None
    unit_system: str | None = None
    unit_code: str | None = None
    codes: list[Coding] = []
    text: str | None = None
    boolean: bool | None = None
    at: When | None = None


class ComponentOut(Out, kw_only=True):
    codes: list[Coding]
    text: str | None
    value: ObservedValue | None
    data_absent: list[Coding]
    interpretation: list[Coding]
    reference_ranges: list[ReferenceRangeOut]


class ObservationEntry(ExtractedEntry, kw_only=True):
    categories: list[str]
    """Category codes: ``vital-signs``, ``laboratory``, ``survey``, ``social-history``, ..."""
    effective: When | None
    effective_end: When | None
    issued: When | None
    value: ObservedValue | None
    data_absent: list[Coding]
    interpretation: list[Coding]
    reference_ranges: list[ReferenceRangeOut]
    components: list[ComponentOut]
    notes: list[str]


class DiagnosticReportEntry(ExtractedEntry, kw_only=True):
    categories: list[str]
    effective: When | None
    effective_end: When | None
    issued: When | None
    result_keys: list[str]
    conclusion: str | None
    conclusion_codes: list[Coding]


class ProcedureEntry(ExtractedEntry, kw_only=True):
    categories: list[str]
    performed_start: When | None
    performed_end: When | None
    performed_text: str | None
    reason_codes: list[Coding]
    reason_keys: list[str]
    notes: list[str]


class SectionEntry(Out, kw_only=True):
    """A Composition section (nested sections follow their parent, ``path`` tells where)."""

    composition_key: str
    path: str
    """FHIRPath of the section, e.g. ``Composition.section[1]``."""
    title: str | None
    codes: list[Coding]
    entry_keys: list[str]
    empty_reason: list[Coding]


class OtherEntry(Out, kw_only=True):
    """A resource outside the categories (Composition, Medication, Organization, Claim, ...)."""

    key: str
    resource_type: str
    full_url: str | None
    raw: msgspec.Raw


class Extraction(Out, kw_only=True):
    document: DocumentInfo
    patient: PatientInfo
    visits: list[Visit]
    conditions: list[ConditionEntry]
    allergies: list[AllergyEntry]
    medications: list[MedicationEntry]
    immunizations: list[ImmunizationEntry]
    observations: list[ObservationEntry]
    diagnostic_reports: list[DiagnosticReportEntry]
    procedures: list[ProcedureEntry]
    sections: list[SectionEntry]
    others: list[OtherEntry]

    def counts(self) -> dict[str, int]:
        """How many entries each category holds."""
        return {
            "visits": len(self.visits),
            "conditions": len(self.conditions),
            "allergies": len(self.allergies),
            "medications": len(self.medications),
            "immunizations": len(self.immunizations),
            "observations": len(self.observations),
            "diagnostic_reports": len(self.diagnostic_reports),
            "procedures": len(self.procedures),
            "sections": len(self.sections),
            "others": len(self.others),
        }
