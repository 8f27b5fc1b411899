"""XML2 prescriptions, XML3 procedures, XML3 + XML4 reports and their results."""

from __future__ import annotations

from api.insurance import vocabulary as v
from api.insurance.fields import VnDate
from api.insurance.mapping.base import Base
from api.insurance.mapping.common import (
    Json,
    fhir_period,
    icd_concept,
    json_number,
    result_value,
)
from api.insurance.tables import Row


class ClinicalParts(Base):
    """XML2, XML3 and XML4 resources."""

    # XML2 -----------------------------------------------------------------------------------

    def medications(self) -> list[str]:
        inpatient = self.class_code in ("IMP", "SS")
        urls: list[str] = []
        for row in self.episode.rows("XML2"):
            code, name = row.text("MA_THUOC"), row.text("TEN_THUOC")
            strength, form = row.text("HAM_LUONG"), row.text("DANG_BAO_CHE")
            label = " ".join(part for part in (name, strength) if part) or code or "Thuốc"
            if form:
                label = f"{label} ({form})"
            medication: Json = {
                "coding": [
                    {"system": v.DRUG_CODE, "code": code, **({"display": name} if name else {})}
                ],
                "text": label,
            }
            request: Json = {
                "resourceType": "MedicationRequest",
                "status": "completed",
                "intent": "order",
                "category": [
                    {
                        "coding": [
                            {
                                "system": v.MEDICATION_CATEGORY,
                                "code": "inpatient" if inpatient else "outpatient",
                            }
                        ]
                    }
                ],
                "medicationCodeableConcept": medication,
                "subject": self.ref(self.patient_url),
                "encounter": self.ref(self.encounter_url),
            }
            ordered = row.date("NGAY_YL")
            if ordered is not None:
                request["authoredOn"] = ordered.fhir_datetime()
            doctor = next((d for d in row.texts("MA_BAC_SI") if d), None)
            if doctor:
                request["requester"] = {
                    "identifier": {"system": v.PRACTITIONER_LICENCE, "value": doctor}
                }
            if not inpatient and ordered is not None:
                request["groupIdentifier"] = {
                    "system": v.prescription_system(self.facility),
                    "value": f"{self.episode.ma_lk}/{ordered.fhir_date()}",
                }
            dosage: Json = {}
            dose, how = row.text("LIEU_DUNG"), row.text("CACH_DUNG")
            text = ". ".join(part for part in (dose, how) if part)
            if text:
                dosage["text"] = text
            if how:
                dosage["patientInstruction"] = how
            route = row.text("DUONG_DUNG")
            if route:
                dosage["route"] = {"coding": [{"system": v.ROUTE_CODE, "code": route}]}
            if dosage:
                request["dosageInstruction"] = [dosage]
            quantity = row.decimal("SO_LUONG")
            if quantity is not None:
                amount: Json = {"value": json_number(quantity)}
                unit = row.text("DON_VI_TINH")
                if unit:
                    amount["unit"] = unit
                request["dispenseRequest"] = {"quantity": amount}
            natural = (code, row.raw.get("NGAY_YL", ""))
            urls.append(self.add(self.url("MedicationRequest", *natural), request))
        return urls

    # XML3 + XML4 ----------------------------------------------------------------------------

    def procedures(self) -> list[str]:
        urls: list[str] = []
        for row in self.episode.rows("XML3"):
            group = row.integer("MA_NHOM")
            if group not in v.PROCEDURE_GROUPS:
                continue
            code, name = row.text("MA_DICH_VU"), row.text("TEN_DICH_VU")
            coding: list[Json] = []
            if code:
                coding.append(
                    {"system": v.SERVICE_CODE, "code": code, **({"display": name} if name else {})}
                )
            coding.extend({"system": v.ICD9CM, "code": c} for c in row.texts("MA_PTTT_QT") if c)
            concept: Json = {"text": name or code or v.PROCEDURE_GROUPS[group]}
            if coding:
                concept = {"coding": coding, **concept}
            procedure: Json = {
                "resourceType": "Procedure",
                "status": "completed",
                "category": {"text": v.PROCEDURE_GROUPS[group]},
                "code": concept,
                "subject": self.ref(self.patient_url),
                "encounter": self.ref(self.encounter_url),
            }
            if group == 8:
                procedure["category"]["coding"] = [
                    {"system": v.SNOMED, "code": "387713003", "display": "Surgical procedure"}
                ]
            period = fhir_period(row.date("NGAY_TH_YL") or row.date("NGAY_YL"), row.date("NGAY_KQ"))
            if period:
                procedure["performedPeriod"] = period
            performers = [p for p in row.texts("NGUOI_THUC_HIEN") if p]
            if performers:
                procedure["performer"] = [
                    {"actor": {"identifier": {"system": v.PRACTITIONER_LICENCE, "value": p}}}
                    for p in performers
                ]
            reasons = [c for c in row.texts("MA_BENH") if c]
            if reasons:
                procedure["reasonCode"] = [icd_concept(c, None) for c in reasons]
            anaesthesia = row.integer("PP_VO_CAM")
            if anaesthesia is not None:
                procedure["note"] = [
                    {"text": f"Phương pháp vô cảm: {v.ANAESTHESIA.get(anaesthesia, anaesthesia)}"}
                ]
            urls.append(
                self.add(self.url("Procedure", code, row.raw.get("NGAY_YL", "")), procedure)
            )
        return urls

    def reports(self) -> list[str]:
        """One DiagnosticReport per service that reports results: the XML3 lab, imaging and
        function-test rows, joined with their XML4 results by ``MA_DICH_VU`` (a service with
        results and no XML3 row still gets its report)."""
        services: dict[str, Row] = {}
        for row in self.episode.rows("XML3"):
            code = row.text("MA_DICH_VU")
            if code and row.integer("MA_NHOM") in v.REPORT_GROUPS:
                services.setdefault(code, row)
        results: dict[str, list[Row]] = {}
        for row in self.episode.rows("XML4"):
            code = row.text("MA_DICH_VU")
            if code:
                results.setdefault(code, []).append(row)
        urls: list[str] = []
        for code in [*services, *(c for c in results if c not in services)]:
            urls.append(self.report(code, services.get(code), results.get(code, [])))
        return urls

    def report(self, code: str, service: Row | None, results: list[Row]) -> str:
        group = service.integer("MA_NHOM") if service is not None else None
        category = v.REPORT_GROUPS.get(group or 0)
        name = service.text("TEN_DICH_VU") if service is not None else None
        name = name or next((r.text("TEN_CHI_SO") for r in results if r.text("TEN_CHI_SO")), None)
        when = None
        if service is not None:
            when = service.date("NGAY_TH_YL") or service.date("NGAY_YL")
        observation_urls: list[str] = []
        pending = False
        for row in results:
            url, has_value = self.result(row, name, category, when)
            observation_urls.append(url)
            pending = pending or not has_value
        report: Json = {"resourceType": "DiagnosticReport"}
        if not results:
            report["status"] = "registered"
        else:
            report["status"] = "partial" if pending else "final"
        if category is not None:
            report["category"] = [
                {
                    "coding": [
                        {"system": v.REPORT_CATEGORY, "code": category[0], "display": category[1]}
                    ]
                }
            ]
        report["code"] = {
            "coding": [
                {"system": v.SERVICE_CODE, "code": code, **({"display": name} if name else {})}
            ],
            "text": name or code,
        }
        report["subject"] = self.ref(self.patient_url)
        report["encounter"] = self.ref(self.encounter_url)
        if when is not None:
            report["effectiveDateTime"] = when.fhir_datetime()
        issued = [r.date("NGAY_KQ") for r in results]
        if service is not None:
            issued.append(service.date("NGAY_KQ"))
        instants = [d.aware() for d in issued if d is not None]
        latest = max((at for at in instants if at is not None), default=None)
        if latest is not None:
            report["issued"] = latest.isoformat()
        readers = list(dict.fromkeys(d for r in results for d in r.texts("MA_BS_DOC_KQ") if d))
        if readers:
            report["resultsInterpreter"] = [
                {"identifier": {"system": v.PRACTITIONER_LICENCE, "value": d}} for d in readers
            ]
        if observation_urls:
            report["result"] = [self.ref(u) for u in observation_urls]
        conclusions = list(dict.fromkeys(r.text("KET_LUAN") for r in results if r.text("KET_LUAN")))
        if conclusions:
            report["conclusion"] = "\n".join(c for c in conclusions if c)
        return self.add(self.url("DiagnosticReport", code), report)

    def result(
        self,
        row: Row,
        service_name: str | None,
        category: tuple[str, str, str, str] | None,
        when: VnDate | None,
    ) -> tuple[str, bool]:
        index_code, index_name = row.text("MA_CHI_SO"), row.text("TEN_CHI_SO")
        concept: Json = {"text": index_name or service_name or index_code or row.text("MA_DICH_VU")}
        if index_code:
            concept = {
                "coding": [
                    {
                        "system": v.INDEX_CODE,
                        "code": index_code,
                        **({"display": index_name} if index_name else {}),
                    }
                ],
                **concept,
            }
        value: Json = {}
        raw_value, description = row.text("GIA_TRI"), row.text("MO_TA")
        if raw_value:
            value = result_value(raw_value, row.text("DON_VI_DO"))
        elif description:
            value = {"valueString": description}
            description = None
        notes = [text for text in (description, row.text("KET_LUAN")) if text]
        if notes:
            value["note"] = [{"text": text} for text in notes]
        issued = row.date("NGAY_KQ")
        issued_at = issued.aware() if issued is not None else None
        if issued_at is not None:
            value["issued"] = issued_at.isoformat()
        has_value = "valueQuantity" in value or "valueString" in value
        observation = self.observation(
            category[2] if category else "laboratory",
            concept,
            when or issued,
            value,
            status="final" if has_value else "registered",
        )
        natural = (row.text("MA_DICH_VU"), index_code or index_name or "")
        return self.add(self.url("Observation", *natural), observation), has_value
