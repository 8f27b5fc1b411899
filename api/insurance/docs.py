"""OpenAPI examples of the insurance routes (kept out of the route module)."""

from __future__ import annotations

import base64

from litestar.openapi.spec import OpenAPIType, Schema

_XML1 = (
    '<?xml version="1.0" encoding="utf-8"?><TONG_HOP><MA_LK>79001-2026-000123</MA_LK>'
    "<HO_TEN>Nguyễn Văn An</HO_TEN><SO_CCCD>001090000001</SO_CCCD>"
    "<NGAY_SINH>199005140000</NGAY_SINH><GIOI_TINH>1</GIOI_TINH><MA_LOAI_KCB>01</MA_LOAI_KCB>"
    "<MA_BENH_CHINH>I10</MA_BENH_CHINH><CHAN_DOAN_RV>Tăng huyết áp</CHAN_DOAN_RV>"
    "<NGAY_VAO>202611200800</NGAY_VAO><NGAY_RA>202611200930</NGAY_RA></TONG_HOP>"
)

ENVELOPE_EXAMPLE = (
    '<?xml version="1.0" encoding="utf-8"?>\n<GIAMDINHHS>'
    "<THONGTINDONVI><MACSKCB>79001</MACSKCB></THONGTINDONVI>"
    "<THONGTINHOSO><NGAYLAP>20261120</NGAYLAP><SOLUONGHOSO>1</SOLUONGHOSO><DANHSACHHOSO>"
    "<HOSO><FILEHOSO><LOAIHOSO>XML1</LOAIHOSO><NOIDUNGFILE>"
    + base64.b64encode(_XML1.encode()).decode()
    + "</NOIDUNGFILE></FILEHOSO></HOSO></DANHSACHHOSO></THONGTINHOSO>"
    "<CHUKYDONVI><!-- ds:Signature (enveloped, SHA-256) --></CHUKYDONVI></GIAMDINHHS>"
)

ENVELOPE_SCHEMA = Schema(
    type=OpenAPIType.STRING,
    description=(
        "A `GIAMDINHHS` envelope (QĐ 130/QĐ-BYT as amended by QĐ 4750 and QĐ 3176): "
        "`THONGTINDONVI/MACSKCB`, `THONGTINHOSO/DANHSACHHOSO/HOSO*` each with `FILEHOSO*` "
        "(`LOAIHOSO` XML1…XML15, `NOIDUNGFILE` base64 of the table's UTF-8 XML) and the "
        "facility's XML-DSig in `CHUKYDONVI`."
    ),
)

CERTIFICATE_EXAMPLE = {
    "pem": "-----BEGIN CERTIFICATE-----\nMIIB…(the facility's signing certificate)…\n"
    "-----END CERTIFICATE-----\n"
}

SUBMIT_DESCRIPTION = (
    "Body: `application/xml`, the signed `GIAMDINHHS` envelope every hospital information "
    "system already produces for the social-security insurer (one or many `HOSO`). The "
    "`CHUKYDONVI` signature must verify against a certificate an operator registered for the "
    "client's facility (422 `insurance-signature-invalid` otherwise, unless the facility is "
    "listed in `INSURANCE_ACCEPT_UNSIGNED_FACILITIES`), and `MACSKCB` must be the client's "
    "facility (403). A body that is not safe, well-formed XML (a DTD, entities) is 400; past "
    "`INSURANCE_MAX_ENVELOPE_BYTES` it is 413.\n\n"
    "Each `HOSO` is then answered on its own, in order, in `episodes`: `accepted` with its "
    "`outcome` (`created`, `new_version` — the same `document_id`, a later `version` — or "
    "`unchanged`), or `rejected` with `type`/`title` as in a problem document and `problems`: "
    "every problem found, each naming the table, `MA_LK`, field, value and rule. A rejected "
    "episode stores nothing and never blocks the others. When every episode is rejected the "
    "answer is a 422 problem (`insurance-episodes-rejected`) carrying the same `episodes`.\n\n"
    "The document identity is (`MACSKCB`, `MA_LK`): sending an episode again stores a new "
    "version (late lab results), the same content answers `unchanged`. Patients are matched "
    "only by the 12-digit personal identification number in `SO_CCCD`; HIV (XML6) and TB "
    "(XML15) tables are kept in the signed file only, never in the book."
)

RESTRICTED_DATA_DESCRIPTION = """\
Episodes with HIV care (XML6), TB treatment (XML15) or an HIV/TB diagnosis are restricted: by
default they are nowhere in the book — not its lists, counts, overview, visits, FHIR export or
signed files — and no push is ever sent about them. `{"show": true}` brings the latest version of
each into the book (no push either); `{"show": false}` takes them out again at once.

Only the citizen changes this choice (a guardian reads it, logged, but a `PUT` is 403), and
only for a book nobody else may read: turning it on while a guardian or legal representative
may act for the citizen is 409. Each change is in the citizen's access log."""
