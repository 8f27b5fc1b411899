"""Operators register facilities and departments; anyone searches the directory."""

from __future__ import annotations

import pytest

from tests.support.auth import bearer
from tests.support.hospital import register_facility


@pytest.mark.redis
async def test_register_update_and_read_a_facility(client, admin_token) -> None:
    created = await client.put(
        "/admin/facilities/79001",
        json={
            "name": "Bệnh viện Chợ Rẫy",
            "province": "TP. Hồ Chí Minh",
            "address": "201B Nguyễn Chí Thanh, Quận 5",
            "fhir_base_url": "https://fhir.choray.example.vn/R4",
        },
        headers=bearer(admin_token),
    )
    assert created.status_code == 201, created.text
    assert created.json()["time_zone"] == "Asia/Ho_Chi_Minh"
    updated = await client.put(
        "/admin/facilities/79001",
        json={"name": "Bệnh viện Chợ Rẫy", "province": "TP. Hồ Chí Minh", "phone": "02838554137"},
        headers=bearer(admin_token),
    )
    assert updated.status_code == 200
    public = (await client.get("/facilities/79001")).json()
    assert public["phone"] == "02838554137"
    assert public["pulls_from_fhir"] is False
    assert "fhir_base_url" not in public


async def test_search_is_accent_insensitive_and_paginates(client, admin_token) -> None:
    names = [
        ("01001", "Bệnh viện Bạch Mai", "Hà Nội"),
        ("01002", "Bệnh viện Việt Đức", "Hà Nội"),
        ("79001", "Bệnh viện Chợ Rẫy", "TP. Hồ Chí Minh"),
        ("79002", "Bệnh viện Nhi Đồng 1", "TP. Hồ Chí Minh"),
        ("48001", "Bệnh viện Đà Nẵng", "Đà Nẵng"),
    ]
    for code, name, province in names:
        await register_facility(client, admin_token, code, name=name, province=province)
    found = (await client.get("/facilities", params={"q": "cho ray"})).json()
    assert [f["id"] for f in found["items"]] == ["79001"]
    assert (await client.get("/facilities", params={"q": "ĐÀ NẴNG"})).json()["items"][0][
        "id"
    ] == "48001"
    hanoi = (await client.get("/facilities", params={"province": "Hà Nội"})).json()
    assert {f["id"] for f in hanoi["items"]} == {"01001", "01002"}

    seen: list[str] = []
    cursor = None
    while True:
        params = {"q": "benh vien", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/facilities", params=params)).json()
        seen += [f["id"] for f in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(code for code, _, _ in names)
    assert len(seen) == len(set(seen))


async def test_a_cursor_only_works_for_its_own_search(client, admin_token) -> None:
    for code in ("01001", "01002", "01003"):
        await register_facility(client, admin_token, code, name=f"Phòng khám {code}")
    page = (await client.get("/facilities", params={"q": "phong kham", "limit": 1})).json()
    other = await client.get("/facilities", params={"q": "benh", "cursor": page["next_cursor"]})
    assert other.status_code == 400
    forged = await client.get(
        "/facilities", params={"q": "phong kham", "cursor": "eyJ4IjoxfQ.AAAA"}
    )
    assert forged.status_code == 400


async def test_departments(client, admin_token) -> None:
    await register_facility(client, admin_token, "01001")
    for code, name in (("NOI", "Khoa Nội"), ("NHI", "Khoa Nhi")):
        response = await client.put(
            f"/admin/facilities/01001/departments/{code}",
            json={"name": name, "room": "P.101"},
            headers=bearer(admin_token),
        )
        assert response.status_code == 201
    listed = (await client.get("/facilities/01001/departments")).json()
    assert [d["code"] for d in listed] == ["NHI", "NOI"]
    missing = await client.put(
        "/admin/facilities/00000/departments/NOI", json={"name": "x"}, headers=bearer(admin_token)
    )
    assert missing.status_code == 404


async def test_bad_facilities_are_refused(client, admin_token) -> None:
    bad_zone = await client.put(
        "/admin/facilities/01001",
        json={"name": "x", "province": "y", "time_zone": "Mars/Olympus"},
        headers=bearer(admin_token),
    )
    assert bad_zone.status_code == 400
    bad_url = await client.put(
        "/admin/facilities/01001",
        json={"name": "x", "province": "y", "fhir_base_url": "ftp://example.org"},
        headers=bearer(admin_token),
    )
    assert bad_url.status_code == 400
    bad_code = await client.put(
        "/admin/facilities/a%20b", json={"name": "x", "province": "y"}, headers=bearer(admin_token)
    )
    assert bad_code.status_code in (400, 404)
    assert (await client.get("/facilities/nope")).status_code == 404
