"""Our key sets: EdDSA for our own tokens, ES384 and RS384 for client assertions to facilities;
rotation, older folders, and keys that must not cross over."""

from __future__ import annotations

import datetime as dt
import json
import time

import jwt
import pytest

from api.core.security import ALGORITHMS, SigningKeyError, SigningKeys, generate_key_file, rotate

KEEP = dt.timedelta(days=7)


def claims() -> dict[str, object]:
    now = int(time.time())
    return {"iss": "us", "sub": "x", "iat": now, "exp": now + 60, "jti": "j"}


def test_rotation_makes_one_key_per_algorithm_and_each_signs_with_its_own(tmp_path) -> None:
    rotate(tmp_path, KEEP)
    rotate(tmp_path, KEEP)
    keys = SigningKeys(tmp_path, verify_keep=KEEP, generate_if_missing=False)
    published = keys.jwks()["keys"]
    assert sorted(k["alg"] for k in published) == sorted(ALGORITHMS * 2)
    assert all(not {"d", "p", "q"} & set(k) for k in published)
    for alg in ALGORITHMS:
        token = keys.sign(claims(), typ="JWT", alg=alg)
        header = jwt.get_unverified_header(token)
        assert header["alg"] == alg
        jwk = next(k for k in published if k["kid"] == header["kid"])
        assert jwk["alg"] == alg
        assert keys.is_signer(header["kid"])
        decoded = jwt.decode(token, jwt.PyJWK.from_dict(jwk).key, algorithms=[alg])
        assert decoded["sub"] == "x"


def test_an_older_folder_of_ed25519_keys_keeps_working(tmp_path) -> None:
    kid = generate_key_file(tmp_path)
    path = tmp_path / f"{kid}.json"
    record = json.loads(path.read_text())
    del record["alg"]  # as the previous release wrote it
    path.write_text(json.dumps(record))
    production = SigningKeys(tmp_path, verify_keep=KEEP, generate_if_missing=False)
    assert production.signer.kid == kid
    with pytest.raises(SigningKeyError, match=r"no active ES384 signing key.*keys rotate"):
        production.signer_for("ES384")
    embedded = SigningKeys(tmp_path, verify_keep=KEEP, generate_if_missing=True)
    assert embedded.signer.kid == kid
    assert embedded.signer_for("ES384").alg == "ES384"  # made at start
    assert "RS384" not in {k["alg"] for k in embedded.jwks()["keys"]}
    rsa = embedded.signer_for("RS384")  # made at its first use
    other_process = SigningKeys(tmp_path, verify_keep=KEEP, generate_if_missing=False)
    assert rsa.kid in {k["kid"] for k in other_process.jwks()["keys"]}


def test_our_tokens_never_verify_with_an_assertion_key(tmp_path) -> None:
    rotate(tmp_path, KEEP)
    keys = SigningKeys(tmp_path, verify_keep=KEEP, generate_if_missing=False)
    es384 = keys.signer_for("ES384")
    forged = jwt.encode(
        claims(),
        es384.private_key,
        algorithm="ES384",
        headers={"kid": es384.kid, "typ": "at+jwt"},
    )
    with pytest.raises(jwt.InvalidTokenError):
        keys.verify(forged, typ="at+jwt", issuer="us", audience=None, leeway=0)
    relabelled = forged.split(".")
    header = json.loads(jwt.utils.base64url_decode(relabelled[0]))
    header["alg"] = "EdDSA"
    relabelled[0] = jwt.utils.base64url_encode(json.dumps(header).encode()).decode()
    with pytest.raises(jwt.InvalidTokenError, match="unknown key id"):
        keys.verify(".".join(relabelled), typ="at+jwt", issuer="us", audience=None, leeway=0)


def test_a_check_in_code_naming_an_assertion_key_is_refused_not_a_crash(tmp_path) -> None:
    """An ES384 key's kid in an EdDSA check-in code is an invalid code (its public key cannot
    check an Ed25519 signature), never a server error."""
    import uuid

    from api.checkin.errors import CheckInCodeInvalid
    from api.checkin.tokens import CheckInTokens

    rotate(tmp_path, KEEP)
    keys = SigningKeys(tmp_path, verify_keep=KEEP, generate_if_missing=False)
    tokens = CheckInTokens(
        keys,
        issuer="https://hb.example",
        secret="s" * 32,
        lead=dt.timedelta(hours=1),
        grace=dt.timedelta(hours=1),
    )
    issued = tokens.issue(uuid.uuid4(), "01001", dt.datetime.now(dt.UTC), 1)
    assert tokens.verify(issued.token).facility_id == "01001"
    head, payload, signature = issued.token.split(".")
    header = json.loads(jwt.utils.base64url_decode(head))
    header["kid"] = keys.signer_for("ES384").kid
    crossed = jwt.utils.base64url_encode(json.dumps(header).encode()).decode()
    with pytest.raises(CheckInCodeInvalid):
        tokens.verify(f"{crossed}.{payload}.{signature}")
