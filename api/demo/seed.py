"""Seeding the demo over the service's own API (as an operator, hospitals and the citizens' app
would), so a second run updates what the first made instead of adding to it."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import dataclass, field

from api.core.settings import Settings
from api.demo import data
from api.demo.client import FHIR_JSON, Api, Credentials, bearer, generate_client_key
from api.identity.demo_idp import DEMO_PEOPLE

ADMIN = "admin"


def hospital_name(facility_id: str) -> str:
    return f"hospital:{facility_id}"


def kiosk_name(facility_id: str) -> str:
    return f"kiosk:{facility_id}"


def ensure_admin(settings: Settings, credentials: Credentials) -> None:
    """The first operator client, made in the database directly (as ``healthbook clients
    create --kind admin`` does); every other client is made over the admin API."""
    if credentials.get(ADMIN) is not None:
        return
    from api.db.migrate import upgrade
    from api.identity.schemas import ClientCreate
    from api.runtime import Runtime

    jwks, private_jwk = generate_client_key()

    async def create() -> str:
        await upgrade(settings.effective_database_url)
        async with Runtime(settings) as runtime:
            view = await runtime.identity_registry.create_client(
                ClientCreate(kind="admin", name="demo operator", jwks=jwks)
            )
        return view.id

    credentials.put(ADMIN, asyncio.run(create()), private_jwk)


@dataclass
class Seeded:
    facilities: list[str] = field(default_factory=list)
    slots: int = 0
    documents: int = 0
    citizens: list[str] = field(default_factory=list)


def seed(api: Api, credentials: Credentials, now: dt.datetime) -> Seeded:
    """Facilities and departments, their hospital and kiosk clients, a week of slots, the
    citizens' visit summaries, and each citizen's first login (which links the child to the
    guardian through the identity provider's dependents claim)."""
    admin_client = credentials.get(ADMIN)
    if admin_client is None:
        raise RuntimeError("no demo operator client: run ensure_admin first")
    admin = bearer(api.client_token(admin_client))
    seeded = Seeded()
    today = now.astimezone(data.ZoneInfo(data.TIMEZONE)).date()
    for facility in data.FACILITIES:
        api.call(
            "PUT",
            f"/admin/facilities/{facility.id}",
            json={
                "name": facility.name,
                "province": facility.province,
                "address": facility.address,
                "time_zone": data.TIMEZONE,
            },
            headers=admin,
            expect=(200, 201),
        )
        for department in facility.departments:
            api.call(
                "PUT",
                f"/admin/facilities/{facility.id}/departments/{department.code}",
                json={"name": department.name, "room": department.room},
                headers=admin,
                expect=(200, 201),
            )
        for kind, name in (
            ("hospital", hospital_name(facility.id)),
            ("kiosk", kiosk_name(facility.id)),
        ):
            if credentials.get(name) is None:
                jwks, private_jwk = generate_client_key()
                view = api.call(
                    "POST",
                    "/admin/clients",
                    json={
                        "kind": kind,
                        "name": f"demo {kind} {facility.id}",
                        "jwks": jwks,
                        "facility_id": facility.id,
                    },
                    headers=admin,
                    expect=(201,),
                ).json()
                credentials.put(name, view["id"], private_jwk)
        hospital = bearer(api.client_token(credentials.clients[hospital_name(facility.id)]))
        slots = [s for d in facility.departments for s in data.week_of_slots(d, today)]
        api.call("PUT", "/hospital/slots", json={"slots": slots}, headers=hospital)
        seeded.slots += len(slots)
        for national_id, visits in data.VISITS.items():
            for visit in visits:
                if visit.facility.id != facility.id:
                    continue
                api.call(
                    "POST",
                    "/hospital/summaries",
                    content=_json(data.visit_bundle(national_id, visit, now)),
                    headers={**hospital, **FHIR_JSON},
                    expect=(200, 201),
                )
                seeded.documents += 1
        seeded.facilities.append(facility.id)
    for person in DEMO_PEOPLE:
        if person.birthdate < "2010":  # adults log in; the child's book is read by the guardian
            api.citizen_token(person.national_id)
            seeded.citizens.append(person.national_id)
    return seeded


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()
