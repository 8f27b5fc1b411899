"""One extractor per clinical resource type: decoded resource in, extracted entry out.

Each checks that the resource is about the bundle's patient, resolves the references it keeps
(encounter, reasons, results, medication, ...) and converts its dates, raising
:class:`~api.health_book.fhir.outcome.FhirError` with the FHIRPath of the offending element.
"""

from __future__ import annotations

import msgspec

from api.health_book.fhir import resources as r
from api.health_book.fhir.context import (
    Context,
    category_codes,
    codings,
    concept_text,
    first_code,
)
from api.health_book.fhir.model import (
    AllergyEntry,
    ComponentOut,
    ConditionEntry,
    DiagnosticReportEntry,
    ImmunizationEntry,
    MedicationEntry,
    ObservationEntry,
    ObservedValue,
    ProcedureEntry,
    ReferenceRangeOut,
    Visit,
)
from api.health_book.fhir.outcome import FhirError
from api.health_book.fhir.parse import ParsedEntry

_MEDICATION_DECODER = msgspec.json.Decoder(r.Medication)


def visit(ctx: Context, entry: ParsedEntry, res: r.Encounter) -> Visit:
    p = entry.expression
    ctx.check_subject(res.subject, p, "subject")
    start, end = ctx.period(res.period, p, "period")
    facility, facility_key = ctx.resolve(
        res.serviceProvider, p, "serviceProvider", ("Organization",)
    )
    facility_name = res.serviceProvider.display if res.serviceProvider else None
    if facility is not None and isinstance(facility.resource, r.Organization):
        facility_name = facility.resource.name or facility_name
    diagnosis_keys = [
        key
        for index, diagnosis in enumerate(res.diagnosis)
        if (
            key := ctx.key(
                diagnosis.condition, p, f"diagnosis[{index}].condition", "Condition", "Procedure"
            )
        )
        is not None
    ]
    return Visit(
        key=entry.key,
        resource_type=entry.resource_type,
        full_url=entry.full_url,
        codes=codings(res.type),
        text=concept_text(res.type[0]) if res.type else None,
        status=res.status,
        raw=entry.raw,
        class_code=res.class_,
        start=start,
        end=end,
        facility_key=facility_key,
        facility_name=facility_name,
        reason_codes=codings(res.reasonCode),
        reason_text=concept_text(res.reasonCode[0]) if res.reasonCode else None,
        reason_keys=ctx.keys(res.reasonReference, p, "reasonReference"),
        diagnosis_keys=diagnosis_keys,
    )


def condition(ctx: Context, entry: ParsedEntry, res: r.Condition) -> ConditionEntry:
    p = entry.expression
    ctx.check_subject(res.subject, p, "subject")
    onset = ctx.when(res.onsetDateTime, p, "onsetDateTime")
    if onset is None and res.onsetPeriod is not None:
        onset = ctx.period(res.onsetPeriod, p, "onsetPeriod")[0]
    abatement = ctx.when(res.abatementDateTime, p, "abatementDateTime")
    if abatement is None and res.abatementPeriod is not None:
        abatement = ctx.period(res.abatementPeriod, p, "abatementPeriod")[0]
    return ConditionEntry(
        key=entry.key,
        resource_type=entry.resource_type,
        full_url=entry.full_url,
        codes=res.code.coding if res.code else [],
        text=concept_text(res.code),
        status=first_code(res.clinicalStatus),
        encounter_key=ctx.key(res.encounter, p, "encounter", "Encounter"),
        raw=entry.raw,
        clinical_status=first_code(res.clinicalStatus),
        verification_status=first_code(res.verificationStatus),
        categories=category_codes(res.category),
        severity=res.severity.coding if res.severity else [],
        onset=onset,
        onset_text=res.onsetString,
        abatement=abatement,
        abatement_text=res.abatementString,
        recorded=ctx.when(res.recordedDate, p, "recordedDate"),
        notes=[note.text for note in res.note],
    )


def allergy(ctx: Context, entry: ParsedEntry, res: r.AllergyIntolerance) -> AllergyEntry:
    p = entry.expression
    ctx.check_subject(res.patient, p, "patient")
    onset = ctx.when(res.onsetDateTime, p, "onsetDateTime")
    if onset is None and res.onsetPeriod is not None:
        onset = ctx.period(res.onsetPeriod, p, "onsetPeriod")[0]
    return AllergyEntry(
        key=entry.key,
        resource_type=entry.resource_type,
        full_url=entry.full_url,
        codes=res.code.coding if res.code else [],
        text=concept_text(res.code),
        status=first_code(res.clinicalStatus),
        encounter_key=ctx.key(res.encounter, p, "encounter", "Encounter"),
        raw=entry.raw,
        clinical_status=first_code(res.clinicalStatus),
        verification_status=first_code(res.verificationStatus),
        allergy_type=res.type,
        categories=res.category,
        criticality=res.criticality,
        onset=onset,
        onset_text=res.onsetString,
        recorded=ctx.when(res.recordedDate, p, "recordedDate"),
        last_occurrence=ctx.when(res.lastOccurrence, p, "lastOccurrence"),
        reactions=[
            coding for reaction in res.reaction for coding in codings(reaction.manifestation)
        ],
        notes=[note.text for note in res.note],
    )


def medication(
    ctx: Context, entry: ParsedEntry, res: r.MedicationRequest | r.MedicationStatement
) -> MedicationEntry:
    p = entry.expression
    ctx.check_subject(res.subject, p, "subject")
    concept = res.medicationCodeableConcept
    medication_key = None
    if concept is None and res.medicationReference is not None:
        where = f"{p}.medicationReference"
        target, medication_key = ctx.resolve(
            res.medicationReference, p, "medicationReference", ("Medication",)
        )
        if target is not None:
            concept = target.resource.code  # type: ignore[union-attr]  # resolved as a Medication
        elif medication_key is not None and medication_key.startswith("#"):
            concept = _contained_medication(res, medication_key, where)
        if concept is None and res.medicationReference.display:
            concept = r.CodeableConcept(text=res.medicationReference.display)
    if isinstance(res, r.MedicationRequest):
        intent, authored = res.intent, ctx.when(res.authoredOn, p, "authoredOn")
        start = end = None
        encounter_key = ctx.key(res.encounter, p, "encounter", "Encounter")
        dosage = [d.text for d in res.dosageInstruction if d.text]
    else:
        intent, authored = None, ctx.when(res.dateAsserted, p, "dateAsserted")
        start = ctx.when(res.effectiveDateTime, p, "effectiveDateTime")
        end = None
        if start is None:
            start, end = ctx.period(res.effectivePeriod, p, "effectivePeriod")
        encounter_key = ctx.key(res.context, p, "context", "Encounter", "EpisodeOfCare")
        dosage = [d.text for d in res.dosage if d.text]
    return MedicationEntry(
        key=entry.key,
        resource_type=entry.resource_type,
        full_url=entry.full_url,
        codes=concept.coding if concept else [],
        text=concept_text(concept),
        status=res.status,
        encounter_key=encounter_key,
        raw=entry.raw,
        intent=intent,
        medication_key=medication_key,
        authored=authored,
        effective_start=start,
        effective_end=end,
        dosage=dosage,
        reason_codes=codings(res.reasonCode),
        reason_keys=ctx.keys(res.reasonReference, p, "reasonReference"),
    )


def _contained_medication(
    res: r.MedicationRequest | r.MedicationStatement, local_id: str, expression: str
) -> r.CodeableConcept | None:
    for raw in res.contained:
        try:
            contained = _MEDICATION_DECODER.decode(raw)
        except msgspec.ValidationError as err:
            raise FhirError.single("value", f"contained Medication: {err}", expression) from None
        if contained.id == local_id[1:]:
            return contained.code
    raise FhirError.single("not-found", f"no contained resource {local_id!r}", expression)


def immunization(ctx: Context, entry: ParsedEntry, res: r.Immunization) -> ImmunizationEntry:
    p = entry.expression
    ctx.check_subject(res.patient, p, "patient")
    return ImmunizationEntry(
        key=entry.key,
        resource_type=entry.resource_type,
        full_url=entry.full_url,
        codes=res.vaccineCode.coding,
        text=concept_text(res.vaccineCode),
        status=res.status,
        encounter_key=ctx.key(res.encounter, p, "encounter", "Encounter"),
        raw=entry.raw,
        occurred=ctx.when(res.occurrenceDateTime, p, "occurrenceDateTime"),
        occurrence_text=res.occurrenceString,
        recorded=ctx.when(res.recorded, p, "recorded"),
        primary_source=res.primarySource,
        lot_number=res.lotNumber,
    )


def observation(ctx: Context, entry: ParsedEntry, res: r.Observation) -> ObservationEntry:
    p = entry.expression
    ctx.check_subject(res.subject, p, "subject")
    effective = ctx.when(res.effectiveDateTime, p, "effectiveDateTime")
    effective_end = None
    if effective is None:
        effective = ctx.when(res.effectiveInstant, p, "effectiveInstant")
    if effective is None and res.effectivePeriod is not None:
        effective, effective_end = ctx.period(res.effectivePeriod, p, "effectivePeriod")
    return ObservationEntry(
        key=entry.key,
        resource_type=entry.resource_type,
        full_url=entry.full_url,
        codes=res.code.coding,
        text=concept_text(res.code),
        status=res.status,
        encounter_key=ctx.key(res.encounter, p, "encounter", "Encounter"),
        raw=entry.raw,
        categories=category_codes(res.category),
        effective=effective,
        effective_end=effective_end,
        issued=ctx.when(res.issued, p, "issued"),
        value=_value(ctx, res, p),
        data_absent=res.dataAbsentReason.coding if res.dataAbsentReason else [],
        interpretation=codings(res.interpretation),
        reference_ranges=[_range(rr) for rr in res.referenceRange],
        components=[
            ComponentOut(
                codes=component.code.coding,
                text=concept_text(component.code),
                value=_value(ctx, component, f"{p}.component[{index}]"),
                data_absent=component.dataAbsentReason.coding if component.dataAbsentReason else [],
                interpretation=codings(component.interpretation),
                reference_ranges=[_range(rr) for rr in component.referenceRange],
            )
            for index, component in enumerate(res.component)
        ],
        notes=[note.text for note in res.note],
    )


def _value(ctx: Context, res: r.ObservationComponent, p: str) -> ObservedValue | None:
    """The one ``value[x]`` that is set; two set at once is an error."""
    found: list[ObservedValue] = []
    if (quantity := res.valueQuantity) is not None:
        found.append(
            ObservedValue(
                kind="quantity",
                number=quantity.value,
                comparator=quantity.comparator,
                unit=quantity.unit or quantity.code,
                unit_system=quantity.system,
                unit_code=quantity.code,
            )
        )
    if (concept := res.valueCodeableConcept) is not None:
        found.append(
            ObservedValue(kind="codeable-concept", codes=concept.coding, text=concept_text(concept))
        )
    if res.valueString is not None:
        found.append(ObservedValue(kind="string", text=res.valueString))
    if res.valueBoolean is not None:
        found.append(ObservedValue(kind="boolean", boolean=res.valueBoolean))
    if res.valueInteger is not None:
        found.append(ObservedValue(kind="integer", number=float(res.valueInteger)))
    if res.valueDateTime is not None:
        at = ctx.when(res.valueDateTime, p, "valueDateTime")
        found.append(ObservedValue(kind="datetime", at=at, text=res.valueDateTime))
    if len(found) > 1:
        raise FhirError.single("value", "more than one value[x] element", f"{p}.value[x]")
    return found[0] if found else None


def _range(rr: r.ReferenceRange) -> ReferenceRangeOut:
    low, high = rr.low, rr.high
    unit = (low.unit or low.code) if low else None
    if unit is None and high is not None:
        unit = high.unit or high.code
    return ReferenceRangeOut(
        low=low.value if low else None,
        high=high.value if high else None,
        unit=unit,
        text=rr.text,
        type_codes=rr.type.coding if rr.type else [],
    )


def diagnostic_report(
    ctx: Context, entry: ParsedEntry, res: r.DiagnosticReport
) -> DiagnosticReportEntry:
    p = entry.expression
    ctx.check_subject(res.subject, p, "subject")
    effective = ctx.when(res.effectiveDateTime, p, "effectiveDateTime")
    effective_end = None
    if effective is None and res.effectivePeriod is not None:
        effective, effective_end = ctx.period(res.effectivePeriod, p, "effectivePeriod")
    return DiagnosticReportEntry(
        key=entry.key,
        resource_type=entry.resource_type,
        full_url=entry.full_url,
        codes=res.code.coding,
        text=concept_text(res.code),
        status=res.status,
        encounter_key=ctx.key(res.encounter, p, "encounter", "Encounter"),
        raw=entry.raw,
        categories=category_codes(res.category),
        effective=effective,
        effective_end=effective_end,
        issued=ctx.when(res.issued, p, "issued"),
        result_keys=ctx.keys(res.result, p, "result", "Observation"),
        conclusion=res.conclusion,
        conclusion_codes=codings(res.conclusionCode),
    )


def procedure(ctx: Context, entry: ParsedEntry, res: r.Procedure) -> ProcedureEntry:
    p = entry.expression
    ctx.check_subject(res.subject, p, "subject")
    start = ctx.when(res.performedDateTime, p, "performedDateTime")
    end = None
    if start is None and res.performedPeriod is not None:
        start, end = ctx.period(res.performedPeriod, p, "performedPeriod")
    return ProcedureEntry(
        key=entry.key,
        resource_type=entry.resource_type,
        full_url=entry.full_url,
        codes=res.code.coding if res.code else [],
        text=concept_text(res.code),
        status=res.status,
        encounter_key=ctx.key(res.encounter, p, "encounter", "Encounter"),
        raw=entry.raw,
        categories=category_codes([res.category] if res.category else []),
        performed_start=start,
        performed_end=end,
        performed_text=res.performedString,
        reason_codes=codings(res.reasonCode),
        reason_keys=ctx.keys(res.reasonReference, p, "reasonReference"),
        notes=[note.text for note in res.note],
    )
