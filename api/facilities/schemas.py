"""Facility and department bodies."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from api.core.pagination import Page

Code = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._\-]+$")]


class FacilityPut(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    province: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    address: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    time_zone: str = "Asia/Ho_Chi_Minh"
    phone: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    fhir_base_url: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    """The facility's FHIR R4 API, for pulling summaries (optional)."""
    fhir_token_url: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    """Its token endpoint, when it wants SMART Backend Services (we sign with our own keys)."""
    fhir_client_id: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    fhir_assertion_alg: Literal["ES384", "RS384", "EdDSA"] = "ES384"
    """What our client assertions to the token endpoint are signed with (SMART Backend Services
    asks every client to support ES384 and RS384); the public keys are in our JWKS."""
    active: bool = True


class Facility(msgspec.Struct, kw_only=True):
    id: str
    name: str
    province: str
    address: str | None
    time_zone: str
    phone: str | None
    pulls_from_fhir: bool
    active: bool


class FacilityAdminView(Facility, kw_only=True):
    fhir_base_url: str | None
    fhir_token_url: str | None
    fhir_client_id: str | None
    fhir_assertion_alg: str
    created_at: dt.datetime
    updated_at: dt.datetime


class FacilityPage(Page, kw_only=True):
    items: list[Facility]


class DepartmentPut(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    name_en: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    room: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    active: bool = True


class Department(msgspec.Struct, kw_only=True):
    id: str
    facility_id: str
    code: str
    name: str
    name_en: str | None
    room: str | None
    active: bool
