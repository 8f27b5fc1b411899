"""msgspec Structs for the FHIR R4 datatypes and resources the health book reads.

Only the elements we use are declared, and those are strict: their JSON type, their cardinality when
R4 makes them required, and date/dateTime/instant shapes (see :mod:`.dates`). Every other element,
extension (``extension``, ``modifierExtension``, ``_element`` primitives) and narrative is skipped
as FHIR requires of a reader, so none of these Structs forbids unknown fields. Names follow the
FHIR JSON names, so field names are camelCase; ``Encounter.class`` is ``class_`` in Python.

Decoding Structs are ``gc=False``: they are trees without cycles.
"""

from __future__ import annotations

import msgspec

from api.health_book.fhir.dates import FhirDate, FhirDateTime, FhirInstant


class Element(msgspec.Struct, kw_only=True, gc=False):
    """Base of every datatype and resource Struct."""


# Datatypes ------------------------------------------------------------------------------------


# msgspec lets a frozen Struct extend a mutable one; the checker applies dataclass rules here
class Coding(Element, frozen=True):  # pyright: ignore[reportGeneralTypeIssues]
    """A code from a code system; also used as is in the extracted model."""

    system: str | None = None
    code: str | None = None
    display: str | None = None


class CodeableConcept(Element, kw_only=True):
    coding: list[Coding] = []
    text: str | None = None


class Identifier(Element, kw_only=True):
    use: str | None = None
    type: CodeableConcept | None = None
    system: str | None = None
    value: str | None = None


class Reference(Element, kw_only=True):
    reference: str | None = None
    type: str | None = None
    display: str | None = None


class Period(Element, kw_only=True):
    start: FhirDateTime | None = None
    end: FhirDateTime | None = None


class Quantity(Element, kw_only=True):
    value: float | None = None
    comparator: str | None = None
    unit: str | None = None
    system: str | None = None
    code: str | None = None


class Range(Element, kw_only=True):
    low: Quantity | None = None
    high: Quantity | None = None


class Annotation(Element, kw_only=True):
    text: str


class ReferenceRange(Element, kw_only=True):
    low: Quantity | None = None
    high: Quantity | None = None
    type: CodeableConcept | None = None
    text: str | None = None


class HumanName(Element, kw_only=True):
    use: str | None = None
    text: str | None = None
    family: str | None = None
    given: list[str] = []
    prefix: list[str] = []


class Meta(Element, kw_only=True):
    profile: list[str] = []


class Dosage(Element, kw_only=True):
    text: str | None = None


# Resources ------------------------------------------------------------------------------------


class ResourceHead(Element, kw_only=True):
    """The least a resource is: a JSON object with a ``resourceType`` (and mostly an ``id``)."""

    resourceType: str
    id: str | None = None


class Resource(Element, kw_only=True):
    id: str | None = None


class Patient(Resource, kw_only=True):
    identifier: list[Identifier] = []
    name: list[HumanName] = []
    gender: str | None = None
    birthDate: FhirDate | None = None


class Organization(Resource, kw_only=True):
    identifier: list[Identifier] = []
    name: str | None = None


class Practitioner(Resource, kw_only=True):
    identifier: list[Identifier] = []
    name: list[HumanName] = []


class EncounterDiagnosis(Element, kw_only=True):
    condition: Reference
    use: CodeableConcept | None = None
    rank: int | None = None


class EncounterLocation(Element, kw_only=True):
    location: Reference


class Encounter(Resource, kw_only=True):
    status: str
    class_: Coding = msgspec.field(name="class")
    type: list[CodeableConcept] = []
    serviceType: CodeableConcept | None = None
    subject: Reference | None = None
    period: Period | None = None
    reasonCode: list[CodeableConcept] = []
    reasonReference: list[Reference] = []
    diagnosis: list[EncounterDiagnosis] = []
    location: list[EncounterLocation] = []
    serviceProvider: Reference | None = None


class Condition(Resource, kw_only=True):
    clinicalStatus: CodeableConcept | None = None
    verificationStatus: CodeableConcept | None = None
    category: list[CodeableConcept] = []
    severity: CodeableConcept | None = None
    code: CodeableConcept | None = None
    subject: Reference
    encounter: Reference | None = None
    onsetDateTime: FhirDateTime | None = None
    onsetPeriod: Period | None = None
    onsetString: str | None = None
    abatementDateTime: FhirDateTime | None = None
    abatementPeriod: Period | None = None
    abatementString: str | None = None
    recordedDate: FhirDateTime | None = None
    note: list[Annotation] = []


class AllergyReaction(Element, kw_only=True):
    substance: CodeableConcept | None = None
    manifestation: list[CodeableConcept] = []
    severity: str | None = None


class AllergyIntolerance(Resource, kw_only=True):
    clinicalStatus: CodeableConcept | None = None
    verificationStatus: CodeableConcept | None = None
    type: str | None = None
    category: list[str] = []
    criticality: str | None = None
    code: CodeableConcept | None = None
    patient: Reference
    encounter: Reference | None = None
    onsetDateTime: FhirDateTime | None = None
    onsetPeriod: Period | None = None
    onsetString: str | None = None
    recordedDate: FhirDateTime | None = None
    lastOccurrence: FhirDateTime | None = None
    reaction: list[AllergyReaction] = []
    note: list[Annotation] = []


class Medication(Resource, kw_only=True):
    code: CodeableConcept | None = None


class MedicationRequest(Resource, kw_only=True):
    contained: list[msgspec.Raw] = []
    status: str
    intent: str
    medicationCodeableConcept: CodeableConcept | None = None
    medicationReference: Reference | None = None
    subject: Reference
    encounter: Reference | None = None
    authoredOn: FhirDateTime | None = None
    reasonCode: list[CodeableConcept] = []
    reasonReference: list[Reference] = []
    dosageInstruction: list[Dosage] = []


class MedicationStatement(Resource, kw_only=True):
    contained: list[msgspec.Raw] = []
    status: str
    medicationCodeableConcept: CodeableConcept | None = None
    medicationReference: Reference | None = None
    subject: Reference
    context: Reference | None = None
    effectiveDateTime: FhirDateTime | None = None
    effectivePeriod: Period | None = None
    dateAsserted: FhirDateTime | None = None
    reasonCode: list[CodeableConcept] = []
    reasonReference: list[Reference] = []
    dosage: list[Dosage] = []


class Immunization(Resource, kw_only=True):
    status: str
    vaccineCode: CodeableConcept
    patient: Reference
    encounter: Reference | None = None
    occurrenceDateTime: FhirDateTime | None = None
    occurrenceString: str | None = None
    recorded: FhirDateTime | None = None
    primarySource: bool | None = None
    lotNumber: str | None = None


class ObservationComponent(Element, kw_only=True):
    """``Observation.component``; also the base of :class:`Observation`, which shares its value
    elements (``id`` is the element id here, the resource id there)."""

    id: str | None = None
    code: CodeableConcept
    valueQuantity: Quantity | None = None
    valueCodeableConcept: CodeableConcept | None = None
    valueString: str | None = None
    valueBoolean: bool | None = None
    valueInteger: int | None = None
    valueDateTime: FhirDateTime | None = None
    dataAbsentReason: CodeableConcept | None = None
    interpretation: list[CodeableConcept] = []
    referenceRange: list[ReferenceRange] = []


class Observation(ObservationComponent, kw_only=True):
    status: str
    category: list[CodeableConcept] = []
    subject: Reference | None = None
    encounter: Reference | None = None
    effectiveDateTime: FhirDateTime | None = None
    effectivePeriod: Period | None = None
    effectiveInstant: FhirInstant | None = None
    issued: FhirInstant | None = None
    note: list[Annotation] = []
    component: list[ObservationComponent] = []


class DiagnosticReport(Resource, kw_only=True):
    status: str
    category: list[CodeableConcept] = []
    code: CodeableConcept
    subject: Reference | None = None
    encounter: Reference | None = None
    effectiveDateTime: FhirDateTime | None = None
    effectivePeriod: Period | None = None
    issued: FhirInstant | None = None
    result: list[Reference] = []
    conclusion: str | None = None
    conclusionCode: list[CodeableConcept] = []


class Procedure(Resource, kw_only=True):
    status: str
    category: CodeableConcept | None = None
    code: CodeableConcept | None = None
    subject: Reference
    encounter: Reference | None = None
    performedDateTime: FhirDateTime | None = None
    performedPeriod: Period | None = None
    performedString: str | None = None
    reasonCode: list[CodeableConcept] = []
    reasonReference: list[Reference] = []
    note: list[Annotation] = []


class CompositionSection(Element, kw_only=True):
    title: str | None = None
    code: CodeableConcept | None = None
    entry: list[Reference] = []
    emptyReason: CodeableConcept | None = None
    section: list[CompositionSection] = []


class Composition(Resource, kw_only=True):
    identifier: Identifier | None = None
    status: str
    type: CodeableConcept
    subject: Reference | None = None
    encounter: Reference | None = None
    date: FhirDateTime
    title: str
    section: list[CompositionSection] = []


class BundleEntry(Element, kw_only=True):
    fullUrl: str | None = None
    resource: msgspec.Raw = msgspec.Raw(b"")
    """The resource as raw JSON, decoded later by its type; empty when the entry has none."""


class Bundle(Element, kw_only=True):
    resourceType: str
    id: str | None = None
    meta: Meta | None = None
    identifier: Identifier | None = None
    type: str
    timestamp: FhirInstant | None = None
    entry: list[BundleEntry] = []


READ_TYPES: dict[str, type[Element]] = {
    cls.__name__: cls
    for cls in (
        Patient,
        Organization,
        Practitioner,
        Medication,
        Encounter,
        Condition,
        AllergyIntolerance,
        MedicationRequest,
        MedicationStatement,
        Immunization,
        Observation,
        DiagnosticReport,
        Procedure,
        Composition,
    )
}
"""The resource types decoded into Structs; any other type is kept as raw JSON."""
