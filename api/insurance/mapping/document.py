"""The document: the Bundle, and the Composition whose sections the citizen reads (XML5, XML7,
XML8 and the other parts' entries)."""

from __future__ import annotations

from api.insurance import vocabulary as v
from api.insurance.mapping.clinical import ClinicalParts
from api.insurance.mapping.common import (
    Json,
    fhir_instant,
    human,
    labelled,
    labelled_values,
    make_section,
    prefixed,
    tidy_codes,
)
from api.insurance.mapping.papers import PaperParts
from api.insurance.mapping.visit import VisitParts
from api.insurance.tables import Row


class Builder(VisitParts, ClinicalParts, PaperParts):
    """An episode mapped part by part, then assembled into the document."""

    # the document -------------------------------------------------------------------------

    def bundle(self) -> Json:
        self.organization()
        self.patient()
        conditions = self.conditions()
        self.encounter(conditions)
        self.coverages()
        vitals = self.vitals()
        medications = self.medications()
        procedures = self.procedures()
        reports = self.reports()
        appointments = self.appointments()
        referrals = self.referrals()
        papers = self.sick_leave()
        care_plans = self.care_plans()
        composition = self.composition(
            conditions,
            vitals,
            medications,
            procedures,
            reports,
            appointments,
            referrals,
            papers,
            care_plans,
        )
        bundle: Json = {
            "resourceType": "Bundle",
            "identifier": {"system": v.episode_system(self.facility), "value": self.episode.ma_lk},
            "type": "document",
        }
        if self.restricted:
            bundle["meta"] = {"security": [dict(v.RESTRICTED)]}
        end = fhir_instant(self.summary.date("NGAY_RA")) or fhir_instant(
            self.summary.date("NGAY_VAO")
        )
        if end is not None:
            bundle["timestamp"] = end
        bundle["entry"] = [composition, *self.entries]
        tidy_codes(bundle["entry"])
        return bundle

    # the Composition ------------------------------------------------------------------------

    def composition(
        self,
        conditions: list[str],
        vitals: list[str],
        medications: list[str],
        procedures: list[str],
        reports: list[str],
        appointments: list[str],
        referrals: list[str],
        papers: list[str],
        care_plans: list[str],
    ) -> Json:
        s = self.summary
        summaries = self.episode.rows("XML8")
        record = summaries[0] if summaries else None

        def field(name: str, *alternatives: tuple[Row | None, str]) -> str | None:
            for row, key in ((record, name), *alternatives):
                if row is not None and row.text(key):
                    return row.text(key)
            return None

        sections: list[Json | None] = []
        diagnosis = labelled_values(
            (
                ("Chẩn đoán vào viện", field("CHAN_DOAN_VAO", (s, "CHAN_DOAN_VAO"))),
                ("Chẩn đoán ra viện", field("CHAN_DOAN_RV", (s, "CHAN_DOAN_RV"))),
            )
        )
        sections.append(
            make_section("Chẩn đoán", "29548-5", "Diagnosis Narrative", diagnosis, conditions)
        )
        inpatient = self.class_code in ("IMP", "SS")
        reason_label = "Lý do vào viện" if inpatient else "Lý do đến khám"
        course = labelled_values(
            (
                (reason_label, s.text("LY_DO_VV")),
                ("Quá trình bệnh lý và diễn biến lâm sàng", field("QT_BENHLY")),
                ("Phương pháp điều trị", field("PP_DIEUTRI", (s, "PP_DIEU_TRI"))),
            )
        )
        for row in self.episode.rows("XML5"):
            when = row.date("THOI_DIEM_DBLS")
            parts = [
                text
                for text in (
                    row.text("DIEN_BIEN_LS"),
                    prefixed("Giai đoạn", row.text("GIAI_DOAN_BENH")),
                    prefixed("Hội chẩn", row.text("HOI_CHAN")),
                    prefixed("Phẫu thuật", row.text("PHAU_THUAT")),
                )
                if text
            ]
            if parts:
                course.append(f"{human(when)}: " + "; ".join(parts) if when else "; ".join(parts))
        sections.append(
            make_section("Diễn biến và điều trị", "8648-8", "Hospital course Narrative", course, [])
        )
        sections.append(
            make_section(
                "Dấu hiệu sinh tồn, nhóm máu", "8716-3", "Vital signs Narrative", [], vitals
            )
        )
        results = labelled_values((("Tóm tắt kết quả cận lâm sàng", field("TOMTAT_KQ")),))
        sections.append(
            make_section(
                "Kết quả cận lâm sàng",
                "30954-2",
                "Relevant diagnostic tests/laboratory data Narrative",
                results,
                reports,
            )
        )
        sections.append(
            make_section(
                "Phẫu thuật, thủ thuật", "47519-4", "History of Procedures Document", [], procedures
            )
        )
        sections.append(
            make_section("Thuốc", "10160-0", "History of Medication use Narrative", [], medications)
        )
        sections.append(make_section("Chăm sóc, điều trị dài hạn", None, None, [], care_plans))
        outcome: list[str] = []
        result = (record.integer("KET_QUA_DTRI") if record else None) or s.integer("KET_QUA_DTRI")
        if result is not None:
            outcome.append(f"Kết quả điều trị: {v.TREATMENT_RESULTS.get(result, result)}")
        discharge = s.integer("MA_LOAI_RV")
        if discharge is not None:
            outcome.append(f"Tình trạng ra viện: {v.DISCHARGE_TYPES.get(discharge, discharge)}")
        papers_sections = [
            self.discharge_paper(row, i) for i, row in enumerate(self.episode.rows("XML7"))
        ]
        discharge_section = make_section(
            "Kết quả điều trị, ra viện", "18842-5", "Discharge summary", outcome, []
        )
        if papers_sections:
            discharge_section = discharge_section or {"title": "Kết quả điều trị, ra viện"}
            discharge_section["section"] = papers_sections
        sections.append(discharge_section)
        advice = labelled_values((("Lời dặn của bác sĩ", field("GHI_CHU", (s, "GHI_CHU"))),))
        sections.append(
            make_section(
                "Lời dặn, hẹn khám lại, chuyển tuyến",
                "18776-5",
                "Plan of care note",
                advice,
                [*appointments, *referrals],
            )
        )
        sections.append(make_section("Giấy tờ", None, None, [], papers))
        composition: Json = {
            "resourceType": "Composition",
            "identifier": {"system": v.episode_system(self.facility), "value": self.episode.ma_lk},
            "status": "final",
            "type": {
                "coding": [
                    {"system": v.LOINC, "code": "34133-9", "display": "Summary of episode note"}
                ],
                "text": "Tóm tắt khám bệnh, chữa bệnh",
            },
            "subject": self.ref(self.patient_url),
            "encounter": self.ref(self.encounter_url),
        }
        date = s.date("NGAY_RA") or s.date("NGAY_VAO")
        if date is not None:
            composition["date"] = date.fhir_datetime()
        composition["author"] = [self.facility_ref()]
        composition["title"] = f"{self.care_name or 'Khám bệnh, chữa bệnh'} — {self.facility_name}"
        composition["custodian"] = self.facility_ref()
        composition["section"] = [section for section in sections if section]
        url = self.url("Composition", "summary")
        return {"fullUrl": url, "resource": self.finish(url, composition)}

    def discharge_paper(self, row: Row, index: int) -> Json:
        lines = labelled(
            row,
            (
                ("SO_LUU_TRU", "Số lưu trữ"),
                ("MA_YTE", "Mã y tế"),
                ("NGAY_VAO", "Vào viện"),
                ("NGAY_RA", "Ra viện"),
                ("CHAN_DOAN_RV", "Chẩn đoán"),
                ("PP_DIEUTRI", "Phương pháp điều trị"),
                ("GHI_CHU", "Ghi chú"),
                ("TUOI_THAI", "Tuổi thai (tuần)"),
                ("NGUYENNHAN_DINHCHI", "Nguyên nhân đình chỉ thai"),
                ("HO_TEN_CHA", "Họ tên cha"),
                ("HO_TEN_ME", "Họ tên mẹ"),
                ("MA_THE_TAM", "Mã thẻ tạm"),
                ("SO_NGAY_NGHI", "Số ngày nghỉ ngoại trú"),
                ("NGOAITRU_TUNGAY", "Nghỉ từ ngày"),
                ("NGOAITRU_DENNGAY", "Nghỉ đến ngày"),
                ("TEN_BS", "Bác sĩ"),
                ("NGAY_CT", "Ngày cấp"),
            ),
        )
        title = "Giấy ra viện" if index == 0 else f"Giấy ra viện ({index + 1})"
        return make_section(title, "18842-5", "Discharge summary", lines or [title], []) or {}
