"""The book as PDF: one episode and the whole book, read back with pypdf (the Vietnamese text,
the masked ID, page numbers, the verification line) and page 1 drawn with pypdfium2 (kept as a
PNG under ``test-artifacts/``, ignored by git)."""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
from pathlib import Path

import msgspec
import pypdfium2
import pytest
from pypdf import PdfReader

from api.insurance.mapping import episode_to_bundle
from api.insurance.tables import read_episode
from tests.integration.health_book.conftest import ANY_ID
from tests.support.auth import bearer, login, register_provider
from tests.support.qd130 import CCCD, build_episode_files

SYSTEM = "https://fhir.moh.gov.vn/sid/cccd"
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
BOOK = "/citizens/me/health-book"


def _body(kind: str, facility: str, **summary: str) -> bytes:
    episode, problems = read_episode(
        build_episode_files(kind, facility=facility, **summary), max_file_bytes=10**7
    )
    assert problems == []
    assert episode is not None
    bundle = episode_to_bundle(episode, facility_code=facility, national_id_system=SYSTEM)
    return msgspec.json.encode(bundle)


@pytest.fixture
async def patient(client, hospital, admin_token, idp) -> dict[str, str]:
    """Nguyễn Văn An's book: an outpatient visit (5 March 2026) and a re-examination (12
    March) with follow-up dates."""
    for body in (
        _body("outpatient", hospital.facility_id),
        _body("reexam", hospital.facility_id, NGAY_VAO="202603120800", NGAY_RA="202603121000"),
    ):
        published = await client.post("/hospital/summaries", content=body, headers=hospital.headers)
        assert published.status_code == 201, published.text
    await register_provider(client, admin_token, idp, national_id_pattern=ANY_ID)
    return bearer((await login(client, idp, CCCD))["access_token"])


async def _visits(client, headers) -> list[dict]:
    response = await client.get(f"{BOOK}/visits", headers=headers)
    assert response.status_code == 200, response.text
    return sorted(response.json()["items"], key=lambda v: v["effective_at"])


async def _name(client, headers) -> str:
    name = (await client.get("/citizens/me", headers=headers)).json()["full_name"]
    assert name
    return name


def _text(body: bytes) -> tuple[str, list[str]]:
    reader = PdfReader(io.BytesIO(body))
    pages = [unicodedata.normalize("NFC", page.extract_text()) for page in reader.pages]
    return " ".join(" ".join(pages).split()), pages


def _pdf(response) -> bytes:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    return response.content


def _artifact(request: pytest.FixtureRequest, kind: str) -> str:
    return kind + "-" + re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-") + ".png"


def _png(body: bytes, name: str) -> Path:
    """Page 1 drawn at 100 dpi, written to ``test-artifacts/``; checked for A4 and ink."""
    document = pypdfium2.PdfDocument(body)
    page = document[0]
    width, height = page.get_size()
    assert (round(width), round(height)) == (595, 842)  # A4 in points
    image = page.render(scale=100 / 72).to_pil().convert("L")
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    image.save(path)
    assert image.size == (827, 1170)
    dark = sum(1 for value in image.getdata() if value < 128)
    assert dark > 5000, dark  # text was drawn, not a blank page
    assert dark < image.size[0] * image.size[1] // 4
    top = image.crop((0, 0, image.size[0], 120))
    assert min(top.getdata()) < 100  # the title at the top
    document.close()
    return path


async def test_a_visit_pdf_holds_the_episode_in_vietnamese(client, patient, request) -> None:
    outpatient = (await _visits(client, patient))[0]
    response = await client.get(f"{BOOK}/visits/{outpatient['id']}/visit.pdf", headers=patient)
    body = _pdf(response)
    text, pages = _text(body)
    for expected in (
        "TÓM TẮT ĐỢT KHÁM BỆNH, CHỮA BỆNH",
        f"Họ và tên: {await _name(client, patient)}",
        "Bệnh viện Đa khoa Tỉnh — Hà Nội",
        "Chẩn đoán",
        "[I10]",
        "Tăng huyết áp",
        "Đái tháo đường",
        "Đơn thuốc",
        "Amlodipin",
        "1 viên/lần * 1 lần/ngày",
        "Uống buổi sáng",
        "Kết quả cận lâm sàng",
        "Huyết sắc tố",
        "g/L",
        "Lời dặn của bác sĩ: Ăn nhạt, tập thể dục, tái khám khi có bất thường",
        "Vào: 05/03/2026 08:00",
        "Ra: 05/03/2026 10:30",
        "giờ Việt Nam",
    ):
        assert expected in text, expected
    assert "•••••••••234" in text  # the national ID masked: its last three digits only
    assert CCCD not in text
    assert CCCD not in body.decode("latin-1")
    for number, page in enumerate(pages, 1):
        assert f"Trang {number}/{len(pages)}" in page
    document_id = response.headers["x-document-id"]
    sha = response.headers["x-content-sha256"]
    assert re.fullmatch(r"[0-9a-f]{64}", sha)
    assert f"Mã tài liệu {document_id}" in text
    assert f"SHA-256 nội dung: {sha}" in text
    again = await client.get(f"{BOOK}/visits/{outpatient['id']}/visit.pdf", headers=patient)
    assert again.headers["x-content-sha256"] == sha  # the same content, the same hash
    assert again.headers["x-document-id"] != document_id  # another document
    assert b"/FontFile2" in body
    assert b"DejaVu" in body
    path = _png(body, _artifact(request, "visit"))
    assert path.stat().st_size > 10_000


async def test_the_follow_up_appointment_is_printed(client, patient) -> None:
    reexam = (await _visits(client, patient))[-1]
    text, _ = _text(
        _pdf(await client.get(f"{BOOK}/visits/{reexam['id']}/visit.pdf", headers=patient))
    )
    assert "Hẹn khám lại" in text
    assert "19/03/2026" in text
    assert "05/04/2026" in text


async def test_the_book_pdf_has_every_visit_and_its_filters(client, patient, request) -> None:
    response = await client.get("/citizens/me/health-book.pdf", headers=patient)
    body = _pdf(response)
    text, pages = _text(body)
    assert "SỔ SỨC KHỎE ĐIỆN TỬ" in text
    assert "Đợt khám 1: Bệnh viện Đa khoa Tỉnh" in text
    assert "Đợt khám 2: Bệnh viện Đa khoa Tỉnh" in text
    assert "Amlodipin" in text
    assert "Thời gian: toàn bộ" in text
    assert len(pages) >= 2
    for number, page in enumerate(pages, 1):
        assert f"Trang {number}/{len(pages)}" in page
    _png(body, _artifact(request, "book"))

    visits = await _visits(client, patient)
    later = visits[-1]["effective_at"][:10]
    narrowed, _ = _text(
        _pdf(
            await client.get(
                "/citizens/me/health-book.pdf", params={"from": later}, headers=patient
            )
        )
    )
    assert "Đợt khám 1" in narrowed
    assert "Đợt khám 2" not in narrowed
    assert "Vào: 12/03/2026 08:00" in narrowed
    assert "05/03/2026 08:00" not in narrowed
    none, _ = _text(
        _pdf(
            await client.get(
                "/citizens/me/health-book.pdf",
                params={"from": "2020-01-01", "to": "2020-12-31"},
                headers=patient,
            )
        )
    )
    assert "Không có dữ liệu trong khoảng đã chọn." in none
    assert "01/01/2020 – 31/12/2020" in none
    drugs, _ = _text(
        _pdf(
            await client.get(
                "/citizens/me/health-book.pdf",
                params={"category": "medications"},
                headers=patient,
            )
        )
    )
    assert "Amlodipin" in drugs
    assert "Đợt khám" not in drugs
    assert "[I10]" not in drugs
    english, _ = _text(
        _pdf(await client.get("/citizens/me/health-book.pdf?lang=en", headers=patient))
    )
    assert "ELECTRONIC HEALTH BOOK" in english
    assert "Page 1/" in english
    assert "Tăng huyết áp" in english  # the record's own words stay as sent


async def test_a_hash_is_of_the_content_rendered(client, patient) -> None:
    first = await client.get("/citizens/me/health-book.pdf", headers=patient)
    narrowed = await client.get(
        "/citizens/me/health-book.pdf", params={"category": "medications"}, headers=patient
    )
    assert first.headers["x-content-sha256"] != narrowed.headers["x-content-sha256"]
    assert hashlib.sha256(first.content).hexdigest() != first.headers["x-content-sha256"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"category": "gossip"}, "category"),
        ({"lang": "fr"}, "lang"),
        ({"from": "2026-03-10", "to": "2026-03-01"}, "to"),
    ],
)
async def test_bad_query_parameters_are_400_naming_them(client, patient, params, field) -> None:
    response = await client.get("/citizens/me/health-book.pdf", params=params, headers=patient)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in response.text


async def test_unknown_visit_and_other_citizens_are_404(client, patient, idp) -> None:
    unknown = await client.get(
        f"{BOOK}/visits/00000000-0000-4000-8000-000000000000/visit.pdf", headers=patient
    )
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    outpatient = (await _visits(client, patient))[0]
    owner_id = (await client.get("/citizens/me", headers=patient)).json()["id"]
    stranger = bearer((await login(client, idp, "001099000777"))["access_token"])
    theirs = await client.get(
        f"/citizens/{owner_id}/health-book/visits/{outpatient['id']}/visit.pdf", headers=stranger
    )
    assert theirs.status_code in (403, 404)
    assert (
        await client.get(f"/citizens/{owner_id}/health-book.pdf", headers=stranger)
    ).status_code in (403, 404)
    # the visit is not in the stranger's own book either
    mine = await client.get(f"{BOOK}/visits/{outpatient['id']}/visit.pdf", headers=stranger)
    assert mine.status_code == 404
    anonymous = await client.get(f"{BOOK}.pdf")
    assert anonymous.status_code == 401


async def test_a_guardian_gets_the_pdfs_and_the_reads_are_logged(
    client, patient, admin_token, idp
) -> None:
    child_id = (await client.get("/citizens/me", headers=patient)).json()["id"]
    recorded = await client.post(
        "/admin/guardianships",
        json={
            "guardian_national_id": "001085000001",
            "dependent_national_id": CCCD,
            "kind": "legal_representative",
            "dependent_birth_date": "1990-01-02",
        },
        headers=bearer(admin_token),
    )
    assert recorded.status_code == 201, recorded.text
    guardian = bearer((await login(client, idp, "001085000001"))["access_token"])
    guardian_id = (await client.get("/citizens/me", headers=guardian)).json()["id"]
    visit = (await _visits(client, patient))[0]
    one = await client.get(
        f"/citizens/{child_id}/health-book/visits/{visit['id']}/visit.pdf", headers=guardian
    )
    text, _ = _text(_pdf(one))
    assert f"Họ và tên: {await _name(client, patient)}" in text
    book = await client.get(
        f"/citizens/{child_id}/health-book.pdf",
        params={"from": "2026-03-01", "category": ["visits", "conditions"]},
        headers=guardian,
    )
    _pdf(book)
    await client.get(f"{BOOK}.pdf", headers=patient)  # the owner's own read is not logged
    log = (await client.get("/citizens/me/access-log", headers=patient)).json()["items"]
    reads = [(e["actor_kind"], e["actor_id"], e["resource"]) for e in log if e["action"] == "read"]
    assert reads == [
        (
            "guardian",
            guardian_id,
            "health-book.pdf?from=2026-03-01&category=visits,conditions",
        ),
        ("guardian", guardian_id, f"visit/{visit['id']}.pdf"),
    ]
