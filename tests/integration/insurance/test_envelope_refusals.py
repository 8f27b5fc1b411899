"""POST /hospital/insurance-xml: what is refused as a whole, before any episode is read, and the
episode-level problems of the envelope's own structure (nothing of a refused envelope or a
rejected episode is stored)."""

from __future__ import annotations

import base64

from sqlalchemy import func, select

from api.health_book.models import HealthDocument
from api.insurance.models import InsuranceEnvelope, InsuranceEpisode
from tests.integration.insurance.conftest import FACILITY, XML, xml_headers
from tests.support.auth import bearer, client_token, create_client_directly
from tests.support.hospital import make_hospital
from tests.support.qd130_envelope import build_envelope, signing_identity, tamper

PATH = "/hospital/insurance-xml/"
XML1 = b"<TONG_HOP><MA_LK>LK-0001</MA_LK><SO_CCCD>001090000001</SO_CCCD></TONG_HOP>"


async def stored(app) -> dict[str, int]:
    async with app.state.sessionmaker() as session:
        return {
            model.__tablename__: await session.scalar(select(func.count()).select_from(model))
            for model in (HealthDocument, InsuranceEnvelope, InsuranceEpisode)
        }


NOTHING = {"health_document": 0, "insurance_envelope": 0, "insurance_episode": 0}


async def test_a_tampered_envelope_is_refused_and_nothing_stored(
    client, app, insurer_hospital
) -> None:
    body = tamper(build_envelope(FACILITY, [{"XML1": XML1}]), b"20261120", b"20261121")
    response = await client.post(PATH, content=body, headers=xml_headers(insurer_hospital))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith("/problems/insurance-signature-invalid")
    assert "does not verify" in problem["detail"]
    assert await stored(app) == NOTHING


async def test_an_envelope_signed_by_an_unregistered_certificate_is_refused(
    client, app, insurer_hospital
) -> None:
    body = build_envelope(FACILITY, [{"XML1": XML1}], identity=signing_identity("Someone else"))
    response = await client.post(PATH, content=body, headers=xml_headers(insurer_hospital))
    assert response.status_code == 422
    assert response.json()["type"].endswith("/problems/insurance-signature-invalid")
    assert await stored(app) == NOTHING


async def test_an_unsigned_envelope_is_refused_by_default(client, app, insurer_hospital) -> None:
    body = build_envelope(FACILITY, [{"XML1": XML1}], signed=False)
    response = await client.post(PATH, content=body, headers=xml_headers(insurer_hospital))
    assert response.status_code == 422
    assert "no CHUKYDONVI signature" in response.json()["detail"]


async def test_a_dtd_and_entity_bomb_is_refused_unparsed(client, app, insurer_hospital) -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE GIAMDINHHS [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        b"<GIAMDINHHS><THONGTINDONVI><MACSKCB>&c;</MACSKCB></THONGTINDONVI></GIAMDINHHS>"
    )
    response = await client.post(PATH, content=bomb, headers=xml_headers(insurer_hospital))
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["type"].endswith("/problems/insurance-envelope-invalid")
    assert "DTD" in problem["detail"] or "entit" in problem["detail"]
    assert await stored(app) == NOTHING


async def test_an_external_entity_is_never_fetched(client, insurer_hospital) -> None:
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b"<GIAMDINHHS><THONGTINDONVI><MACSKCB>&e;</MACSKCB></THONGTINDONVI></GIAMDINHHS>"
    )
    response = await client.post(PATH, content=xxe, headers=xml_headers(insurer_hospital))
    assert response.status_code == 400
    assert "root:" not in response.text


async def test_a_50_mb_envelope_is_refused_with_413(client, app, insurer_hospital) -> None:
    filler = base64.b64encode(b"x" * 38_000_000)  # ≈ 50 MB once base64-encoded
    body = build_envelope(FACILITY, [[("XML1", XML1), ("XML2", filler.decode())]], signed=False)
    assert len(body) > 50_000_000
    response = await client.post(PATH, content=body, headers=xml_headers(insurer_hospital))
    assert response.status_code == 413, response.text[:300]
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await stored(app) == NOTHING


async def test_xml_only(client, insurer_hospital) -> None:
    response = await client.post(
        PATH,
        content=b"{}",
        headers={**bearer(insurer_hospital.token), "content-type": "application/json"},
    )
    assert response.status_code == 415


async def test_unknown_loaihoso_and_bad_base64_reject_their_episodes(
    client, app, insurer_hospital
) -> None:
    body = build_envelope(
        FACILITY,
        [
            [("XML1", XML1), ("XML99", b"<X/>")],
            [("XML1", "this is not base64!")],
        ],
    )
    response = await client.post(PATH, content=body, headers=xml_headers(insurer_hospital))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith("/problems/insurance-episodes-rejected")
    first, second = problem["episodes"]
    assert first["status"] == second["status"] == "rejected"
    assert first["ma_lk"] == "LK-0001"
    assert {
        "table": "FILEHOSO",
        "ma_lk": "LK-0001",
        "field": "LOAIHOSO",
        "value": "XML99",
        "rule": "LOAIHOSO must be one of XML1 … XML15",
    } in first["problems"]
    assert second["problems"][0]["table"] == "XML1"
    assert second["problems"][0]["field"] == "NOIDUNGFILE"
    assert "base64" in second["problems"][0]["rule"]
    assert await stored(app) == NOTHING


async def test_only_hospital_clients_with_the_scope_and_their_own_facility(
    client, app, admin_token, insurer_hospital
) -> None:
    body = build_envelope(FACILITY, [{"XML1": XML1}])
    kiosk = await create_client_directly(app, "kiosk", facility_id=FACILITY)
    kiosk_token = await client_token(client, kiosk)
    response = await client.post(PATH, content=body, headers={**bearer(kiosk_token), **XML})
    assert response.status_code == 403

    # a hospital of the facility whose token lacks the scope
    credentials = await create_client_directly(app, "hospital", facility_id=FACILITY)
    token = await client.post(
        "/auth/token", data={**credentials.form(), "scope": "summaries:write"}
    )
    assert token.status_code == 200, token.text
    response = await client.post(
        PATH, content=body, headers={**bearer(token.json()["access_token"]), **XML}
    )
    assert response.status_code == 403
    assert response.json()["type"].endswith("/problems/insufficient-scope")

    # a hospital client of another facility
    other = await make_hospital(app, client, admin_token, facility_id="79002")
    response = await client.post(PATH, content=body, headers=xml_headers(other))
    assert response.status_code == 403, response.text
    assert "79001" in response.json()["detail"]
    assert await stored(app) == NOTHING


async def test_certificates_are_registered_listed_and_removed_by_operators(
    client, admin_token, insurer_hospital
) -> None:
    path = f"/admin/facilities/{FACILITY}/insurance-certificates/"
    identity = signing_identity()
    again = await client.post(path, json={"pem": identity.cert_pem}, headers=bearer(admin_token))
    assert again.status_code == 200
    listed = await client.get(path, headers=bearer(admin_token))
    assert [c["sha256"] for c in listed.json()] == [identity.sha256]
    assert (await client.get(path, headers=bearer(insurer_hospital.token))).status_code == 403
    bad = await client.post(path, json={"pem": "x" * 100}, headers=bearer(admin_token))
    assert bad.status_code == 400
    assert "PEM" in bad.json()["detail"]
    removed = await client.delete(path + identity.sha256, headers=bearer(admin_token))
    assert removed.status_code == 204
    assert (await client.get(path, headers=bearer(admin_token))).json() == []
    body = build_envelope(FACILITY, [{"XML1": XML1}])
    response = await client.post(PATH, content=body, headers=xml_headers(insurer_hospital))
    assert response.status_code == 422
    assert "no registered signing certificate" in response.json()["detail"]
