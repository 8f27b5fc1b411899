"""Insurance XML table files (QĐ 130/4750/3176) written from the field specs, for the tests.

No official sample file is public: these episodes are authored from the tables
(:mod:`api.insurance.specs`), one per kind the tests need. ``build_episode_files(kind)`` gives the
decoded table files of one ``HOSO`` (``(LOAIHOSO, bytes)`` pairs in envelope order, readable like
a mapping: ``files["XML1"]``, ``files.items()``), ready to be base64-encoded into ``FILEHOSO``
elements. ``episode_rows(kind)`` gives the same as editable rows; ``table_xml`` writes a table.

Kinds: ``outpatient`` (01; XML1+2+3+4, about 40 rows), ``inpatient`` (03, with XML5/7/8),
``chronic`` (05), ``day_case`` (04), ``card_change`` (two insurance cards in one stay),
``twins`` (two XML7), ``reexam`` (XML14), ``sick_leave`` (XML11), ``hiv`` (XML6), ``tb`` (XML15),
``referral`` (XML13), ``late_result`` (results still blank) and ``late_result_resend`` (the same
episode, results filled in).

Overrides: ``ma_lk=``, ``facility=``, ``cccd=`` (``SO_CCCD``; ``None`` leaves it out), and any
XML1 field by name (``NGAY_VAO="20260305"``; ``None`` leaves it out).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from xml.sax.saxutils import escape

from api.insurance.specs import CONTAINERS, TABLES
from api.insurance.tables import TableFiles

Rows = list[dict[str, str]]

FACILITY = "79001"
CCCD = "079090001234"
KINDS = (
    "outpatient",
    "inpatient",
    "chronic",
    "day_case",
    "card_change",
    "twins",
    "reexam",
    "sick_leave",
    "hiv",
    "tb",
    "referral",
    "late_result",
    "late_result_resend",
)


def table_xml(name: str, rows: Iterable[Mapping[str, str | None]]) -> bytes:
    """One table file: its root, its records (in the container where the table has one), each
    record's fields in the tables' order then any others; ``None`` fields are left out."""
    spec = TABLES[name]
    records: list[str] = []
    for row in rows:
        ordered = [field for field in spec.fields if field in row]
        ordered += [field for field in row if field not in spec.fields]
        body = "".join(
            f"<{field}>{escape(str(row[field]))}</{field}>"
            for field in ordered
            if row[field] is not None
        )
        records.append(body)
    if spec.record is None:
        (body,) = records
        inner = body
    else:
        items = "".join(f"<{spec.record}>{body}</{spec.record}>" for body in records)
        inner = f"<{CONTAINERS[name]}>{items}</{CONTAINERS[name]}>"
    return f'<?xml version="1.0" encoding="utf-8"?><{spec.root}>{inner}</{spec.root}>'.encode()


def build_episode_files(kind: str, **overrides: Any) -> TableFiles:
    """The decoded table files of one episode of ``kind`` (see the module)."""
    tables = episode_rows(kind, **overrides)
    pairs: list[tuple[str, bytes]] = []
    for name, rows in tables.items():
        if TABLES[name].many:
            pairs.append((name, table_xml(name, rows)))
        else:
            pairs.extend((name, table_xml(name, [row])) for row in rows)
    return TableFiles(tuple(pairs))


def episode_rows(kind: str, **overrides: Any) -> dict[str, Rows]:
    """The rows of each table of one episode of ``kind``, to edit before writing."""
    if kind not in KINDS:
        raise ValueError(f"unknown episode kind {kind!r}; one of {', '.join(KINDS)}")
    default = "LK-LATE-RESULT-0001" if kind.startswith("late_result") else None
    ma_lk = str(overrides.pop("ma_lk", default or f"LK-{kind.upper().replace('_', '-')}-0001"))
    facility = str(overrides.pop("facility", FACILITY))
    cccd = overrides.pop("cccd", CCCD)
    tables = _KIND_BUILDERS[kind](ma_lk, facility)
    summary = tables["XML1"][0]
    if cccd is None:
        summary.pop("SO_CCCD", None)
    else:
        summary["SO_CCCD"] = str(cccd)
    for name, value in overrides.items():
        if value is None:
            summary.pop(name, None)
        else:
            summary[name] = str(value)
    return tables


# the episodes ---------------------------------------------------------------------------------


def _summary(ma_lk: str, facility: str, care_type: str, **fields: str) -> dict[str, str]:
    row = {
        "MA_LK": ma_lk,
        "STT": "1",
        "MA_BN": "BN0012345",
        "HO_TEN": "Nguyễn Văn An",
        "SO_CCCD": CCCD,
        "NGAY_SINH": "199005150000",
        "GIOI_TINH": "1",
        "NHOM_MAU": "O+",
        "MA_QUOCTICH": "000",
        "MA_DANTOC": "01",
        "MA_NGHE_NGHIEP": "00000",
        "DIA_CHI": "12 Nguyễn Trãi, Phường Bến Thành, TP Hồ Chí Minh",
        "MATINH_CU_TRU": "79",
        "MAHUYEN_CU_TRU": "760",
        "MAXA_CU_TRU": "26734",
        "DIEN_THOAI": "0901234567",
        "MA_THE_BHYT": "GD4797920123456",
        "MA_DKBD": "79001",
        "GT_THE_TU": "20260101",
        "GT_THE_DEN": "20261231",
        "MA_DOITUONG_KCB": "1.1",
        "LY_DO_VV": "Đau đầu, chóng mặt",
        "CHAN_DOAN_VAO": "Tăng huyết áp",
        "CHAN_DOAN_RV": "Tăng huyết áp vô căn; Đái tháo đường típ 2",
        "MA_BENH_CHINH": "I10",
        "MA_BENH_KT": "E11",
        "NGAY_VAO": "202603050800",
        "NGAY_RA": "202603051030",
        "SO_NGAY_DTRI": "1",
        "KET_QUA_DTRI": "2",
        "MA_LOAI_RV": "1",
        "GHI_CHU": "Ăn nhạt, tập thể dục, tái khám khi có bất thường",
        "NGAY_TTOAN": "202603051045",
        "T_THUOC": "156000.00",
        "T_TONGCHI_BV": "890000.00",
        "T_TONGCHI_BH": "890000.00",
        "T_BNCCT": "178000.00",
        "T_BHTT": "712000.00",
        "NAM_QT": "2026",
        "THANG_QT": "3",
        "MA_LOAI_KCB": care_type,
        "MA_KHOA": "K01",
        "MA_CSKCB": facility,
        "CAN_NANG": "68.5",
        "MA_TTDV": "GPHN.000123",
    }
    row.update(fields)
    return row


def _drugs(ma_lk: str, day: str = "20260305", count: int = 5, days: int = 30) -> Rows:
    catalogue = [
        ("40.677", "Metformin", "500mg", "Viên nén", "1 viên/lần * 2 lần/ngày", "Uống sau ăn", 2),
        ("40.448", "Amlodipin", "5mg", "Viên nén", "1 viên/lần * 1 lần/ngày", "Uống buổi sáng", 1),
        (
            "40.530",
            "Atorvastatin",
            "10mg",
            "Viên nén",
            "1 viên/lần * 1 lần/ngày",
            "Uống buổi tối",
            1,
        ),
        ("40.1", "Paracetamol", "500mg", "Viên nén", "1 viên/lần * 3 lần/ngày", "Uống khi đau", 3),
        ("40.17", "Oxy", "", "Khí", "2 lít/phút", "Thở qua mũi", 1),
        ("40.135", "Losartan", "50mg", "Viên nén", "1 viên/lần * 1 lần/ngày", "Uống buổi sáng", 1),
    ]
    rows: Rows = []
    for index, (code, name, strength, form, dose, how, per_day) in enumerate(catalogue[:count]):
        rows.append(
            {
                "MA_LK": ma_lk,
                "STT": str(index + 1),
                "MA_THUOC": code,
                "MA_NHOM": "4",
                "TEN_THUOC": name,
                "DON_VI_TINH": "Viên" if form == "Viên nén" else "Lít",
                "HAM_LUONG": strength,
                "DUONG_DUNG": "1.01",
                "DANG_BAO_CHE": form,
                "LIEU_DUNG": f"{dose} * {days} ngày [{per_day} viên/ngày]",
                "CACH_DUNG": how,
                "SO_DANG_KY": f"VD-{30000 + index}-19",
                "PHAM_VI": "1",
                "TYLE_TT_BH": "100",
                "SO_LUONG": f"{per_day * days}.000",
                "DON_GIA": "520.000",
                "THANH_TIEN_BV": f"{per_day * days * 520}.00",
                "THANH_TIEN_BH": f"{per_day * days * 520}.00",
                "MUC_HUONG": "80",
                "MA_KHOA": "K01",
                "MA_BAC_SI": "GPHN.000123",
                "NGAY_YL": f"{day}0930",
                "NGAY_TH_YL": f"{day}0945",
                "NGUON_CTRA": "1",
            }
        )
    return rows


_LABS = [
    # (service, service name, group, [(index, index name, value, unit)], description, conclusion)
    (
        "22.0120.1370",
        "Tổng phân tích tế bào máu ngoại vi",
        "1",
        [
            ("WBC", "Số lượng bạch cầu", "7.2", "G/L"),
            ("RBC", "Số lượng hồng cầu", "4.8", "T/L"),
            ("HGB", "Huyết sắc tố", "145", "g/L"),
            ("HCT", "Hematocrit", "42", "%"),
            ("MCV", "Thể tích trung bình hồng cầu", "88", "fL"),
            ("PLT", "Số lượng tiểu cầu", "250", "G/L"),
        ],
        None,
        None,
    ),
    ("23.0075.1494", "Định lượng Glucose", "1", [("GLU", "Glucose", "7.4", "mmol/L")], None, None),
    ("23.0083.1523", "Định lượng HbA1c", "1", [("HBA1C", "HbA1c", "6.8", "%")], None, None),
    (
        "23.0051.1494",
        "Định lượng Creatinin",
        "1",
        [("CRE", "Creatinin", "88", "µmol/L")],
        None,
        None,
    ),
    ("23.0019.1493", "Đo hoạt độ ALT (GPT)", "1", [("ALT", "ALT", "32", "U/L")], None, None),
    ("23.0020.1493", "Đo hoạt độ AST (GOT)", "1", [("AST", "AST", "28", "U/L")], None, None),
    (
        "23.0058.1487",
        "Điện giải đồ (Na, K, Cl)",
        "1",
        [
            ("NA", "Natri", "138", "mmol/L"),
            ("K", "Kali", "4.1", "mmol/L"),
            ("CL", "Clo", "101", "mmol/L"),
        ],
        None,
        None,
    ),
    (
        "23.0041.1506",
        "Định lượng Cholesterol toàn phần",
        "1",
        [("CHOL", "Cholesterol", "5.6", "mmol/L")],
        None,
        None,
    ),
    (
        "23.0206.1596",
        "Tổng phân tích nước tiểu",
        "1",
        [("PRO-U", "Protein niệu", "Âm tính", ""), ("GLU-U", "Glucose niệu", "Âm tính", "")],
        None,
        None,
    ),
    (
        "18.0001.0001",
        "Siêu âm ổ bụng",
        "2",
        [("", "", "", "")],
        "Gan không to, nhu mô đều. Túi mật không sỏi. Hai thận không ứ nước.",
        "Chưa phát hiện bất thường trên siêu âm",
    ),
    (
        "18.0068.0028",
        "Chụp X-quang ngực thẳng",
        "2",
        [("", "", "", "")],
        "Bóng tim không to, hai phế trường sáng.",
        "Tim phổi bình thường",
    ),
    (
        "21.0014.1778",
        "Điện tim thường",
        "3",
        [("", "", "", "")],
        None,
        "Nhịp xoang đều, 76 lần/phút",
    ),
]


def _services(ma_lk: str, day: str = "20260305", labs: int = len(_LABS)) -> Rows:
    rows: Rows = [
        _service(ma_lk, 1, "02.1896", "Khám Nội", "13", day, "0800", "0805", None),
    ]
    for index, (code, name, group, *_rest) in enumerate(_LABS[:labs]):
        rows.append(_service(ma_lk, index + 2, code, name, group, day, "0815", "0830", "0930"))
    rows.append(
        {
            "MA_LK": ma_lk,
            "STT": str(len(rows) + 1),
            "MA_VAT_TU": "N03.05.070",
            "MA_NHOM": "10",
            "TEN_VAT_TU": "Bơm tiêm nhựa 5ml",
            "DON_VI_TINH": "Cái",
            "SO_LUONG": "2.000",
            "DON_GIA_BV": "1200.000",
            "THANH_TIEN_BV": "2400.00",
            "MA_KHOA": "K01",
            "NGAY_YL": f"{day}0815",
        }
    )
    return rows


def _service(
    ma_lk: str,
    number: int,
    code: str,
    name: str,
    group: str,
    day: str,
    ordered: str,
    done: str,
    result: str | None,
    **extra: str,
) -> dict[str, str]:
    row = {
        "MA_LK": ma_lk,
        "STT": str(number),
        "MA_DICH_VU": code,
        "MA_NHOM": group,
        "TEN_DICH_VU": name,
        "DON_VI_TINH": "Lần",
        "PHAM_VI": "1",
        "SO_LUONG": "1.000",
        "DON_GIA_BV": "45000.000",
        "DON_GIA_BH": "45000.000",
        "THANH_TIEN_BV": "45000.00",
        "THANH_TIEN_BH": "45000.00",
        "MA_KHOA": "K01",
        "MA_BAC_SI": "GPHN.000123",
        "NGUOI_THUC_HIEN": "GPHN.000456",
        "MA_BENH": "I10",
        "NGAY_YL": f"{day}{ordered}",
        "NGAY_TH_YL": f"{day}{done}",
    }
    if result:
        row["NGAY_KQ"] = f"{day}{result}"
    row.update(extra)
    return row


def _results(
    ma_lk: str, day: str = "20260305", labs: int = len(_LABS), pending: bool = False
) -> Rows:
    rows: Rows = []
    for code, _name, _group, indices, description, conclusion in _LABS[:labs]:
        for index_code, index_name, value, unit in indices:
            row = {"MA_LK": ma_lk, "STT": str(len(rows) + 1), "MA_DICH_VU": code}
            if index_code:
                row.update({"MA_CHI_SO": index_code, "TEN_CHI_SO": index_name})
            if value:
                row["GIA_TRI"] = "" if pending and code.startswith("23.") else value
            if unit:
                row["DON_VI_DO"] = unit
            if description:
                row["MO_TA"] = description
            if conclusion:
                row["KET_LUAN"] = conclusion
            if not (pending and code.startswith("23.")):
                row["NGAY_KQ"] = f"{day}0930"
            row["MA_BS_DOC_KQ"] = "GPHN.000789"
            rows.append(row)
    return rows


def _course(ma_lk: str, days: Iterable[str]) -> Rows:
    notes = [
        ("Bệnh tỉnh, sốt 38.5 độ, đau hố chậu phải", "Khởi phát", "", ""),
        ("Hội chẩn ngoại khoa: viêm ruột thừa cấp, chỉ định mổ", "Cấp", "Hội chẩn khoa Ngoại", ""),
        ("Sau mổ ngày 1: tỉnh, không sốt, vết mổ khô", "Hồi phục", "", "Cắt ruột thừa nội soi"),
        ("Ổn định, cho ra viện", "Hồi phục", "", ""),
    ]
    rows: Rows = []
    for index, (day, (text, stage, consult, surgery)) in enumerate(zip(days, notes, strict=False)):
        row = {
            "MA_LK": ma_lk,
            "STT": str(index + 1),
            "DIEN_BIEN_LS": text,
            "GIAI_DOAN_BENH": stage,
            "THOI_DIEM_DBLS": day,
            "NGUOI_THUC_HIEN": "GPHN.000123",
        }
        if consult:
            row["HOI_CHAN"] = consult
        if surgery:
            row["PHAU_THUAT"] = surgery
        rows.append(row)
    return rows


def _discharge_paper(ma_lk: str, start: str, end: str, **extra: str) -> dict[str, str]:
    row = {
        "MA_LK": ma_lk,
        "SO_LUU_TRU": "2026/NT/000123",
        "MA_YTE": "YT0012345",
        "MA_KHOA_RV": "K19",
        "NGAY_VAO": start,
        "NGAY_RA": end,
        "CHAN_DOAN_RV": "Viêm ruột thừa cấp",
        "PP_DIEUTRI": "Phẫu thuật cắt ruột thừa nội soi, kháng sinh",
        "GHI_CHU": "Kiêng vận động mạnh 2 tuần",
        "MA_TTDV": "GPHN.000001",
        "MA_BS": "GPHN.000123",
        "TEN_BS": "BS. Trần Thị Bình",
        "NGAY_CT": end[:8],
    }
    row.update(extra)
    return row


def _record_summary(ma_lk: str, care_type: str, start: str, end: str) -> dict[str, str]:
    return {
        "MA_LK": ma_lk,
        "MA_LOAI_KCB": care_type,
        "NGAY_VAO": start,
        "NGAY_RA": end,
        "CHAN_DOAN_VAO": "Đau bụng hố chậu phải",
        "CHAN_DOAN_RV": "Viêm ruột thừa cấp",
        "QT_BENHLY": "Đau bụng hố chậu phải 1 ngày, sốt nhẹ, buồn nôn.",
        "TOMTAT_KQ": "Bạch cầu 15.2 G/L; siêu âm: ruột thừa viêm, đường kính 9 mm.",
        "PP_DIEUTRI": "Phẫu thuật cắt ruột thừa nội soi; kháng sinh Ceftriaxon.",
        "KET_QUA_DTRI": "1",
        "GHI_CHU": "Tái khám sau 7 ngày hoặc khi đau bụng, sốt.",
        "MA_TTDV": "GPHN.000001",
        "NGAY_CT": end[:8],
    }


def _outpatient(ma_lk: str, facility: str) -> dict[str, Rows]:
    return {
        "XML1": [_summary(ma_lk, facility, "01")],
        "XML2": _drugs(ma_lk),
        "XML3": _services(ma_lk),
        "XML4": _results(ma_lk),
    }


def _inpatient(ma_lk: str, facility: str, care_type: str = "03") -> dict[str, Rows]:
    start, admitted, end = "202603041500", "202603041730", "202603081000"
    summary = _summary(
        ma_lk,
        facility,
        care_type,
        LY_DO_VV="Đau bụng hố chậu phải",
        CHAN_DOAN_VAO="Đau bụng cấp",
        CHAN_DOAN_RV="Viêm ruột thừa cấp",
        MA_BENH_CHINH="K35.8",
        MA_BENH_KT="",
        MA_PTTT_QT="47.01",
        NGAY_VAO=start,
        NGAY_VAO_NOI_TRU=admitted,
        NGAY_RA=end,
        SO_NGAY_DTRI="4",
        KET_QUA_DTRI="1",
        MA_KHOA="K01;K19",
        NHOM_MAU="A+",
    )
    summary.pop("MA_BENH_KT")
    services = _services(ma_lk, "20260304", labs=2)
    services.append(
        _service(
            ma_lk,
            len(services) + 1,
            "10.0600.0521",
            "Phẫu thuật nội soi cắt ruột thừa",
            "8",
            "20260304",
            "1800",
            "1900",
            "2010",
            MA_PTTT_QT="47.01",
            PP_VO_CAM="1",
            MA_BENH="K35.8",
        )
    )
    services.append(
        _service(
            ma_lk,
            len(services) + 1,
            "K19.1910",
            "Giường Ngoại khoa loại 2",
            "15",
            "20260304",
            "1730",
            "1730",
            None,
            SO_LUONG="4.000",
        )
    )
    return {
        "XML1": [summary],
        "XML2": _drugs(ma_lk, "20260304", count=3, days=4),
        "XML3": services,
        "XML4": _results(ma_lk, "20260304", labs=2),
        "XML5": _course(ma_lk, ["202603041600", "202603041700", "202603051000", "202603080900"]),
        "XML7": [_discharge_paper(ma_lk, start, end)],
        "XML8": [_record_summary(ma_lk, care_type, start, end)],
    }


def _chronic(ma_lk: str, facility: str) -> dict[str, Rows]:
    summary = _summary(ma_lk, facility, "05", NGAY_TAI_KHAM="20260405")
    return {
        "XML1": [summary],
        "XML2": _drugs(ma_lk, count=3, days=30),
        "XML3": _services(ma_lk, labs=2),
        "XML4": _results(ma_lk, labs=2),
        "XML5": _course(ma_lk, ["202603050830"]),
    }


def _day_case(ma_lk: str, facility: str) -> dict[str, Rows]:
    tables = _inpatient(ma_lk, facility, care_type="04")
    summary = tables["XML1"][0]
    summary.update(
        NGAY_VAO="202603050730",
        NGAY_VAO_NOI_TRU="202603050800",
        NGAY_RA="202603051630",
        SO_NGAY_DTRI="1",
    )
    tables["XML7"] = [_discharge_paper(ma_lk, "202603050730", "202603051630")]
    tables["XML8"] = [_record_summary(ma_lk, "04", "202603050730", "202603051630")]
    tables["XML5"] = _course(ma_lk, ["202603050800"])
    return tables


def _card_change(ma_lk: str, facility: str) -> dict[str, Rows]:
    tables = _inpatient(ma_lk, facility)
    tables["XML1"][0].update(
        MA_THE_BHYT="GD4797920123456;HT3797920123456",
        MA_DKBD="79001;79024",
        GT_THE_TU="20250101;20260306",
        GT_THE_DEN="20260305;20261231",
    )
    return tables


def _twins(ma_lk: str, facility: str) -> dict[str, Rows]:
    start, end = "202603100600", "202603131000"
    summary = _summary(
        ma_lk,
        facility,
        "03",
        HO_TEN="Lê Thị Hoa",
        GIOI_TINH="2",
        NGAY_SINH="199408000000",
        LY_DO_VV="Chuyển dạ, song thai 37 tuần",
        CHAN_DOAN_RV="Đẻ thường song thai",
        MA_BENH_CHINH="O84.0",
        NGAY_VAO=start,
        NGAY_VAO_NOI_TRU=start,
        NGAY_RA=end,
        SO_NGAY_DTRI="3",
        KET_QUA_DTRI="1",
        CAN_NANG="61.0",
        CAN_NANG_CON="2800;2650",
        MA_KHOA="K22",
    )
    summary.pop("MA_BENH_KT")
    papers = [
        _discharge_paper(
            ma_lk,
            start,
            end,
            CHAN_DOAN_RV="Trẻ sơ sinh đủ tháng, khỏe mạnh",
            HO_TEN_ME="Lê Thị Hoa",
            MA_THE_TAM=f"TE17979{n}0000001",
            GHI_CHU=f"Con thứ {n}",
            TUOI_THAI="37",
        )
        for n in (1, 2)
    ]
    return {
        "XML1": [summary],
        "XML2": _drugs(ma_lk, "20260310", count=2, days=3),
        "XML3": _services(ma_lk, "20260310", labs=1),
        "XML4": _results(ma_lk, "20260310", labs=1),
        "XML7": papers,
        "XML8": [_record_summary(ma_lk, "03", start, end)],
    }


def _reexam(ma_lk: str, facility: str) -> dict[str, Rows]:
    tables = _outpatient(ma_lk, facility)
    tables["XML1"][0]["NGAY_TAI_KHAM"] = "20260319;20260405"
    tables["XML14"] = [
        {
            "MA_LK": ma_lk,
            "SO_GIAYHEN_KL": "GH-2026-000321",
            "MA_CSKCB": facility,
            "HO_TEN": "Nguyễn Văn An",
            "NGAY_SINH": "199005150000",
            "GIOI_TINH": "1",
            "MA_THE_BHYT": "GD4797920123456",
            "GT_THE_DEN": "20261231",
            "NGAY_VAO": "202603050800",
            "NGAY_RA": "202603051030",
            "NGAY_HEN_KL": "20260319",
            "CHAN_DOAN_RV": "Tăng huyết áp vô căn",
            "MA_BENH_CHINH": "I10",
            "MA_DOITUONG_KCB": "1.1",
            "MA_BAC_SI": "GPHN.000123",
            "NGAY_CT": "20260305",
        }
    ]
    return tables


def _sick_leave(ma_lk: str, facility: str) -> dict[str, Rows]:
    tables = _outpatient(ma_lk, facility)
    tables["XML1"][0].update(MA_BENH_CHINH="J06.9", MA_BENH_KT="", CHAN_DOAN_RV="Viêm họng cấp")
    tables["XML1"][0].pop("MA_BENH_KT")
    tables["XML11"] = [
        {
            "MA_LK": ma_lk,
            "SO_CT": "CT-000987",
            "SO_SERI": "AA/26-0001234",
            "SO_KCB": "KCB-2026-55",
            "DON_VI": "Công ty TNHH Phần mềm Sài Gòn",
            "MA_BHXH": "7912345678",
            "MA_THE_BHYT": "GD4797920123456",
            "CHAN_DOAN_RV": "Viêm họng cấp",
            "PP_DIEUTRI": "Kháng sinh, hạ sốt",
            "SO_NGAY_NGHI": "3",
            "TU_NGAY": "20260305",
            "DEN_NGAY": "20260307",
            "MA_TTDV": "GPHN.000001",
            "MA_BS": "GPHN.000123",
            "NGAY_CT": "20260305",
            "MAU_SO": "CT07",
        }
    ]
    return tables


def _hiv(ma_lk: str, facility: str) -> dict[str, Rows]:
    tables = _outpatient(ma_lk, facility)
    tables["XML1"][0].update(
        MA_BENH_CHINH="B24", CHAN_DOAN_RV="Bệnh do HIV", NGAY_TAI_KHAM="20260405"
    )
    tables["XML1"][0].pop("MA_BENH_KT")
    tables["XML2"] = _drugs(ma_lk, count=1)
    tables["XML2"][0].update(MA_THUOC="40.1234", TEN_THUOC="Tenofovir + Lamivudin + Dolutegravir")
    tables["XML6"] = [
        {
            "MA_LK": ma_lk,
            "MA_THE_BHYT": "GD4797920123456",
            "SO_CCCD": CCCD,
            "NGAY_SINH": "199005150000",
            "NGAYKD_HIV": "20240110",
            "BDDT_ARV": "20240120",
            "MA_PHAC_DO_DIEU_TRI_BD": "TDF+3TC+DTG",
            "MA_PHAC_DO_DIEU_TRI": "TDF+3TC+DTG",
            "SO_NGAY_CAP_THUOC_ARV": "90",
            "MA_CSKCB": facility,
        }
    ]
    return tables


def _tb(ma_lk: str, facility: str) -> dict[str, Rows]:
    tables = _outpatient(ma_lk, facility)
    tables["XML1"][0].update(MA_BENH_CHINH="A15.0", CHAN_DOAN_RV="Lao phổi")
    tables["XML1"][0].pop("MA_BENH_KT")
    tables["XML15"] = [
        {
            "MA_LK": ma_lk,
            "STT": "1",
            "MA_BN": "BN0012345",
            "HO_TEN": "Nguyễn Văn An",
            "SO_CCCD": CCCD,
            "PHANLOAI_LAO_VITRI": "1",
            "LOAI_DTRI_LAO": "1",
            "NGAYBD_DTRI_LAO": "20260201",
            "PHACDO_DTRI_LAO": "2RHZE/4RHE",
            "MA_CSKCB": facility,
        }
    ]
    return tables


def _referral(ma_lk: str, facility: str) -> dict[str, Rows]:
    tables = _outpatient(ma_lk, facility)
    tables["XML1"][0].update(MA_LOAI_RV="2", MA_NOI_DEN="79024", GIAY_CHUYEN_TUYEN="CT-2026-0042")
    tables["XML13"] = [
        {
            "MA_LK": ma_lk,
            "SO_HOSO": "HS-2026-0042",
            "SO_CHUYENTUYEN": "0042",
            "GIAY_CHUYEN_TUYEN": "CT-2026-0042",
            "MA_CSKCB": facility,
            "MA_NOI_DI": facility,
            "MA_NOI_DEN": "79024",
            "HO_TEN": "Nguyễn Văn An",
            "NGAY_SINH": "199005150000",
            "GIOI_TINH": "1",
            "DAU_HIEU_LS": "Huyết áp 180/110 mmHg, đau ngực",
            "CHAN_DOAN_RV": "Tăng huyết áp vô căn; Đái tháo đường típ 2",
            "QT_BENHLY": "Tăng huyết áp khó kiểm soát",
            "TOMTAT_KQ": "Glucose 7.4 mmol/L",
            "PP_DIEUTRI": "Amlodipin, Metformin",
            "MA_BENH_CHINH": "I10",
            "MA_BENH_KT": "E11",
            "MA_LOAI_RV": "2",
            "MA_LYDO_CT": "2",
            "HUONG_DIEU_TRI": "Đánh giá tổn thương cơ quan đích",
            "PHUONGTIEN_VC": "Xe cứu thương",
            "MA_BAC_SI": "GPHN.000123",
        }
    ]
    return tables


def _late_result(ma_lk: str, facility: str) -> dict[str, Rows]:
    tables = _outpatient(ma_lk, facility)
    tables["XML4"] = _results(ma_lk, pending=True)
    return tables


_KIND_BUILDERS = {
    "outpatient": _outpatient,
    "inpatient": _inpatient,
    "chronic": _chronic,
    "day_case": _day_case,
    "card_change": _card_change,
    "twins": _twins,
    "reexam": _reexam,
    "sick_leave": _sick_leave,
    "hiv": _hiv,
    "tb": _tb,
    "referral": _referral,
    "late_result": _late_result,
    "late_result_resend": _outpatient,
}
