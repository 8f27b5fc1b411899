"""A share can also carry its content as a printable PDF: a further manifest file
(``application/pdf``), encrypted with the link's key like the others."""

from __future__ import annotations

import io
import json
import unicodedata

from pypdf import PdfReader

from api.sharing import links
from tests.integration.health_book.conftest import ANY_ID
from tests.integration.health_book.test_pdf import _body
from tests.integration.sharing.conftest import SHARES, in_days, path_of, share
from tests.integration.sharing.test_content import open_jwe
from tests.support.auth import bearer, login, register_provider
from tests.support.qd130 import CCCD

PDF = "application/pdf"
FHIR_JSON = "application/fhir+json"
EVERYTHING = 100_000_000


async def _patient(client, hospital, admin_token, idp) -> dict[str, str]:
    published = await client.post(
        "/hospital/summaries",
        content=_body("outpatient", hospital.facility_id),
        headers=hospital.headers,
    )
    assert published.status_code == 201, published.text
    await register_provider(client, admin_token, idp, national_id_pattern=ANY_ID)
    return bearer((await login(client, idp, CCCD))["access_token"])


def _text(body: bytes) -> str:
    assert body.startswith(b"%PDF-")
    pages = PdfReader(io.BytesIO(body)).pages
    return " ".join(unicodedata.normalize("NFC", " ".join(p.extract_text() for p in pages)).split())


async def test_a_visit_share_carries_its_pdf(client, hospital, admin_token, idp, clock) -> None:
    headers = await _patient(client, hospital, admin_token, idp)
    visits = (await client.get("/citizens/me/health-book/visits", headers=headers)).json()
    visit_id = visits["items"][0]["id"]
    created = await share(client, headers, clock, content="visit", visit_id=visit_id, pdf=True)
    assert created["pdf"] is True
    payload = links.decode(created["shlink"])
    answer = await client.post(
        path_of(payload.url), json={"recipient": "Dr. An", "embeddedLengthMax": EVERYTHING}
    )
    assert answer.status_code == 200, answer.text
    files = answer.json()["files"]
    assert files[0]["contentType"] == FHIR_JSON
    assert files[-1]["contentType"] == PDF
    embedded = files[-1]["embedded"]
    header = json.loads(links.b64url_decode(embedded.split(".")[0]))
    assert header["cty"] == PDF
    assert header["enc"] == "A256GCM"
    body = open_jwe(payload.key, embedded)
    text = _text(body)
    assert "TÓM TẮT ĐỢT KHÁM BỆNH, CHỮA BỆNH" in text
    assert "Tăng huyết áp vô căn" in text
    assert "Amlodipin" in text
    assert "•••••••••234" in text
    assert CCCD not in text
    # by location: its own ticket, opening the same file
    answer = await client.post(path_of(payload.url), json={"recipient": "Dr. An"})
    location = answer.json()["files"][-1]["location"]
    fetched = await client.get(path_of(location))
    assert fetched.status_code == 200, fetched.text
    assert open_jwe(payload.key, fetched.text) == body
    listed = (await client.get(SHARES, headers=headers)).json()["items"]
    assert [s["pdf"] for s in listed] == [True]


async def test_the_book_share_pdf_and_shares_without_one(
    client, hospital, admin_token, idp, clock
) -> None:
    headers = await _patient(client, hospital, admin_token, idp)
    created = await share(
        client, headers, clock, content="categories", categories=["medications"], pdf=True
    )
    payload = links.decode(created["shlink"])
    files = (
        await client.post(
            path_of(payload.url), json={"recipient": "Dr. An", "embeddedLengthMax": EVERYTHING}
        )
    ).json()["files"]
    assert [f["contentType"] for f in files] == [FHIR_JSON, PDF]
    text = _text(open_jwe(payload.key, files[1]["embedded"]))
    assert "SỔ SỨC KHỎE ĐIỆN TỬ" in text
    assert "Metformin" in text
    assert "[I10]" not in text  # only the categories shared
    plain = await share(client, headers, clock)
    assert plain["pdf"] is False
    payload = links.decode(plain["shlink"])
    files = (await client.post(path_of(payload.url), json={"recipient": "Dr. An"})).json()["files"]
    assert PDF not in [f["contentType"] for f in files]


async def test_a_direct_link_cannot_carry_a_pdf(client, hospital, admin_token, idp, clock) -> None:
    headers = await _patient(client, hospital, admin_token, idp)
    response = await client.post(
        SHARES,
        json={"expires_at": in_days(clock, 7), "direct": True, "pdf": True},
        headers=headers,
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "pdf"
    assert (await client.get(SHARES, headers=headers)).json()["items"] == []  # nothing stored
