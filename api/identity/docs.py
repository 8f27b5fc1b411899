"""OpenAPI documentation of the identity routes: request examples and the problems they answer."""

from __future__ import annotations

from api.core.errors import Conflict, InvalidInput, NotFound
from api.core.guards import INSUFFICIENT_SCOPE, INVALID_TOKEN
from api.core.openapi import examples, problem_responses

TOKEN_EXAMPLES = examples(
    citizen_login={
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e30.c2lnbmF0dXJl",
        "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
    },
    refresh={"grant_type": "refresh_token", "refresh_token": "rt1.Zk9x2Qa7Lm3PwT8s"},
    hospital_client={
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": "eyJhbGciOiJFZERTQSIsImtpZCI6ImhpcyJ9.e30.c2lnbmF0dXJl",
    },
)
LOGOUT_EXAMPLES = examples(end_this_session={"refresh_token": "rt1.Zk9x2Qa7Lm3PwT8s"})
PROVIDER_EXAMPLES = examples(
    national_identity_provider={
        "id": "vneid",
        "issuer": "https://id.example.gov.vn",
        "jwks_uri": "https://id.example.gov.vn/.well-known/jwks.json",
        "audiences": ["so-suc-khoe"],
        "algorithms": ["RS256"],
        "assurance_claim": "acr",
        "min_assurance": 2,
        "dependents_claim": "dependents",
    }
)
CLIENT_EXAMPLES = examples(
    hospital={
        "kind": "hospital",
        "name": "HIS Bệnh viện Đa khoa Tỉnh",
        "facility_id": "01001",
        "jwks": {
            "keys": [
                {
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                    "kid": "his-2026-01",
                    "alg": "EdDSA",
                    "use": "sig",
                }
            ]
        },
    }
)
CLIENT_UPDATE_EXAMPLES = examples(disable={"enabled": False}, rename={"name": "HIS mới"})
GUARDIANSHIP_EXAMPLES = examples(
    parent={
        "guardian_national_id": "001090000001",
        "dependent_national_id": "001218000003",
        "kind": "parent",
        "dependent_birth_date": "2018-06-01",
    }
)

DEMO_ID_TOKEN_EXAMPLES = examples(demo_citizen={"national_id": "001090000001"})

AUTH_ERRORS = problem_responses(INVALID_TOKEN, INSUFFICIENT_SCOPE)
"""What a route behind a bearer token may answer besides its own problems."""
ADMIN_ERRORS = problem_responses(
    INVALID_TOKEN, INSUFFICIENT_SCOPE, NotFound.problem, Conflict.problem, InvalidInput.problem
)
"""What an operator's route may answer."""
