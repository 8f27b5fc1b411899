"""Follow-ups (XML14, NGAY_TAI_KHAM), referral (XML13), sick-leave certificate (XML11) and the
restricted care plans (XML6 HIV, XML15 TB)."""

from __future__ import annotations

import base64

from api.insurance import vocabulary as v
from api.insurance.fields import VnDate
from api.insurance.mapping.base import Base
from api.insurance.mapping.common import (
    Json,
    aligned_texts,
    fhir_period,
    icd_concept,
    labelled,
)
from api.insurance.tables import Row


class PaperParts(Base):
    """XML6, XML11, XML13, XML14 resources."""

    # follow-up, referral, papers ------------------------------------------------------------

    def appointments(self) -> list[str]:
        """XML14 slips and the ``NGAY_TAI_KHAM`` dates, one proposed Appointment per day (a slip
        and a date of the same day are one appointment, the slip's)."""
        by_day: dict[str, tuple[VnDate, Row | None]] = {}
        for row in self.episode.rows("XML14"):
            when = row.date("NGAY_HEN_KL")
            if when is not None:
                by_day[when.fhir_date()] = (when, row)
        for when in self.summary.dates("NGAY_TAI_KHAM"):
            if when is not None:
                by_day.setdefault(when.fhir_date(), (when, None))
        urls: list[str] = []
        department = next((d for d in reversed(self.summary.texts("MA_KHOA")) if d), None)
        for day, (when, slip) in sorted(by_day.items()):
            appointment: Json = {"resourceType": "Appointment", "status": "proposed"}
            number = slip.text("SO_GIAYHEN_KL") if slip is not None else None
            if number:
                appointment["identifier"] = [
                    {"system": v.paper_system(self.facility, "SO_GIAYHEN_KL"), "value": number}
                ]
            if department:
                appointment["serviceType"] = [
                    {"coding": [{"system": v.DEPARTMENT_CODE, "code": department}]}
                ]
            diagnosis = (
                slip.text("MA_BENH_CHINH") if slip is not None else None
            ) or self.summary.text("MA_BENH_CHINH")
            if diagnosis:
                text = slip.text("CHAN_DOAN_RV") if slip is not None else None
                appointment["reasonCode"] = [icd_concept(diagnosis, text)]
            appointment["description"] = f"Hẹn khám lại tại {self.facility_name}"
            if when.hour is None:
                appointment["requestedPeriod"] = [{"start": day, "end": day}]
            else:
                appointment["requestedPeriod"] = [{"start": when.fhir_datetime()}]
            appointment["supportingInformation"] = [self.ref(self.encounter_url)]
            appointment["participant"] = [
                {"actor": self.ref(self.patient_url), "status": "needs-action"}
            ]
            urls.append(self.add(self.url("Appointment", day), appointment))
        return urls

    def referrals(self) -> list[str]:
        urls: list[str] = []
        for row in self.episode.rows("XML13"):
            request: Json = {"resourceType": "ServiceRequest"}
            identifiers = [
                {"system": v.paper_system(self.facility, name), "value": value}
                for name in ("SO_CHUYENTUYEN", "GIAY_CHUYEN_TUYEN")
                if (value := row.text(name))
            ]
            if identifiers:
                request["identifier"] = identifiers
            request.update(
                {
                    "status": "completed",
                    "intent": "order",
                    "category": [
                        {
                            "coding": [
                                {
                                    "system": v.SNOMED,
                                    "code": "3457005",
                                    "display": "Patient referral",
                                }
                            ],
                            "text": "Chuyển tuyến",
                        }
                    ],
                    "code": {"text": "Giấy chuyển tuyến khám bệnh, chữa bệnh"},
                    "subject": self.ref(self.patient_url),
                    "encounter": self.ref(self.encounter_url),
                }
            )
            issued = self.summary.date("NGAY_RA")
            if issued is not None:
                request["authoredOn"] = issued.fhir_datetime()
            request["requester"] = self.facility_ref(row.text("MA_CSKCB"))
            destination = row.text("MA_NOI_DEN")
            if destination:
                request["performer"] = [self.facility_ref(destination)]
            codes = [c for c in (row.text("MA_BENH_CHINH"), *row.texts("MA_BENH_KT")) if c]
            texts = aligned_texts(row.text("CHAN_DOAN_RV"), len(codes))
            if codes:
                request["reasonCode"] = [icd_concept(c, texts[i]) for i, c in enumerate(codes)]
            notes = labelled(
                row,
                (
                    ("DAU_HIEU_LS", "Dấu hiệu lâm sàng"),
                    ("QT_BENHLY", "Quá trình bệnh lý"),
                    ("TOMTAT_KQ", "Tóm tắt kết quả cận lâm sàng"),
                    ("PP_DIEUTRI", "Phương pháp điều trị"),
                    ("TEN_THUOC", "Thuốc đã dùng"),
                    ("TEN_DICH_VU", "Dịch vụ đã thực hiện"),
                    ("HUONG_DIEU_TRI", "Hướng điều trị"),
                    ("PHUONGTIEN_VC", "Phương tiện vận chuyển"),
                    ("HOTEN_NGUOI_HT", "Người hộ tống"),
                ),
            )
            if notes:
                request["note"] = [{"text": note} for note in notes]
            urls.append(self.add(self.url("ServiceRequest", row.index), request))
        return urls

    def sick_leave(self) -> list[str]:
        urls: list[str] = []
        for row in self.episode.rows("XML11"):
            form = row.text("MAU_SO") or "CT07"
            lines = labelled(
                row,
                (
                    ("SO_SERI", "Số seri"),
                    ("SO_CT", "Số chứng từ"),
                    ("SO_KCB", "Số KCB"),
                    ("DON_VI", "Đơn vị làm việc"),
                    ("MA_BHXH", "Mã số BHXH"),
                    ("MA_THE_BHYT", "Số thẻ BHYT"),
                    ("CHAN_DOAN_RV", "Chẩn đoán"),
                    ("PP_DIEUTRI", "Phương pháp điều trị"),
                    ("SO_NGAY_NGHI", "Số ngày nghỉ"),
                    ("TU_NGAY", "Từ ngày"),
                    ("DEN_NGAY", "Đến ngày"),
                    ("HO_TEN_CHA", "Họ tên cha"),
                    ("HO_TEN_ME", "Họ tên mẹ"),
                    ("NGAY_CT", "Ngày chứng từ"),
                ),
            )
            title = "Giấy chứng nhận nghỉ việc hưởng bảo hiểm xã hội"
            name = self.summary.text("HO_TEN")
            text = "\n".join(
                [
                    f"{title} (mẫu {form})",
                    f"Cơ sở: {self.facility_name}",
                    *([f"Người bệnh: {name}"] if name else []),
                    *lines,
                ]
            )
            document: Json = {"resourceType": "DocumentReference"}
            identifiers = [
                {"system": v.paper_system(self.facility, field), "value": value}
                for field in ("SO_SERI", "SO_CT")
                if (value := row.text(field))
            ]
            if identifiers:
                document["identifier"] = identifiers
            document.update(
                {
                    "status": "current",
                    "type": {"coding": [{"system": v.PAPER_FORM, "code": form}], "text": title},
                    "category": [{"text": "Giấy nghỉ việc hưởng BHXH"}],
                    "subject": self.ref(self.patient_url),
                    "custodian": self.facility_ref(),
                }
            )
            days = row.integer("SO_NGAY_NGHI")
            start, end = row.date("TU_NGAY"), row.date("DEN_NGAY")
            if days is not None:
                span = f" ({start.fhir_date()} – {end.fhir_date()})" if start and end else ""
                document["description"] = f"Nghỉ {days} ngày{span}"
            document["content"] = [
                {
                    "attachment": {
                        "contentType": "text/plain;charset=utf-8",
                        "language": "vi",
                        "data": base64.b64encode(text.encode()).decode(),
                        "title": title,
                    }
                }
            ]
            context: Json = {"encounter": [self.ref(self.encounter_url)]}
            period = fhir_period(start, end, date_only=True)
            if period:
                context["period"] = period
            document["context"] = context
            urls.append(self.add(self.url("DocumentReference", "XML11", row.index), document))
        return urls

    def care_plans(self) -> list[str]:
        urls: list[str] = []
        for row in self.episode.rows("XML6"):
            start = row.date("BDDT_ARV") or row.date("NGAYKD_HIV")
            lines = labelled(
                row,
                (
                    ("MA_PHAC_DO_DIEU_TRI_BD", "Phác đồ khi bắt đầu"),
                    ("MA_PHAC_DO_DIEU_TRI", "Phác đồ hiện tại"),
                    ("SO_NGAY_CAP_THUOC_ARV", "Số ngày cấp thuốc ARV"),
                ),
            )
            urls.append(
                self.care_plan(row, "XML6", "Chăm sóc và điều trị HIV/AIDS", start, None, lines)
            )
        for row in self.episode.rows("XML15"):
            lines = labelled(
                row,
                (
                    ("LOAI_DTRI_LAO", "Loại điều trị"),
                    ("PHACDO_DTRI_LAO", "Phác đồ"),
                    ("KET_QUA_DTRI_LAO", "Kết quả điều trị"),
                ),
            )
            urls.append(
                self.care_plan(
                    row,
                    "XML15",
                    "Điều trị bệnh lao",
                    row.date("NGAYBD_DTRI_LAO"),
                    row.date("NGAYKT_DTRI_LAO"),
                    lines,
                )
            )
        return urls

    def care_plan(
        self,
        row: Row,
        table: str,
        title: str,
        start: VnDate | None,
        end: VnDate | None,
        lines: list[str],
    ) -> str:
        plan: Json = {
            "resourceType": "CarePlan",
            "status": "completed" if end is not None else "active",
            "intent": "plan",
            "category": [{"text": title}],
            "title": title,
            "subject": self.ref(self.patient_url),
            "encounter": self.ref(self.encounter_url),
        }
        if lines:
            plan["description"] = "; ".join(lines)
        period = fhir_period(start, end, date_only=True)
        if period:
            plan["period"] = period
        return self.add(self.url("CarePlan", table, row.index), plan)
