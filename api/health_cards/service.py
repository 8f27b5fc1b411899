"""SMART Health Cards of the book: issue them (the citizen or a guardian), publish the issuer's
keys and revocation lists, revoke a citizen's cards, and verify any conforming card.

The book is read through the health book's service (its FHIR export and its visits), never its
tables: a card is signed from what the citizen can already read, and a guardian's read is logged
by that service. Nothing of a card is stored; only revocations are (one row per key and
revocation, the CRL's ``rid.<epoch>``).

Revocation ids: ``rid = base64url(HMAC-SHA-256(secret || kid, citizen id)[:8])`` (64 bits), the
secret derived from IDENTIFIER_HASH_KEY. Every card of one citizen under one key shares its
``rid``; a revocation lists ``rid.<now>``, which revokes every card issued before it and none
issued after.

Verification accepts this issuer (its own keys, no network) and the issuers in
HEALTH_CARD_TRUSTED_ISSUERS, whose keys come from ``ISS/.well-known/jwks.json`` through the
same cache as identity providers' keys (timeouts, size cap, refetch cool-down, stale keys kept
for a while) and whose CRL is fetched when their key carries ``crlVersion``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Protocol

import httpx
import jwt
import msgspec
from sqlalchemy import func, select

from api.core.clock import Clock
from api.core.errors import InvalidInput
from api.core.uow import UnitOfWorkFactory
from api.health_cards import cards, schemas
from api.health_cards.cards import CardError
from api.health_cards.errors import (
    CardTooLargeForQr,
    CrlNotFound,
    IssuerNotConfigured,
    NothingToIssue,
)
from api.health_cards.keys import HealthCardKeys, IssuerKey
from api.health_cards.models import HealthCardRevocation

IMMUNIZATION_TYPE = "http://hl7.org/fhir/StructureDefinition/Immunization"
ENCOUNTER_TYPE = "http://hl7.org/fhir/StructureDefinition/Encounter"
NBF_LEEWAY_SECONDS = 300
"""A card dated up to this far in the future still verifies (issuers' clocks drift)."""
_MAX_CRL_BYTES = 1024 * 1024
_CRL_TTL_SECONDS = 300.0
_CRL_CACHE_MAX = 256
_PATIENT_KEEP = ("resourceType", "name", "birthDate")
"""What of the Patient a card carries: enough to match the holder, never an identifier."""


class VisitFhir(Protocol):
    @property
    def fhir(self) -> bytes | None: ...


class BookReads(Protocol):
    """The health book's service: the FHIR export and one visit's resources."""

    async def export(
        self, citizen_id: uuid.UUID, *, kind: Literal["collection", "ips"], guardian: str | None
    ) -> bytes: ...

    async def visit(
        self, citizen_id: uuid.UUID, visit_id: uuid.UUID, *, fhir: bool, guardian: str | None
    ) -> VisitFhir: ...


class IssuerKeySource(Protocol):
    """Other issuers' keys (the identity providers' JWKS cache): the key for ``kid`` at ``uri``;
    raises ``jwt.InvalidKeyError`` for a kid the JWKS lacks, anything else when no keys can be
    had."""

    async def get_key(self, uri: str, kid: str | None) -> Any: ...


class HealthCardService:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        book: BookReads,
        keys: HealthCardKeys,
        issuer: str,
        rid_secret: str,
        trusted_issuers: Iterable[str],
        remote_keys: IssuerKeySource,
        http: httpx.AsyncClient,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._book = book
        self.keys = keys
        self.issuer = issuer.rstrip("/")
        self._rid_secret = hmac.new(
            rid_secret.encode(), b"health-card-rid", hashlib.sha256
        ).digest()
        self.trusted_issuers = frozenset(i.rstrip("/") for i in trusted_issuers)
        self._remote_keys = remote_keys
        self._http = http
        self._crls: dict[tuple[str, str, int], tuple[float, dict[str, Any]]] = {}

    # --- issuing --------------------------------------------------------------------------

    def rid(self, kid: str, citizen_id: uuid.UUID) -> str:
        digest = hmac.new(self._rid_secret + kid.encode(), citizen_id.bytes, hashlib.sha256)
        return cards.b64url(digest.digest()[:8])

    def _signer(self) -> IssuerKey:
        signer = self.keys.signer
        if signer is None:
            raise IssuerNotConfigured()
        return signer

    def sign_bundle(
        self, citizen_id: uuid.UUID, bundle: dict[str, Any], types: list[str]
    ) -> schemas.IssuedCard:
        """Sign a minified Bundle for ``citizen_id`` (no I/O: what the CPU figure measures)."""
        signer = self._signer()
        nbf = int(self._clock.now().timestamp())
        rid = self.rid(signer.kid, citizen_id)
        body = cards.payload(issuer=self.issuer, nbf=nbf, types=types, bundle=bundle, rid=rid)
        jws = cards.sign(body, signer.private, signer.kid)
        return schemas.IssuedCard(
            jws=jws,
            kid=signer.kid,
            rid=rid,
            nbf=nbf,
            types=[cards.HEALTH_CARD_TYPE, *types],
            qr=cards.to_numeric(jws) if cards.fits_one_qr(jws) else None,
        )

    async def issue(
        self, citizen_id: uuid.UUID, request: schemas.CardRequest, *, guardian: str | None
    ) -> schemas.IssuedCard:
        self._signer()  # refuse before reading the book when no key is configured
        if request.content == "visit":
            if request.visit_id is None:
                raise InvalidInput("a visit card needs visit_id", field="visit_id")
            bundle = await self._visit_bundle(citizen_id, request.visit_id, guardian)
            types = [ENCOUNTER_TYPE]
        else:
            bundle = await self._immunization_bundle(citizen_id, guardian)
            types = [IMMUNIZATION_TYPE]
        return self.sign_bundle(citizen_id, bundle, types)

    async def _export(self, citizen_id: uuid.UUID, guardian: str | None) -> list[dict[str, Any]]:
        exported = json.loads(
            await self._book.export(citizen_id, kind="collection", guardian=guardian)
        )
        return [e for e in exported.get("entry", []) if isinstance(e, dict)]

    async def _immunization_bundle(
        self, citizen_id: uuid.UUID, guardian: str | None
    ) -> dict[str, Any]:
        entries = await self._export(citizen_id, guardian)
        immunizations = [
            e
            for e in entries
            if (e.get("resource") or {}).get("resourceType") == "Immunization"
            and e["resource"].get("status") != "entered-in-error"
        ]
        if not immunizations:
            raise NothingToIssue("the book holds no immunization record")
        return _bundle(_patient_of(entries), [_named(e) for e in immunizations])

    async def _visit_bundle(
        self, citizen_id: uuid.UUID, visit_id: uuid.UUID, guardian: str | None
    ) -> dict[str, Any]:
        answer = await self._book.visit(citizen_id, visit_id, fhir=True, guardian=guardian)
        resources = json.loads(answer.fhir or b"{}").get("entry", [])
        found = [
            _named(e)
            for e in resources
            if isinstance(e, dict) and (e.get("resource") or {}).get("resourceType") != "Patient"
        ]
        if not found:
            raise NothingToIssue("the visit holds no record to sign")
        return _bundle(_patient_of(await self._export(citizen_id, None)), found)

    def card_of_document(
        self, citizen_id: uuid.UUID, document: bytes, content: Literal["immunizations", "visit"]
    ) -> bytes | None:
        """The ``.smart-health-card`` file of what a shared FHIR ``document`` holds: its
        immunizations, or (a visit's document) every record but the Composition. Signed from
        the document itself, so the card carries nothing the share does not. None when this
        service has no signing key or the document holds nothing to sign."""
        if self.keys.signer is None:
            return None
        entries = [e for e in json.loads(document).get("entry", []) if isinstance(e, dict)]
        if content == "immunizations":
            chosen = [
                e
                for e in entries
                if (e.get("resource") or {}).get("resourceType") == "Immunization"
                and e["resource"].get("status") != "entered-in-error"
            ]
            types = [IMMUNIZATION_TYPE]
        else:
            chosen = [
                e
                for e in entries
                if (e.get("resource") or {}).get("resourceType")
                not in (None, "Patient", "Composition")
            ]
            types = [ENCOUNTER_TYPE]
        if not chosen:
            return None
        bundle = _bundle(_patient_of(entries), [_named(e) for e in chosen])
        return self.file(self.sign_bundle(citizen_id, bundle, types).jws)

    @staticmethod
    def file(jws: str) -> bytes:
        """A ``.smart-health-card`` file of one card."""
        return json.dumps({"verifiableCredential": [jws]}, separators=(",", ":")).encode()

    @staticmethod
    def qr(card: schemas.IssuedCard, image: Literal["png", "svg"]) -> bytes:
        """The card's one QR symbol; refused for a card too large for it (never chunked)."""
        if card.qr is None:
            raise CardTooLargeForQr(
                f"the signed card has {len(card.jws)} characters, more than the "
                f"{cards.MAX_QR_JWS} one QR code holds: download the .smart-health-card file "
                "or share the records with a SMART Health Link",
                extra={"jwsLength": len(card.jws), "maxJwsLength": cards.MAX_QR_JWS},
            )
        return cards.qr_png(card.jws) if image == "png" else cards.qr_svg(card.jws)

    # --- keys and revocation --------------------------------------------------------------

    async def _counters(self) -> dict[str, int]:
        async with self._uow() as uow:
            rows = await uow.session.execute(
                select(HealthCardRevocation.kid, func.count()).group_by(HealthCardRevocation.kid)
            )
            return {kid: int(count) for kid, count in rows.all()}

    async def public_keys(self) -> list[dict[str, Any]]:
        """The issuer keys for the JWKS, ``crlVersion`` on those with revocations."""
        if not self.keys.keys:
            return []
        counters = await self._counters()
        published: list[dict[str, Any]] = []
        for key in self.keys.keys:
            jwk = dict(key.jwk)
            if counters.get(key.kid):
                jwk["crlVersion"] = counters[key.kid]
            published.append(jwk)
        return published

    async def revoke(self, citizen_id: uuid.UUID) -> int:
        """Revoke every card issued so far for ``citizen_id`` (under every key); cards issued
        after this second stay valid. Returns the second cards before which are revoked."""
        now = self._clock.now()
        before = int(now.timestamp()) + 1
        async with self._uow() as uow:
            for key in self.keys.keys:
                uow.session.add(
                    HealthCardRevocation(
                        kid=key.kid,
                        rid=self.rid(key.kid, citizen_id),
                        revoked_before=before,
                        citizen_id=citizen_id,
                        created_at=now,
                    )
                )
        return before

    async def crl(self, kid: str) -> dict[str, Any]:
        """The revocation list of one of our keys."""
        if self.keys.get(kid) is None:
            raise CrlNotFound()
        async with self._uow() as uow:
            rows = (
                await uow.session.execute(
                    select(HealthCardRevocation.rid, HealthCardRevocation.revoked_before)
                    .where(HealthCardRevocation.kid == kid)
                    .order_by(HealthCardRevocation.created_at)
                )
            ).all()
        latest: dict[str, int] = {}
        for rid, before in rows:
            latest[rid] = max(before, latest.get(rid, 0))
        return {
            "kid": kid,
            "method": "rid",
            "ctr": len(rows),
            "rids": [f"{rid}.{before}" for rid, before in latest.items()],
        }

    # --- verifying ------------------------------------------------------------------------

    async def verify(self, text: str) -> schemas.Verification:
        """The verdict on a card handed in (file, JWS or ``shc:/`` text); never raises for a
        bad card."""
        if len(text.encode()) > cards.MAX_INPUT_BYTES:
            return schemas.Verification(valid=False, reason="malformed", detail="card too large")
        try:
            texts = cards.card_texts(text)
        except CardError as exc:
            return schemas.Verification(valid=False, reason=exc.reason, detail=exc.detail)
        checks = [await self._check(jws) for jws in texts]
        first = next((c for c in checks if not c.valid), checks[0])
        return schemas.Verification(
            **msgspec.structs.asdict(first), cards=checks if len(checks) > 1 else []
        )

    async def _check(self, jws: str) -> schemas.CardCheck:
        try:
            parsed = cards.parse(jws)
        except CardError as exc:
            return schemas.CardCheck(valid=False, reason=exc.reason, detail=exc.detail)
        claims = parsed.payload
        vc = claims["vc"]
        found = schemas.CardCheck(
            valid=False,
            issuer=claims["iss"],
            kid=parsed.header["kid"],
            nbf=claims["nbf"],
            types=[t for t in vc["type"] if isinstance(t, str)],
            fhir_bundle=vc["credentialSubject"]["fhirBundle"],
        )
        try:
            await self._check_trusted(parsed)
        except CardError as exc:
            return msgspec.structs.replace(found, reason=exc.reason, detail=exc.detail)
        return msgspec.structs.replace(found, valid=True)

    async def _check_trusted(self, parsed: cards.Parsed) -> None:
        claims, kid = parsed.payload, parsed.header["kid"]
        iss = claims["iss"]
        if iss == self.issuer:
            jwk = await self._own_key(kid)
        elif iss in self.trusted_issuers:
            jwk = await self._remote_key(iss, kid)
        else:
            raise CardError("untrusted_issuer", f"{iss} is not a trusted issuer")
        if cards.thumbprint(jwk) != kid:
            raise CardError("kid_not_thumbprint", "the kid is not the key's RFC 7638 thumbprint")
        cards.check_signature(parsed, jwk)
        if claims["nbf"] > self._clock.now().timestamp() + NBF_LEEWAY_SECONDS:
            raise CardError("not_yet_valid", "nbf is in the future (seconds are expected)")
        rid = claims["vc"].get("rid")
        if isinstance(rid, str) and "crlVersion" in jwk:
            crl = await (self.crl(kid) if iss == self.issuer else self._remote_crl(iss, jwk))
            if cards.revoked(crl, rid, float(claims["nbf"])):
                raise CardError("revoked", "the issuer revoked this card")
        exp = claims.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, int | float):
            return
        if exp < self._clock.now().timestamp() - NBF_LEEWAY_SECONDS:
            raise CardError("expired", "the card is past its exp")

    async def _own_key(self, kid: str) -> dict[str, Any]:
        for jwk in await self.public_keys():
            if jwk["kid"] == kid:
                return jwk
        raise CardError("kid_not_in_jwks", "the kid is not among this issuer's keys")

    async def _remote_key(self, iss: str, kid: str) -> dict[str, Any]:
        try:
            key = await self._remote_keys.get_key(f"{iss}/.well-known/jwks.json", kid)
        except jwt.InvalidKeyError as exc:
            raise CardError("kid_not_in_jwks", "the kid is not in the issuer's JWKS") from exc
        except Exception as exc:  # the cache's "no keys at all": the issuer is unreachable
            raise CardError("issuer_unavailable", "the issuer's keys cannot be fetched") from exc
        jwk = getattr(key, "_jwk_data", None)  # PyJWK keeps the JWK it was made from
        if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
            raise CardError("bad_signature", "the issuer's key is not an EC P-256 key")
        return jwk

    async def _remote_crl(self, iss: str, jwk: Mapping[str, Any]) -> dict[str, Any]:
        kid, version = str(jwk["kid"]), int(jwk.get("crlVersion") or 0)
        cache_key = (iss, kid, version)
        cached = self._crls.get(cache_key)
        now = time.monotonic()
        if cached is not None and now - cached[0] < _CRL_TTL_SECONDS:
            return cached[1]
        try:
            response = await self._http.get(f"{iss}/.well-known/crl/{kid}.json")
            response.raise_for_status()
            if len(response.content) > _MAX_CRL_BYTES:
                raise ValueError("CRL too large")
            crl = response.json()
            if not isinstance(crl, dict):
                raise ValueError("CRL is not an object")
        except (httpx.HTTPError, ValueError) as exc:
            raise CardError(
                "issuer_unavailable", "the issuer's revocation list cannot be fetched"
            ) from exc
        if len(self._crls) >= _CRL_CACHE_MAX:
            self._crls.clear()
        self._crls[cache_key] = (now, crl)
        return crl


def _named(entry: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    names = [entry["fullUrl"]] if isinstance(entry.get("fullUrl"), str) else []
    return entry["resource"], names


def _patient_of(entries: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    for entry in entries:
        resource = entry.get("resource") or {}
        if resource.get("resourceType") == "Patient":
            resource_, names = _named(entry)
            kept = {k: v for k, v in resource_.items() if k in _PATIENT_KEEP or k == "id"}
            return kept, names
    return {"resourceType": "Patient"}, []


def _bundle(
    patient: tuple[dict[str, Any], list[str]], others: list[tuple[dict[str, Any], list[str]]]
) -> dict[str, Any]:
    return cards.minified_bundle([patient, *others], patient_url="resource:0")
