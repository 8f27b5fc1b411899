"""Naming systems and code lists the mapping writes: VN Core where the Ministry names one, this
service's own namespace where none exists yet, and the QĐ 130 code lists with their names."""

from __future__ import annotations

VN_CORE_SID = "http://fhir.ehealth.gov.vn/core/sid"
"""VN Core IG (``hl7.fhir.vn.core``, canonical ``http://fhir.ehealth.gov.vn/core``, Cục Công nghệ
thông tin – Bộ Y tế): its NamingSystems for the identifiers of people and practitioners."""

NATIONAL_ID = f"{VN_CORE_SID}/national_id"
"""12-digit personal ID number (CCCD); the health identifier of NĐ 102/2025 Art. 6."""
OLD_NATIONAL_ID = f"{VN_CORE_SID}/citizen_id"
"""9-digit identity card (CMND)."""
INSURANCE_NUMBER = f"{VN_CORE_SID}/insurance_number"
PASSPORT_NUMBER = f"{VN_CORE_SID}/passport_number"
PATIENT_INTERNAL_ID = f"{VN_CORE_SID}/patient-internal-id"
PRACTITIONER_LICENCE = f"{VN_CORE_SID}/provider-medical-license-number"
"""Practising licence (GPHN) code, what ``MA_BAC_SI`` carries since QĐ 3176."""

QD130 = "http://fhir.healthbook.vn/qd130"
"""This service's namespace for what has no official FHIR system yet: the QĐ 130 code lists and
facility-scoped identifiers (episode, record, prescription). One place to change when VN Core
publishes its own."""

FACILITY_CODE = f"{QD130}/sid/facility-code"
"""5-character facility code (``MA_CSKCB``, ``MACSKCB``, ``MA_NOI_DI``/``MA_NOI_DEN``)."""
PERSON_ID_OTHER = f"{QD130}/sid/so-cccd-other"
"""A ``SO_CCCD`` value that is neither a personal ID, an old ID card nor a passport (an e-ID
account code, …): kept as sent."""


def episode_system(facility_code: str) -> str:
    """``MA_LK`` is unique within its facility: the document and Encounter identifier system."""
    return f"{QD130}/sid/ma-lk/{facility_code}"


def record_system(facility_code: str) -> str:
    """``MA_HSBA``, the facility's medical record number."""
    return f"{QD130}/sid/ma-hsba/{facility_code}"


def prescription_system(facility_code: str) -> str:
    """One outpatient prescription: the episode's drug rows of one order day."""
    return f"{QD130}/sid/don-thuoc/{facility_code}"


def paper_system(facility_code: str, field: str) -> str:
    """Numbers of the papers a facility issues (``SO_SERI``, ``SO_CT``, ``SO_GIAYHEN_KL``, …)."""
    return f"{QD130}/sid/{field.lower().replace('_', '-')}/{facility_code}"


CARE_TYPE = f"{QD130}/CodeSystem/ma-loai-kcb"
DISCHARGE_TYPE = f"{QD130}/CodeSystem/ma-loai-rv"
TREATMENT_RESULT = f"{QD130}/CodeSystem/ket-qua-dtri"
TREATMENT_RESULT_EXTENSION = f"{QD130}/StructureDefinition/ket-qua-dtri"
DRUG_CODE = f"{QD130}/CodeSystem/ma-thuoc"
ROUTE_CODE = f"{QD130}/CodeSystem/duong-dung"
SERVICE_CODE = f"{QD130}/CodeSystem/ma-dich-vu"
INDEX_CODE = f"{QD130}/CodeSystem/ma-chi-so"
DEPARTMENT_CODE = f"{QD130}/CodeSystem/ma-khoa"
ICD10_VN = f"{QD130}/CodeSystem/icd-10-vn"
"""ICD-10 as the Ministry publishes it (QĐ 4469/QĐ-BYT 2020), written as the hospital sent it."""
TRADITIONAL_MEDICINE = f"{QD130}/CodeSystem/ma-benh-yhct"
PAPER_FORM = f"{QD130}/CodeSystem/mau-so"
BLOOD_GROUP_TEXT = f"{QD130}/CodeSystem/nhom-mau"

ICD10 = "http://hl7.org/fhir/sid/icd-10"
ICD9CM = "http://hl7.org/fhir/sid/icd-9-cm"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_PRIORITY = "http://terminology.hl7.org/CodeSystem/v3-ActPriority"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
REPORT_CATEGORY = "http://terminology.hl7.org/CodeSystem/v2-0074"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
DIAGNOSIS_ROLE = "http://terminology.hl7.org/CodeSystem/diagnosis-role"
MEDICATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"

RESTRICTED = {"system": CONFIDENTIALITY, "code": "R", "display": "restricted"}

CARE_TYPES: dict[str, tuple[str, str]] = {
    "01": ("AMB", "Khám bệnh"),
    "02": ("AMB", "Điều trị ngoại trú"),
    "03": ("IMP", "Điều trị nội trú"),
    "04": ("SS", "Điều trị nội trú ban ngày"),
    "05": ("AMB", "Điều trị ngoại trú bệnh mạn tính (có khám bệnh và lĩnh thuốc)"),
    "06": ("IMP", "Điều trị lưu tại Trạm Y tế tuyến xã, Phòng khám đa khoa khu vực"),
    "07": ("AMB", "Nhận thuốc theo hẹn (không khám bệnh)"),
    "08": ("AMB", "Điều trị ngoại trú bệnh mạn tính (có khám bệnh, DVKT và/hoặc thuốc)"),
    "09": ("IMP", "Điều trị nội trú dưới 04 giờ"),
    "10": ("AMB", "Khác"),
}
"""``MA_LOAI_KCB`` (QĐ 824/QĐ-BYT, 15/02/2023) → Encounter class (v3 ActCode) and its name."""

CLASS_NAMES = {"AMB": "ambulatory", "IMP": "inpatient encounter", "SS": "short stay"}

DISCHARGE_TYPES = {
    1: "Ra viện",
    2: "Chuyển tuyến theo chuyên môn",
    3: "Trốn viện",
    4: "Xin ra viện",
    5: "Chuyển tuyến theo yêu cầu người bệnh",
}
"""``MA_LOAI_RV``."""

TREATMENT_RESULTS = {
    1: "Khỏi",
    2: "Đỡ",
    3: "Không thay đổi",
    4: "Nặng hơn",
    5: "Tử vong",
    6: "Tiên lượng nặng xin về",
    7: "Chưa xác định",
    8: "Tử vong ngoại viện",
}
"""``KET_QUA_DTRI``."""

PROCEDURE_GROUPS = {8: "Phẫu thuật", 18: "Thủ thuật"}
"""``MA_NHOM`` (QĐ 5937/QĐ-BYT 2021, Phụ lục 3) of the services that are procedures."""

REPORT_GROUPS = {
    1: ("LAB", "Laboratory", "laboratory", "Xét nghiệm"),
    2: ("RAD", "Radiology", "imaging", "Chẩn đoán hình ảnh"),
    3: ("OTH", "Other", "procedure", "Thăm dò chức năng"),
}
"""``MA_NHOM`` of the services that report results: v2-0074 category, Observation category."""

ANAESTHESIA = {1: "Gây mê", 2: "Gây tê", 3: "Châm tê", 4: "Khác"}
"""``PP_VO_CAM``."""

UCUM_EXACT: dict[str, str] = {"G/L": "10*9/L", "T/L": "10*12/L", "g/L": "g/L", "g/l": "g/L"}
"""Units whose case carries the meaning: Vietnamese blood counts write ``G/L`` (giga per litre,
10⁹/L) and ``T/L`` (tera per litre, 10¹²/L); proteins write ``g/L`` (grams per litre)."""

UCUM_UNITS: dict[str, str] = {
    "g/dl": "g/dL",
    "mg/l": "mg/L",
    "mg/dl": "mg/dL",
    "mmol/l": "mmol/L",
    "µmol/l": "umol/L",
    "μmol/l": "umol/L",
    "umol/l": "umol/L",
    "u/l": "U/L",
    "ui/l": "[IU]/L",
    "iu/l": "[IU]/L",
    "%": "%",
    "fl": "fL",
    "pg": "pg",
    "10^9/l": "10*9/L",
    "10^12/l": "10*12/L",
    "mmhg": "mm[Hg]",
    "kg": "kg",
    "cm": "cm",
    "ng/ml": "ng/mL",
    "pg/ml": "pg/mL",
    "mui/l": "m[IU]/L",
    "miu/l": "m[IU]/L",
    "mm/h": "mm/h",
    "lần/phút": "/min",
    "°c": "Cel",
    "s": "s",
    "giây": "s",
}
"""Other units of ``DON_VI_DO`` with a UCUM code (keys lower-cased). A unit in neither table stays
as the text sent, without a code."""


HIV_TB_CODES = (
    "B20",
    "B21",
    "B22",
    "B23",
    "B24",
    "Z21",
    "O98.7",
    "A15",
    "A16",
    "A17",
    "A18",
    "A19",
)
"""ICD-10 codes (by prefix) of HIV disease and tuberculosis: an episode that carries one is
restricted like XML6/XML15 episodes."""
