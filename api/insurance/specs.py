"""The fields of the QĐ 130 tables XML1…XML15 (QĐ 130/QĐ-BYT as amended by QĐ 4750 and QĐ 3176).

One line per field: ``NAME KIND LENGTH [FLAGS]``.

- ``KIND``: ``C`` string (codes too: leading zeros kept), ``N`` whole number, ``D2``/``D3``
  decimal with at most 2/3 decimals (``D`` any), ``T8``/``T12``/``T8|12`` a date of that many
  characters (:mod:`.fields`).
- ``LENGTH``: the most characters the field may hold (the tables' ``Chuỗi(n)``/``Số(n)``), ``-``
  when the tables set none.
- ``FLAGS``: ``!`` required; ``;`` multi-valued (``;``-separated, by position), ``;15`` also each
  value at most 15 characters.

Sources: the Ministry's tables (QĐ 130 Bảng 1–12, QĐ 4750 Bảng 13–15, markdown conversions of the
signed decisions) and the 4750/3176 changes as open-source HIS models record them; the sources and
the choices are listed in ``docs/insurance-mapping.md``. Fields the tables define but the book does
not read are listed when their form is certain (a wrong form would refuse good files); a field not
listed is still kept, as text, unchecked. XML6, XML9, XML10, XML12 and XML15 list what the book
needs: their identity and their dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from api.insurance.fields import DateForm

Kind = Literal["text", "integer", "decimal", "date"]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    kind: Kind
    max_length: int | None
    required: bool = False
    multi: bool = False
    item_length: int | None = None
    places: int | None = None
    date_form: DateForm | None = None

    def describe(self) -> str:
        """The field's form as the tables write it (for error messages)."""
        if self.kind == "date":
            form = {"8": "yyyymmdd", "12": "yyyymmddHHMM", "8|12": "yyyymmdd or yyyymmddHHMM"}
            return form[self.date_form or "8"]
        return {"text": "text", "integer": "whole number", "decimal": "number"}[self.kind]


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A table file: its ``LOAIHOSO``, root element, where its records are, and its fields."""

    name: str
    title: str
    root: str
    record: str | None
    """The record element of a table of many rows; ``None`` when the root is the one record."""
    fields: dict[str, FieldSpec]
    required: tuple[str, ...] = ()
    """The fields every record must carry (set from ``fields``)."""

    def __post_init__(self) -> None:
        names = tuple(name for name, spec in self.fields.items() if spec.required)
        object.__setattr__(self, "required", names)

    @property
    def many(self) -> bool:
        return self.record is not None


def _parse_line(line: str) -> FieldSpec:
    parts = line.split()
    name, kind_text, length_text = parts[0], parts[1], parts[2]
    flags = parts[3] if len(parts) > 3 else ""
    max_length = None if length_text == "-" else int(length_text)
    required = "!" in flags
    multi = ";" in flags
    item_digits = flags.replace("!", "").replace(";", "")
    item_length = int(item_digits) if item_digits else None
    if kind_text == "C":
        return FieldSpec(name, "text", max_length, required, multi, item_length)
    if kind_text == "N":
        return FieldSpec(name, "integer", max_length, required, multi, item_length)
    if kind_text.startswith("D"):
        places = int(kind_text[1:]) if kind_text[1:] else None
        return FieldSpec(name, "decimal", max_length, required, multi, item_length, places)
    if kind_text in ("T8", "T12", "T8|12"):
        form: DateForm = kind_text[1:]  # type: ignore[assignment]  # one of the three literals
        return FieldSpec(name, "date", max_length, required, multi, item_length, None, form)
    raise ValueError(f"unknown field kind {kind_text!r} in {line!r}")


def _fields(text: str) -> dict[str, FieldSpec]:
    specs = [_parse_line(line) for line in text.strip().splitlines() if line.strip()]
    return {spec.name: spec for spec in specs}


_MONEY = """
T_THUOC D2 15
T_VTYT D2 15
T_TONGCHI_BV D2 15
T_TONGCHI_BH D2 15
T_BNTT D2 15
T_BNCCT D2 15
T_BHTT D2 15
T_NGUONKHAC D2 15
T_BHTT_GDV D2 15
"""

XML1 = (
    """
MA_LK C 100 !
STT N 10
MA_BN C 100
HO_TEN C 255 !
SO_CCCD C 15
NGAY_SINH T12 - !
GIOI_TINH N 1 !
NHOM_MAU C 5
MA_QUOCTICH C 3
MA_DANTOC C 2
MA_NGHE_NGHIEP C 5
DIA_CHI C 1024
MATINH_CU_TRU C 3
MAHUYEN_CU_TRU C 3
MAXA_CU_TRU C 5
DIEN_THOAI C 15
MA_THE_BHYT C - ;15
MA_DKBD C - ;5
GT_THE_TU T8 - ;
GT_THE_DEN T8 - ;
NGAY_MIEN_CCT T8|12 -
LY_DO_VV C -
LY_DO_VNT C -
MA_LY_DO_VNT C 5
CHAN_DOAN_VAO C -
CHAN_DOAN_RV C -
MA_BENH_CHINH C 7 !
MA_BENH_KT C 100 ;
MA_BENH_YHCT C 255 ;
MA_PTTT_QT C 125 ;
MA_DOITUONG_KCB C 4
MA_NOI_DI C 5
MA_NOI_DEN C 5
MA_TAI_NAN N 1
NGAY_VAO T12 - !
NGAY_VAO_NOI_TRU T12 -
NGAY_RA T12 - !
GIAY_CHUYEN_TUYEN C 50
SO_NGAY_DTRI N 3
PP_DIEU_TRI C -
KET_QUA_DTRI N 1
MA_LOAI_RV N 1
GHI_CHU C -
NGAY_TTOAN T12 -
NAM_QT N 4
THANG_QT N 2
MA_LOAI_KCB C 2 !
MA_KHOA C 50 ;
MA_CSKCB C 5 !
MA_KHUVUC C 2
CAN_NANG D2 6
CAN_NANG_CON D 100 ;
NAM_NAM_LIEN_TUC T8 -
NGAY_TAI_KHAM T8 50 ;
MA_HSBA C 100
MA_TTDV C 255
DU_PHONG C -
"""
    + _MONEY
)

XML2 = """
MA_LK C 100 !
STT N 10
MA_THUOC C 255 !
MA_NHOM N 2
TEN_THUOC C 1024 !
DON_VI_TINH C 50
HAM_LUONG C 1024
DUONG_DUNG C 4
DANG_BAO_CHE C 1024
LIEU_DUNG C 1024
CACH_DUNG C 1024
SO_DANG_KY C 255
PHAM_VI N 1
TYLE_TT_BH N 3
SO_LUONG D3 10
DON_GIA D3 15
THANH_TIEN_BV D2 15
THANH_TIEN_BH D2 15
MUC_HUONG N 3
T_BHTT D2 15
T_BNTT D2 15
T_BNCCT D2 15
MA_KHOA C 15
MA_BAC_SI C 255 ;
NGAY_YL T12 -
NGAY_TH_YL T12 -
NGUON_CTRA N 1
DU_PHONG C -
"""

XML3 = """
MA_LK C 100 !
STT N 10
MA_DICH_VU C 50
MA_PTTT_QT C 255 ;
MA_VAT_TU C 255
MA_NHOM N 2 !
TEN_VAT_TU C 1024
TEN_DICH_VU C 1024
DON_VI_TINH C 50
PHAM_VI N 1
SO_LUONG D3 10
DON_GIA_BV D3 15
DON_GIA_BH D3 15
THANH_TIEN_BV D2 15
THANH_TIEN_BH D2 15
T_BHTT D2 15
T_BNTT D2 15
T_BNCCT D2 15
MA_KHOA C 20
MA_BAC_SI C 255 ;
NGUOI_THUC_HIEN C 255 ;
MA_BENH C 100 ;
NGAY_YL T12 -
NGAY_TH_YL T12 -
NGAY_KQ T12 -
PP_VO_CAM N 1
MA_MAY C 1024
DU_PHONG C -
"""

XML4 = """
MA_LK C 100 !
STT N 10
MA_DICH_VU C 15 !
MA_CHI_SO C 50
TEN_CHI_SO C 255
GIA_TRI C 50
DON_VI_DO C 50
MO_TA C -
KET_LUAN C -
NGAY_KQ T12 -
MA_BS_DOC_KQ C 255 ;
DU_PHONG C -
"""

XML5 = """
MA_LK C 100 !
STT N 10
DIEN_BIEN_LS C -
GIAI_DOAN_BENH C -
HOI_CHAN C -
PHAU_THUAT C -
THOI_DIEM_DBLS T12 -
NGUOI_THUC_HIEN C 255 ;
DU_PHONG C -
"""

XML6 = """
MA_LK C 100 !
MA_THE_BHYT C - ;15
SO_CCCD C 15
NGAY_SINH T12 -
NGAYKD_HIV T8|12 -
BDDT_ARV T8|12 -
MA_PHAC_DO_DIEU_TRI_BD C 200
NGAYBD_DTRI_LAO T8|12 -
NGAYKT_DTRI_LAO T8|12 -
NGAY_XN_TLVR T8|12 -
NGAY_KQ_XN_TLVR T8|12 -
NGAY_BAT_DAU_DT_CTX T8|12 -
MA_PHAC_DO_DIEU_TRI C 200
SO_NGAY_CAP_THUOC_ARV N 3
MA_CSKCB C 5
"""

XML7 = """
MA_LK C 100 !
SO_LUU_TRU C 200
MA_YTE C 200
MA_KHOA_RV C 200
NGAY_VAO T12 -
NGAY_RA T12 -
MA_DINH_CHI_THAI N 1
NGUYENNHAN_DINHCHI C -
THOIGIAN_DINHCHI T12 -
TUOI_THAI N 2
CHAN_DOAN_RV C 1500
PP_DIEUTRI C 1500
GHI_CHU C 1500
MA_TTDV C 255
MA_BS C 200
TEN_BS C 255
NGAY_CT T8 -
MA_CHA C 10
MA_ME C 10
MA_THE_TAM C 15
HO_TEN_CHA C 255
HO_TEN_ME C 255
SO_NGAY_NGHI N 2
NGOAITRU_TUNGAY T8 -
NGOAITRU_DENNGAY T8 -
DU_PHONG C -
"""

XML8 = """
MA_LK C 100 !
MA_LOAI_KCB C 2
HO_TEN_CHA C 255
HO_TEN_ME C 255
NGUOI_GIAM_HO C 255
DON_VI C 1024
NGAY_VAO T12 -
NGAY_RA T12 -
CHAN_DOAN_VAO C -
CHAN_DOAN_RV C -
QT_BENHLY C -
TOMTAT_KQ C -
PP_DIEUTRI C -
NGAY_SINHCON T8 -
NGAY_CONCHET T8 -
SO_CONCHET N 2
KET_QUA_DTRI N 1
GHI_CHU C -
MA_TTDV C 255
NGAY_CT T8 -
MA_THE_TAM C 15
DU_PHONG C -
"""

XML9 = """
MA_LK C 100 !
"""

XML10 = """
MA_LK C 100 !
"""

XML11 = """
MA_LK C 100 !
SO_CT C 200
SO_SERI C 200
SO_KCB C 200
DON_VI C 1024
MA_BHXH C 10
MA_THE_BHYT C - ;15
CHAN_DOAN_RV C -
PP_DIEUTRI C -
MA_DINH_CHI_THAI N 1
NGUYENNHAN_DINHCHI C -
TUOI_THAI N 2
SO_NGAY_NGHI N 3 !
TU_NGAY T8 - !
DEN_NGAY T8 - !
HO_TEN_CHA C 255
HO_TEN_ME C 255
MA_TTDV C 255
MA_BS C 200
NGAY_CT T8 -
MA_THE_TAM C 15
MAU_SO C 5
DU_PHONG C -
"""

XML12 = """
MA_LK C 100 !
"""

XML13 = """
MA_LK C 100 !
SO_HOSO C 50
SO_CHUYENTUYEN C 50
GIAY_CHUYEN_TUYEN C 50
MA_CSKCB C 5
MA_NOI_DI C 5
MA_NOI_DEN C 5 !
HO_TEN C 255
NGAY_SINH T12 -
GIOI_TINH N 1
DIA_CHI C 1024
MA_THE_BHYT C - ;15
GT_THE_DEN T8 - ;
NGAY_VAO T12 -
NGAY_VAO_NOI_TRU T12 -
NGAY_RA T12 -
DAU_HIEU_LS C -
CHAN_DOAN_RV C -
QT_BENHLY C -
TOMTAT_KQ C -
PP_DIEUTRI C -
MA_BENH_CHINH C 7
MA_BENH_KT C 100 ;
MA_BENH_YHCT C 255 ;
TEN_DICH_VU C 1024
TEN_THUOC C 1024
MA_LOAI_RV N 1
MA_LYDO_CT N 1
HUONG_DIEU_TRI C -
PHUONGTIEN_VC C 255
HOTEN_NGUOI_HT C 255
CHUCDANH_NGUOI_HT C 255
MA_BAC_SI C 255 ;
MA_TTDV C 255
DU_PHONG C -
"""

XML14 = """
MA_LK C 100 !
SO_GIAYHEN_KL C 50
MA_CSKCB C 5
HO_TEN C 255
NGAY_SINH T12 -
GIOI_TINH N 1
DIA_CHI C 1024
MA_THE_BHYT C - ;15
GT_THE_DEN T8 - ;
NGAY_VAO T12 -
NGAY_VAO_NOI_TRU T12 -
NGAY_RA T12 -
NGAY_HEN_KL T8|12 - !
CHAN_DOAN_RV C -
MA_BENH_CHINH C 7
MA_BENH_KT C 100 ;
MA_BENH_YHCT C 255 ;
MA_DOITUONG_KCB C 4
MA_BAC_SI C 255 ;
MA_TTDV C 255
NGAY_CT T8 -
DU_PHONG C -
"""

XML15 = """
MA_LK C 100 !
STT N 10
MA_BN C 100
HO_TEN C 255
SO_CCCD C 15
PHANLOAI_LAO_VITRI C -
PHANLOAI_LAO_TS C -
PHANLOAI_LAO_HIV C -
PHANLOAI_LAO_VK C -
PHANLOAI_LAO_KT C -
LOAI_DTRI_LAO C -
NGAYBD_DTRI_LAO T8|12 -
PHACDO_DTRI_LAO C -
NGAYKT_DTRI_LAO T8|12 -
KET_QUA_DTRI_LAO C -
MA_CSKCB C 5
NGAYKD_HIV T8|12 -
BDDT_ARV T8|12 -
NGAY_BAT_DAU_DT_CTX T8|12 -
DU_PHONG C -
"""

TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "XML1", "Chỉ tiêu tổng hợp khám bệnh, chữa bệnh", "TONG_HOP", None, _fields(XML1)
        ),
        TableSpec(
            "XML2",
            "Chỉ tiêu chi tiết thuốc",
            "CHITIEU_CHITIET_THUOC",
            "CHI_TIET_THUOC",
            _fields(XML2),
        ),
        TableSpec(
            "XML3",
            "Chỉ tiêu chi tiết dịch vụ kỹ thuật và vật tư y tế",
            "CHITIEU_CHITIET_DVKT_VTYT",
            "CHI_TIET_DVKT",
            _fields(XML3),
        ),
        TableSpec(
            "XML4",
            "Chỉ tiêu chi tiết dịch vụ cận lâm sàng",
            "CHITIEU_CHITIET_DICHVUCANLAMSANG",
            "CHI_TIET_CLS",
            _fields(XML4),
        ),
        TableSpec(
            "XML5",
            "Chỉ tiêu chi tiết diễn biến lâm sàng",
            "CHITIEU_CHITIET_DIENBIENLAMSANG",
            "CHI_TIET_DIEN_BIEN_BENH",
            _fields(XML5),
        ),
        TableSpec(
            "XML6",
            "Chỉ tiêu hồ sơ bệnh án chăm sóc và điều trị HIV/AIDS",
            "CHI_TIEU_HO_SO_BENH_AN_CHAM_SOC_VA_DIEU_TRI_HIV_AIDS",
            "HO_SO_BENH_AN_CHAM_SOC_VA_DIEU_TRI_HIV_AIDS",
            _fields(XML6),
        ),
        TableSpec(
            "XML7",
            "Chỉ tiêu dữ liệu giấy ra viện",
            "CHI_TIEU_DU_LIEU_GIAY_RA_VIEN",
            None,
            _fields(XML7),
        ),
        TableSpec(
            "XML8",
            "Chỉ tiêu dữ liệu tóm tắt hồ sơ bệnh án",
            "CHI_TIEU_DU_LIEU_TOM_TAT_HO_SO_BENH_AN",
            None,
            _fields(XML8),
        ),
        TableSpec(
            "XML9",
            "Chỉ tiêu dữ liệu giấy chứng sinh",
            "CHI_TIEU_DU_LIEU_GIAY_CHUNG_SINH",
            "DU_LIEU_GIAY_CHUNG_SINH",
            _fields(XML9),
        ),
        TableSpec(
            "XML10",
            "Chỉ tiêu dữ liệu giấy nghỉ dưỡng thai",
            "CHI_TIEU_DU_LIEU_GIAY_NGHI_DUONG_THAI",
            None,
            _fields(XML10),
        ),
        TableSpec(
            "XML11",
            "Chỉ tiêu dữ liệu giấy chứng nhận nghỉ việc hưởng bảo hiểm xã hội",
            "CHI_TIEU_DU_LIEU_GIAY_CHUNG_NHAN_NGHI_VIEC_HUONG_BAO_HIEM_XA_HOI",
            None,
            _fields(XML11),
        ),
        TableSpec(
            "XML12", "Chỉ tiêu dữ liệu giám định y khoa", "GIAM_DINH_Y_KHOA", None, _fields(XML12)
        ),
        TableSpec(
            "XML13",
            "Chỉ tiêu dữ liệu giấy chuyển tuyến",
            "CHI_TIEU_GIAYCHUYENTUYEN",
            None,
            _fields(XML13),
        ),
        TableSpec(
            "XML14",
            "Chỉ tiêu dữ liệu giấy hẹn khám lại",
            "CHI_TIEU_GIAYHEN_KHAMLAI",
            None,
            _fields(XML14),
        ),
        TableSpec(
            "XML15",
            "Chỉ tiêu dữ liệu điều trị bệnh lao",
            "CHI_TIEU_DIEUTRI_BENHLAO",
            "CHITIET_DIEUTRI_BENHLAO",
            _fields(XML15),
        ),
    )
}
"""Every table by its ``LOAIHOSO``."""

CONTAINERS: dict[str, str] = {
    "XML2": "DSACH_CHI_TIET_THUOC",
    "XML3": "DSACH_CHI_TIET_DVKT",
    "XML4": "DSACH_CHI_TIET_CLS",
    "XML5": "DSACH_CHI_TIET_DIEN_BIEN_BENH",
    "XML6": "DSACH_HO_SO_BENH_AN_CHAM_SOC_VA_DIEU_TRI_HIV_AIDS",
    "XML9": "DSACH_GIAYCHUNGSINH",
    "XML15": "DSACH_CHITIET_DIEUTRI_BENHLAO",
}
"""The element that holds the records of a table of many rows (the fixture builder writes it;
the reader finds records wherever they sit under the root)."""
