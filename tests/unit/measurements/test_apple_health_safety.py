"""The Apple Health export reader against hostile and broken files: entity bombs, external
entities and DTDs (never expanded, never fetched), zip bombs and size caps, damaged zips, XML that
breaks mid-file."""

from __future__ import annotations

import io
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from api.measurements.apple_health import (
    ExportInvalid,
    ExportRefused,
    ExportTooLarge,
    Limits,
    Sample,
    read_export,
)
from tests.support.apple_health_export import OPEN, PROLOG, correlation, document, record, zipped

HEART = record("HeartRate", 60, "count/min")

LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE HealthData [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"""


def read(data: bytes, **limits: float) -> list[Sample]:
    return list(read_export(io.BytesIO(data), limits=Limits(**limits)))  # pyright: ignore[reportArgumentType]


class Unseekable(io.RawIOBase):
    """An upload read as it arrives (a socket, a pipe)."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


# -- entities and DTDs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        '<Record type="HKQuantityTypeIdentifierHeartRate" sourceName="&lol9;" unit="count/min" '
        'startDate="2024-01-02 08:00:00 +0700" endDate="2024-01-02 08:00:00 +0700" value="60"/>',
        "<Record>&lol9;</Record>",
        "<Record>&lol3;</Record>",
    ],
)
def test_billion_laughs_is_refused_and_never_expanded(body: str) -> None:
    started = time.process_time()
    with pytest.raises(ExportInvalid) as refused:
        read((LAUGHS + OPEN + HEART + body + "</HealthData>").encode())
    assert time.process_time() - started < 1.0
    assert refused.value.samples_read == 0
    assert "entit" in str(refused.value.detail)


def test_an_internal_entity_is_refused_even_when_small() -> None:
    xml = (
        '<?xml version="1.0"?>\n<!DOCTYPE HealthData [ <!ENTITY v "120"> ]>\n'
        + OPEN
        + record("HeartRate", "&v;", "count/min").replace("&amp;", "&")
        + "</HealthData>"
    ).encode()
    with pytest.raises(ExportInvalid, match="declares entities"):
        read(xml)


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on loopback that records every request it receives."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            body = b'<!ENTITY v "120">'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_external_entities_are_refused_and_never_fetched(
    listener: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, seen = listener
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    xml = (
        '<?xml version="1.0"?>\n<!DOCTYPE HealthData [\n'
        f' <!ENTITY file SYSTEM "file://{secret}">\n'
        f' <!ENTITY net SYSTEM "{url}/entity">\n'
        f' <!ENTITY % remote SYSTEM "{url}/parameter"> %remote;\n]>\n'
        + OPEN
        + "<Record>&file;&net;</Record>"
        + HEART
        + "</HealthData>"
    ).encode()
    with pytest.raises(ExportInvalid, match="declares entities") as refused:
        read(xml)
    assert "TOP-SECRET" not in str(refused.value)
    assert seen == []


def test_an_external_dtd_is_refused_and_never_fetched(
    listener: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, seen = listener
    local = tmp_path / "local.dtd"
    local.write_text('<!ENTITY v "120">')
    for system in (f"{url}/export.dtd", f"file://{local}"):
        xml = (
            f'<?xml version="1.0"?>\n<!DOCTYPE HealthData SYSTEM "{system}">\n'
            + OPEN
            + record("HeartRate", "&v;", "count/min").replace("&amp;", "&")
            + "</HealthData>"
        ).encode()
        with pytest.raises(ExportInvalid, match="external DTD"):
            read(xml)
    assert seen == []


def test_apples_own_internal_dtd_is_accepted() -> None:
    data = document(HEART)
    assert b"<!DOCTYPE HealthData [" in data
    assert b"<!ATTLIST Record" in data
    assert [sample.value for sample in read(data)] == [60.0]


# -- containers --------------------------------------------------------------------------------


def test_the_zip_export_xml_is_read_and_the_rest_ignored() -> None:
    data = zipped(
        document(HEART),
        others=[("apple_health_export/electrocardiograms/ecg_2024-01-02.csv", b"Name,x\n")],
    )
    assert [sample.value for sample in read(data)] == [60.0]


def test_a_zip_with_a_nested_folder_name_still_finds_export_xml() -> None:
    data = zipped(document(HEART), name="Export/apple_health_export/export.xml")
    assert len(read(data)) == 1


def test_a_zip_without_export_xml() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("apple_health_export/export_cda.xml", b"<ClinicalDocument/>")
    with pytest.raises(ExportInvalid, match=r"no apple_health_export/export\.xml"):
        read(buffer.getvalue())


def test_a_zip_that_is_not_one() -> None:
    with pytest.raises(ExportInvalid, match="not a readable zip"):
        read(b"PK\x03\x04" + b"\x00" * 200)


def test_a_damaged_zip_member() -> None:
    xml = document(*[HEART] * 50)
    data = bytearray(zipped(xml, compression=zipfile.ZIP_STORED))
    at = bytes(data).index(b"HeartRate")
    data[at : at + 5] = b"HxxxR"
    with pytest.raises(ExportInvalid, match="the zip is damaged"):
        read(bytes(data))


def test_an_encrypted_member_is_refused() -> None:
    data = bytearray(zipped(document(HEART)))
    # set the "encrypted" flag of every entry (local headers and central directory)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (start := bytes(data).find(signature, start)) >= 0:
            data[start + offset] |= 0x1
            start += 4
    with pytest.raises(ExportInvalid, match="encrypted"):
        read(bytes(data))


def test_a_zip_must_be_seekable_a_bare_xml_need_not() -> None:
    with pytest.raises(ExportInvalid, match="seekable"):
        list(read_export(io.BufferedReader(Unseekable(zipped(document(HEART))))))
    reader = read_export(io.BufferedReader(Unseekable(document(HEART, HEART))))
    assert len(list(reader)) == 2
    assert reader.total_bytes is None


def test_a_zip_bomb_is_refused_before_it_is_inflated() -> None:
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("apple_health_export/export.xml", "w") as member,
    ):
        member.write(PROLOG.encode() + OPEN.encode())
        for _ in range(32):
            member.write(b" " * (1 << 20))
        member.write(b"</HealthData>")
    data = buffer.getvalue()
    assert len(data) < 100_000  # 32 MiB inflated from less than 100 kB
    with pytest.raises(ExportTooLarge, match="expands") as refused:
        read(data, max_compression_ratio=100, ratio_floor_bytes=1 << 20)
    assert refused.value.problem.status == 413
    assert refused.value.extra == {"samples_read": 0, "max_compression_ratio": 100}
    with pytest.raises(ExportTooLarge, match="at most 8,388,608 are accepted") as refused:
        read(data, max_xml_bytes=8 << 20, max_compression_ratio=10_000)
    assert refused.value.extra == {"samples_read": 0, "max_bytes": 8 << 20}


def test_a_small_highly_compressed_member_is_read() -> None:
    xml = document(*[HEART] * 2000)
    data = zipped(xml)
    assert len(xml) / len(data) > 100
    assert len(read(data, max_compression_ratio=100)) == 2000


def test_the_size_cap_holds_when_the_size_is_not_known_in_advance() -> None:
    xml = document(*[HEART] * 500)
    with pytest.raises(ExportTooLarge, match="larger than 40,000 bytes") as refused:
        list(read_export(io.BufferedReader(Unseekable(xml)), limits=Limits(max_xml_bytes=40_000)))
    assert refused.value.samples_read > 0
    assert refused.value.extra["max_bytes"] == 40_000
    with pytest.raises(ExportTooLarge, match=f"export.xml is {len(xml):,} bytes"):
        read(xml, max_xml_bytes=40_000)


# -- broken XML ------------------------------------------------------------------------------------


def test_xml_broken_mid_file_stops_with_the_line_after_the_samples_before_it() -> None:
    halves = record("BloodPressureSystolic", 120, "mmHg") + record(
        "BloodPressureDiastolic", 80, "mmHg"
    )
    good = PROLOG + OPEN + HEART + halves + HEART
    broken = (
        good + ' <Record type="HKQuantityTypeIdentifierHeartRate" value="61"\n' + HEART
    ).encode()
    reader = read_export(io.BytesIO(broken))
    seen: list[Sample] = []
    with pytest.raises(ExportInvalid) as refused:
        seen.extend(reader)
    # the two heart rates before the break were returned; the halves waiting for the end were not
    assert [sample.kind for sample in seen] == ["heart_rate", "heart_rate"]
    error = refused.value
    assert error.samples_read == 2
    assert error.line is not None
    assert error.line > good.count("\n")
    assert error.extra == {"samples_read": 2, "line": error.line}
    assert str(error.detail).startswith(f"export.xml is not well-formed XML (line {error.line})")
    assert error.problem.status == 400


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not well-formed"),
        (b"this is not xml at all", "not well-formed"),
        ((PROLOG + OPEN + HEART).encode(), "not well-formed"),  # truncated
        (b'<?xml version="1.0"?><html><body/></html>', "root element is <html>"),
        (
            b'<?xml version="1.0"?><h:HealthData xmlns:h="urn:x"/>',
            "root element is <{urn:x}HealthData>",
        ),
    ],
)
def test_files_that_are_no_export(data: bytes, message: str) -> None:
    with pytest.raises(ExportRefused, match=message):
        read(data)


def test_a_truncated_zip_member() -> None:
    xml = document(*[correlation(120, 80)] * 200)
    data = zipped(xml, name="apple_health_export/export.xml")
    cut = data[: len(data) // 2]
    with pytest.raises(ExportInvalid):
        read(cut)
