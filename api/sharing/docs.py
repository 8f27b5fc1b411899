"""OpenAPI examples of the sharing routes."""

from __future__ import annotations

from api.core.openapi import examples

CREATE_DESCRIPTION = (
    "201 with the `shlink:/` payload (the only time its key is shown), a viewer URL carrying it "
    "after `#` (this service's `/viewer` unless SHARING_VIEWER_URL names another), and its QR "
    "code (PNG, base64). `expires_at` is required and at most "
    "SHARING_MAX_DAYS ahead; a `passcode` adds flag `P`, `long_term` flag `L` (each access gets "
    "the same choice from the book as it is then), `direct` flag `U` (the URL is the file, "
    "fetched by `GET ?recipient=`; never with a `passcode`: 400 naming `direct`).\n\n"
    "What is shared (`content`), always an IPS-shaped FHIR R4 `document` Bundle: `ips`, the "
    "summary of the whole book; `visit` with `visit_id` (a visit's id from "
    "`GET /citizens/me/health-book/visits`), that visit and what was recorded for it; "
    "`immunizations`; `categories` with `categories` (one or more of the book's categories). "
    "Sections left out say `emptyReason` `withheld`. A visit unknown to this book, a "
    "`visit_id` or `categories` without their `content`, or an empty or unknown category: 400 "
    "naming the field.\n\n"
    "Restricted data (HIV/TB care from the insurance records, and anything a hospital labelled "
    "restricted, v3-Confidentiality `R` or `V`) is never shared unless `include_restricted` is "
    "ticked for this share; a guardian may not tick it (403). `recipient` (≤ 80 characters) "
    "says whom it is for: the actor of the share's FHIR Consent (`GET …/consents/{id}`)."
)
CONSENT_DESCRIPTION = (
    "`application/fhir+json`. Each share is a FHIR R4 `Consent`: `status` `active` while the "
    "link works, `inactive` once revoked, expired or disabled; `scope` `patient-privacy`; "
    "`category` LOINC 59284-0; `performer` the citizen or the guardian who made it; "
    "`policyRule` v3-ActCode `OPTIN`; `provision` `permit` for the link's period, to the "
    "recipient (`IRCP`, the recipient hint), action `access`, purpose `TREAT`, `class` the "
    "FHIR resource types shared; restricted data (v3-Confidentiality `R`, `V`) in "
    "`securityLabel` when ticked, else denied by a nested provision. The book's collection "
    "export carries them too."
)
CREATE_EXAMPLES = examples(
    a_week_with_a_passcode={
        "expires_at": "2026-12-14T17:00:00+07:00",
        "label": "Tóm tắt sức khỏe cho bác sĩ",
        "recipient": "BS. Nguyễn Văn An, Phòng khám Đa khoa Hòa Bình",
        "passcode": "2468",
        "long_term": False,
    },
    one_visit={
        "expires_at": "2026-12-08T17:00:00+07:00",
        "content": "visit",
        "visit_id": "3f2c9a4e-8d1b-4c7a-9e5f-2b6d8a1c4e90",
        "recipient": "Bác sĩ tái khám",
    },
    immunizations_for_school={
        "expires_at": "2027-01-31T17:00:00+07:00",
        "content": "immunizations",
        "label": "Tiêm chủng của bé",
        "recipient": "Trường Mầm non Hoa Sen",
        "long_term": True,
    },
    chosen_categories_with_restricted_data={
        "expires_at": "2026-12-21T17:00:00+07:00",
        "content": "categories",
        "categories": ["conditions", "medications", "observations"],
        "include_restricted": True,
        "recipient": "Phòng khám ngoại trú HIV",
        "passcode": "8642",
    },
)
MANIFEST_EXAMPLES = examples(
    a_recipient_with_the_passcode={
        "recipient": "Dr. Nguyễn Văn An",
        "passcode": "2468",
        "embeddedLengthMax": 4096,
    }
)
