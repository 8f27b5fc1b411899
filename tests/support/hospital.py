"""A registered facility with a hospital client, for tests that publish or book."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from litestar import Litestar

from tests.support.auth import bearer, client_token, create_client_directly

FHIR_JSON = {"content-type": "application/fhir+json"}


@dataclass
class Hospital:
    facility_id: str
    token: str
    client_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {**bearer(self.token), **FHIR_JSON}


async def register_facility(
    http: httpx.AsyncClient,
    admin_token: str,
    facility_id: str,
    name: str = "Bệnh viện Đa khoa Tỉnh",
    province: str = "Hà Nội",
    **extra: object,
) -> dict[str, object]:
    response = await http.put(
        f"/admin/facilities/{facility_id}",
        json={"name": name, "province": province, **extra},
        headers=bearer(admin_token),
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


async def make_hospital(
    app: Litestar,
    http: httpx.AsyncClient,
    admin_token: str,
    facility_id: str = "01001",
    **extra: object,
) -> Hospital:
    await register_facility(http, admin_token, facility_id, **extra)
    credentials = await create_client_directly(app, "hospital", facility_id=facility_id)
    token = await client_token(http, credentials)
    return Hospital(facility_id=facility_id, token=token, client_id=credentials.client_id)
