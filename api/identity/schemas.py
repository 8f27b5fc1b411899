"""Request and response bodies of the identity routes, and the citizen read models that other
domains receive from the citizen directory (``api.identity.citizens``)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec

ClientKind = Literal["hospital", "kiosk", "admin"]
Sex = Literal["male", "female", "other", "unknown"]
Id64 = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._\-]+$")]


class TokenRequest(msgspec.Struct, kw_only=True):
    """The form fields of ``POST /auth/token`` (unknown fields are ignored, as OAuth requires)."""

    grant_type: str | None = None
    subject_token: str | None = None
    subject_token_type: str | None = None
    requested_token_type: str | None = None
    audience: str | None = None
    refresh_token: str | None = None
    client_assertion_type: str | None = None
    client_assertion: str | None = None
    client_id: str | None = None
    scope: str | None = None


class TokenResponse(msgspec.Struct, kw_only=True, omit_defaults=True):
    access_token: str
    token_type: str
    expires_in: int
    issued_token_type: str | None = None
    refresh_token: str | None = None
    scope: str | None = None


class LogoutRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    refresh_token: str | None = None


class Dependent(msgspec.Struct, kw_only=True):
    id: str
    full_name: str | None
    birth_date: dt.date | None
    relationship: str
    valid_until: dt.datetime | None


class CitizenProfile(msgspec.Struct, kw_only=True):
    id: str
    national_id_masked: str | None
    full_name: str | None
    birth_date: dt.date | None
    sex: str | None
    phone: str | None
    insurance_card: str | None
    locale: str
    dependents: list[Dependent]


class IdentityProviderCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: Id64
    issuer: Annotated[str, msgspec.Meta(min_length=8, max_length=500)]
    jwks_uri: Annotated[str, msgspec.Meta(min_length=8, max_length=1000)]
    audiences: Annotated[
        list[Annotated[str, msgspec.Meta(min_length=1)]], msgspec.Meta(min_length=1)
    ]
    algorithms: list[str] = msgspec.field(default_factory=lambda: ["RS256", "ES256", "EdDSA"])
    national_id_claim: str = "national_id"
    national_id_pattern: str = r"^\d{12}$"
    name_claim: str | None = "name"
    birth_date_claim: str | None = "birthdate"
    sex_claim: str | None = "gender"
    phone_claim: str | None = "phone_number"
    assurance_claim: str | None = None
    min_assurance: int | None = None
    dependents_claim: str | None = None
    enabled: bool = True


class IdentityProviderView(IdentityProviderCreate, kw_only=True):
    created_at: dt.datetime
    updated_at: dt.datetime


class ClientCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    kind: ClientKind
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    jwks: dict[str, list[dict[str, str]]]
    """The client's public keys as a JWK Set: ``{"keys": [{...}]}``."""
    id: Id64 | None = None
    facility_id: Id64 | None = None
    scopes: list[str] | None = None


class ClientView(msgspec.Struct, kw_only=True):
    id: str
    kind: ClientKind
    name: str
    facility_id: str | None
    scopes: list[str]
    jwks: dict[str, list[dict[str, str]]]
    enabled: bool
    created_at: dt.datetime


class ClientUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    jwks: dict[str, list[dict[str, str]]] | None = None
    scopes: list[str] | None = None
    enabled: bool | None = None


class GuardianshipCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Recorded by an operator from documents (birth certificate, court decision)."""

    guardian_national_id: Annotated[str, msgspec.Meta(min_length=6, max_length=32)]
    dependent_national_id: Annotated[str, msgspec.Meta(min_length=6, max_length=32)]
    kind: Literal["parent", "legal_representative"]
    dependent_birth_date: dt.date | None = None
    valid_from: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    note: Annotated[str, msgspec.Meta(max_length=500)] | None = None


class GuardianshipView(msgspec.Struct, kw_only=True):
    id: str
    guardian_id: str
    dependent_id: str
    kind: str
    source: str
    valid_from: dt.datetime
    valid_until: dt.datetime | None
    effective_until: dt.datetime | None
    note: str | None


class CitizenRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A citizen as another domain reads them (the health book's profile, its FHIR Patient)."""

    id: uuid.UUID
    national_id_masked: str | None
    full_name: str | None
    birth_date: dt.date | None
    sex: str | None
    insurance_card: str | None


class Demographics(msgspec.Struct, frozen=True, kw_only=True):
    """What a hospital's record says about a person, in the citizen's terms (None: not said)."""

    full_name: str | None = None
    birth_date: dt.date | None = None
    sex: str | None = None
    insurance_card: str | None = None
