"""Each share of the book as the FHIR R4 ``Consent`` it is: the citizen (or their guardian) opts
in to let the recipient access the data the share holds, for treatment, from its creation to its
expiry. ``status`` is computed: ``active`` while the link works, ``inactive`` once it is revoked,
expired or disabled.

The resource (FHIR R4 Consent, https://hl7.org/fhir/R4/consent.html):

- ``scope`` ``patient-privacy`` (consentscope), ``category`` LOINC 59284-0 (Patient Consent),
  ``patient``, ``dateTime`` (when it was made), ``performer`` (the citizen, or the guardian as a
  RelatedPerson), ``policyRule`` v3-ActCode ``OPTIN`` (invariant ppc-1: a policy or a rule);
- ``provision``: ``permit`` for the ``period`` created → expires, ``actor`` the recipient
  (v3-ParticipationType ``IRCP``, the recipient hint as its display), ``action`` ``access``,
  ``purpose`` v3-ActReason ``TREAT``, ``class`` the FHIR resource types shared, ``data`` the
  visit when one visit is shared; restricted data (v3-Confidentiality ``R``/``V``) either in
  ``securityLabel`` (ticked for this share) or denied by a nested provision.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from sqlalchemy import select

from api.core.clock import Clock
from api.core.errors import NotFound
from api.core.uow import UnitOfWorkFactory
from api.sharing.models import RecipientLink, ShareLink

CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
CONSENT_ACTION = "http://terminology.hl7.org/CodeSystem/consentaction"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
RESOURCE_TYPES = "http://hl7.org/fhir/resource-types"
LOINC = "http://loinc.org"

TYPES_OF_CATEGORY: dict[str, tuple[str, ...]] = {
    "visits": ("Encounter",),
    "conditions": ("Condition",),
    "allergies": ("AllergyIntolerance",),
    "medications": ("MedicationRequest", "MedicationStatement", "Medication"),
    "immunizations": ("Immunization",),
    "observations": ("Observation",),
    "diagnostic_reports": ("DiagnosticReport",),
    "procedures": ("Procedure",),
}
"""The FHIR resource types each of the book's categories is shared as."""
CATEGORIES = tuple(TYPES_OF_CATEGORY)
RESTRICTED_LABELS = (
    {"system": CONFIDENTIALITY, "code": "R", "display": "restricted"},
    {"system": CONFIDENTIALITY, "code": "V", "display": "very restricted"},
)
_encoder = msgspec.json.Encoder()


def shared_categories(link: ShareLink | RecipientLink) -> tuple[str, ...] | None:
    """The categories a share is narrowed to; None for the whole book or one visit."""
    return None if link.categories is None else tuple(link.categories.split(","))


def _instant(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def active(link: ShareLink, now: dt.datetime) -> bool:
    return link.revoked_at is None and link.expires_at > now and link.attempts_remaining > 0


def consent(link: ShareLink, now: dt.datetime, *, patient_reference: str) -> dict[str, Any]:
    """The share ``link`` as a FHIR R4 Consent."""
    categories = shared_categories(link) or CATEGORIES
    types = ["Patient", *(t for c in categories for t in TYPES_OF_CATEGORY.get(c, ()))]
    if link.visit_id is not None:  # a visit and what was recorded for it, of every kind
        types = ["Patient", *(t for c in CATEGORIES for t in TYPES_OF_CATEGORY[c])]
    patient = {"reference": patient_reference}
    if link.created_by == link.citizen_id:
        performer: dict[str, Any] = {**patient, "display": "the citizen"}
    else:
        performer = {
            "type": "RelatedPerson",
            "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{link.created_by}"},
            "display": "a guardian of the citizen",
        }
    provision: dict[str, Any] = {
        "type": "permit",
        "period": {"start": _instant(link.created_at), "end": _instant(link.expires_at)},
        "actor": [
            {
                "role": {
                    "coding": [
                        {
                            "system": PARTICIPATION,
                            "code": "IRCP",
                            "display": "information recipient",
                        }
                    ],
                    "text": "recipient of the SMART Health Link",
                },
                "reference": {"display": link.recipient or "whoever holds the link"},
            }
        ],
        "action": [{"coding": [{"system": CONSENT_ACTION, "code": "access", "display": "Access"}]}],
        "purpose": [{"system": ACT_REASON, "code": "TREAT", "display": "treatment"}],
        "class": [{"system": RESOURCE_TYPES, "code": name} for name in dict.fromkeys(types)],
    }
    if link.include_restricted:
        provision["securityLabel"] = [dict(label) for label in RESTRICTED_LABELS]
    else:
        provision["provision"] = [
            {"type": "deny", "securityLabel": [dict(label) for label in RESTRICTED_LABELS]}
        ]
    if link.visit_id is not None:
        provision["data"] = [
            {
                "meaning": "related",
                "reference": {
                    "type": "Encounter",
                    "identifier": {
                        "system": "urn:ietf:rfc:3986",
                        "value": f"urn:uuid:{link.visit_id}",
                    },
                    "display": "the visit shared (its id in the book)",
                },
            }
        ]
    what = {
        "ips": "the summary of the whole book",
        "visit": "one visit",
        "immunizations": "immunizations",
        "categories": "chosen categories: " + ", ".join(categories),
    }.get(link.content, link.content)
    return {
        "resourceType": "Consent",
        "id": str(link.id),
        "status": "active" if active(link, now) else "inactive",
        "scope": {
            "coding": [
                {"system": CONSENT_SCOPE, "code": "patient-privacy", "display": "Privacy Consent"}
            ]
        },
        "category": [
            {"coding": [{"system": LOINC, "code": "59284-0", "display": "Patient Consent"}]}
        ],
        "patient": patient,
        "dateTime": _instant(link.created_at),
        "performer": [performer],
        "sourceReference": {"display": f"SMART Health Link: {what}"},
        "policyRule": {
            "coding": [{"system": ACT_CODE, "code": "OPTIN", "display": "opt-in"}],
        },
        "provision": provision,
    }


class Consents:
    """The citizen's Consents, read from their shares. ``patient_of``: the reference to the
    citizen's Patient that a Consent read on its own names (the fullUrl the book's export gives
    that Patient, so both agree)."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        patient_of: Callable[[uuid.UUID], str] = lambda citizen_id: f"Patient/{citizen_id}",
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._patient_of = patient_of

    async def _links(
        self, citizen_id: uuid.UUID, consent_id: uuid.UUID | None = None
    ) -> Sequence[ShareLink]:
        query = select(ShareLink).where(ShareLink.citizen_id == citizen_id)
        if consent_id is not None:
            query = query.where(ShareLink.id == consent_id)
        async with self._uow() as uow:
            return (
                await uow.session.scalars(query.order_by(ShareLink.created_at.desc(), ShareLink.id))
            ).all()

    async def consent_resources(
        self, citizen_id: uuid.UUID, *, patient_reference: str
    ) -> list[tuple[str, bytes]]:
        """Each Consent (fullUrl, JSON), newest first: what the book's export carries."""
        now = self._clock.now()
        return [
            (
                f"urn:uuid:{link.id}",
                _encoder.encode(consent(link, now, patient_reference=patient_reference)),
            )
            for link in await self._links(citizen_id)
        ]

    async def searchset(self, citizen_id: uuid.UUID, *, base_url: str) -> bytes:
        """Every Consent of the citizen as a FHIR ``searchset`` Bundle, newest first."""
        now = self._clock.now()
        links = await self._links(citizen_id)
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "timestamp": _instant(now),
            "total": len(links),
            "entry": [
                {
                    "fullUrl": f"{base_url}/citizens/{citizen_id}/consents/{link.id}",
                    "resource": consent(link, now, patient_reference=self._patient_of(citizen_id)),
                    "search": {"mode": "match"},
                }
                for link in links
            ],
        }
        return _encoder.encode(bundle)

    async def one(self, citizen_id: uuid.UUID, consent_id: uuid.UUID) -> bytes:
        """One Consent of the citizen; ``NotFound`` otherwise."""
        found = await self._links(citizen_id, consent_id)
        if not found:
            raise NotFound("no such consent")
        return _encoder.encode(
            consent(found[0], self._clock.now(), patient_reference=self._patient_of(citizen_id))
        )
