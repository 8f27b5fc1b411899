"""The SMART Health Cards format, with no I/O: keys and their thumbprints, the minified FHIR
Bundle, the compressed and signed JWS, the ``shc:/`` numeric text and its QR symbol, and the
parsing of a card handed to a verifier.

Libraries: PyJWT (over ``cryptography``) signs and verifies ES256 (raw ``r || s``, 64 bytes, as
JWS requires); ``zlib`` with ``wbits=-15`` is the raw DEFLATE the specification asks for;
``qrcode`` draws the symbol.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

import jwt
import msgspec
import qrcode
import qrcode.constants
import qrcode.util
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from qrcode.image.pil import PilImage

HEALTH_CARD_TYPE = "https://smarthealth.cards#health-card"
FHIR_VERSION = "4.0.1"
MEDIA_TYPE = "application/smart-health-card"
QR_PREFIX = "shc:/"
MAX_QR_JWS = 1195
"""The longest JWS one QR symbol holds (version 22, error correction L): larger cards go by a
SMART Health Link, never in chunks."""
MAX_QR_VERSION = 22
MAX_INPUT_BYTES = 256 * 1024
"""The largest card a verifier reads (a ``.smart-health-card`` file may hold several JWS)."""
_MAX_INFLATED = 2 * 1024 * 1024
_NUMERIC = re.compile(r"shc:/(\d+)", re.IGNORECASE)
_encoder = msgspec.json.Encoder()


class CardError(ValueError):
    """A card that does not conform; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


REASONS = (
    "malformed",
    "not_compressed",
    "untrusted_issuer",
    "kid_not_thumbprint",
    "kid_not_in_jwks",
    "bad_signature",
    "revoked",
    "issuer_unavailable",
    "not_yet_valid",
    "expired",
)
"""Why a card fails, as the verifier answers (README, "SMART Health Cards")."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- keys -----------------------------------------------------------------------------------


def public_jwk(key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    """The public key as the JWKS publishes it: ``kid`` its RFC 7638 thumbprint."""
    jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(key))
    return {
        "kty": "EC",
        "kid": thumbprint(jwk),
        "use": "sig",
        "alg": "ES256",
        "crv": jwk["crv"],
        "x": jwk["x"],
        "y": jwk["y"],
    }


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638: base64url SHA-256 of the required members, sorted, without whitespace."""
    if jwk.get("kty") != "EC":
        raise ValueError("only EC keys are health card keys")
    members = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def is_p256(key: object) -> bool:
    return isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"


# --- the payload ----------------------------------------------------------------------------

_DROPPED = frozenset({"id", "text"})


_SUBJECT_KEYS = frozenset({"subject", "patient"})
_PATIENT = "\0patient"
"""Where the card's Patient is, among ``urls`` (a name no reference can have)."""


def _minify(node: Any, urls: Mapping[str, str], *, top: bool, subject: str | None = None) -> Any:
    """A copy of a resource (``top``) or of one of its elements under the QR minification
    rules: no ``Resource.id``, no ``meta`` but its ``security``, no ``text`` narrative, no
    ``CodeableConcept.text``, no ``Coding.display``; references through ``urls`` (a reference
    to something not in the card is dropped, with its element when nothing else is left;
    ``subject``, set inside a ``subject`` or ``patient`` element, is where such a reference
    points instead: every record of the book is about its owner, the card's Patient)."""
    if isinstance(node, list):
        items = (_minify(item, urls, top=False, subject=subject) for item in node)
        return [item for item in items if item not in (None, {}, [])]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    is_coding = "system" in node and "code" in node
    is_concept = isinstance(node.get("coding"), list)
    for key, value in node.items():
        if top and key in _DROPPED:
            continue
        if key == "meta" and top:
            security = value.get("security") if isinstance(value, dict) else None
            if security:
                out["meta"] = {"security": _minify(security, urls, top=False)}
            continue
        if key == "display" and is_coding:
            continue
        if key == "text" and is_concept:
            continue
        if key == "reference" and isinstance(value, str):
            target = urls.get(value, subject)
            if target is not None:
                out[key] = target
            continue
        if key == "contained":
            continue
        minified = _minify(
            value, urls, top=False, subject=urls.get(_PATIENT) if key in _SUBJECT_KEYS else None
        )
        if minified in ({}, []):
            continue
        out[key] = minified
    return out


def minified_bundle(
    resources: Iterable[tuple[dict[str, Any], Iterable[str]]], *, patient_url: str | None = None
) -> dict[str, Any]:
    """A ``collection`` Bundle of ``resources`` (each with the references it is known by: its
    old fullUrl, ``Type/id``), entries ``resource:0``…, minified (:func:`_minify`);
    ``patient_url``: where an unresolved ``subject``/``patient`` reference points."""
    items = list(resources)
    urls: dict[str, str] = {_PATIENT: patient_url} if patient_url else {}
    for index, (resource, names) in enumerate(items):
        for name in names:
            urls.setdefault(name, f"resource:{index}")
        rid = resource.get("id")
        if isinstance(rid, str):
            urls.setdefault(f"{resource.get('resourceType')}/{rid}", f"resource:{index}")
    entries = [
        {"fullUrl": f"resource:{index}", "resource": _minify(resource, urls, top=True)}
        for index, (resource, _) in enumerate(items)
    ]
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def payload(
    *, issuer: str, nbf: int, types: Iterable[str], bundle: dict[str, Any], rid: str | None
) -> bytes:
    """The JWS payload, compact JSON (no whitespace)."""
    vc: dict[str, Any] = {
        "type": [HEALTH_CARD_TYPE, *types],
        "credentialSubject": {"fhirVersion": FHIR_VERSION, "fhirBundle": bundle},
    }
    if rid is not None:
        vc["rid"] = rid
    return _encoder.encode({"iss": issuer, "nbf": nbf, "vc": vc})


def deflate(data: bytes) -> bytes:
    """Raw DEFLATE (no zlib header or checksum), as the ``zip: DEF`` header means."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def inflate(data: bytes) -> bytes:
    decompressor = zlib.decompressobj(-15)
    try:
        out = decompressor.decompress(data, _MAX_INFLATED)
    except zlib.error as exc:
        raise CardError("not_compressed", "the payload is not raw DEFLATE") from exc
    if decompressor.unconsumed_tail:
        raise CardError("malformed", "the payload inflates to more than 2 MiB")
    if not decompressor.eof:
        raise CardError("not_compressed", "the payload is not a complete raw DEFLATE stream")
    return out


def sign(body: bytes, key: ec.EllipticCurvePrivateKey, kid: str) -> str:
    """The compact JWS: header ``{"alg":"ES256","zip":"DEF","kid"}``, the payload deflated."""
    return jwt.api_jws.encode(
        deflate(body), key, algorithm="ES256", headers={"zip": "DEF", "kid": kid, "typ": None}
    )


# --- numeric QR -----------------------------------------------------------------------------


def to_numeric(jws: str) -> str:
    """``shc:/`` and two digits per JWS character: its code point minus 45."""
    return QR_PREFIX + "".join(f"{ord(c) - 45:02d}" for c in jws)


def from_numeric(text: str) -> str:
    match = _NUMERIC.fullmatch(text.strip())
    if match is None:
        if text.strip().lower().startswith("shc:/"):
            raise CardError("malformed", "chunked or non-numeric shc:/ text is not read")
        raise CardError("malformed", "not shc:/ numeric text")
    digits = match.group(1)
    if len(digits) % 2:
        raise CardError("malformed", "shc:/ text has an odd number of digits")
    pairs = (int(digits[i : i + 2]) for i in range(0, len(digits), 2))
    chars: list[str] = []
    for value in pairs:
        if value > 77:  # beyond "z" (122 - 45)
            raise CardError("malformed", "shc:/ digit pair out of range")
        chars.append(chr(value + 45))
    return "".join(chars)


def _symbol(jws: str) -> qrcode.QRCode:
    """One QR symbol: ``shc:/`` in byte mode, then the digits in numeric mode (error correction
    L, as the specification's version-22 limit assumes)."""
    symbol = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_L, box_size=4, border=4)
    # QR modes: 4 = byte, 1 = numeric
    symbol.add_data(qrcode.util.QRData(QR_PREFIX.encode(), mode=4))
    symbol.add_data(qrcode.util.QRData(to_numeric(jws)[len(QR_PREFIX) :], mode=1))
    symbol.make(fit=True)
    return symbol


def fits_one_qr(jws: str) -> bool:
    return len(jws) <= MAX_QR_JWS


def qr_png(jws: str) -> bytes:
    image = _symbol(jws).make_image(image_factory=PilImage)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def qr_svg(jws: str) -> bytes:
    """Vector QR: one path, horizontal runs of dark modules merged (quiet zone included)."""
    matrix = _symbol(jws).get_matrix()
    size = len(matrix)
    parts: list[str] = []
    for y, row in enumerate(matrix):
        x = 0
        while x < size:
            if not row[x]:
                x += 1
                continue
            end = x
            while end < size and row[end]:
                end += 1
            parts.append(f"M{x} {y}h{end - x}v1h{x - end}z")
            x = end
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
        f'shape-rendering="crispEdges"><rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path d="{"".join(parts)}" fill="#000"/></svg>'
    ).encode()


def qr_version(jws: str) -> int:
    return int(_symbol(jws).version or 0)


# --- reading a card -------------------------------------------------------------------------


class Parsed(msgspec.Struct, frozen=True):
    """A JWS taken apart, nothing verified yet."""

    jws: str
    header: dict[str, Any]
    payload: dict[str, Any]
    compressed: bool


def card_texts(text: str) -> list[str]:
    """The JWS a verifier was handed: a ``.smart-health-card`` file (JSON), ``shc:/`` numeric
    text, or a bare compact JWS."""
    stripped = text.strip()
    if not stripped:
        raise CardError("malformed", "empty card")
    if stripped.startswith("{"):
        try:
            document = json.loads(stripped)
        except ValueError as exc:
            raise CardError("malformed", "the file is not JSON") from exc
        found = document.get("verifiableCredential") if isinstance(document, dict) else None
        if not isinstance(found, list) or not found or not all(isinstance(j, str) for j in found):
            raise CardError("malformed", "the file has no verifiableCredential list of JWS")
        return list(found)
    if stripped.lower().startswith("shc:/"):
        return [from_numeric(stripped)]
    return [stripped]


def parse(jws: str) -> Parsed:
    """Header and payload of a compact JWS (``zip: DEF`` inflated); raises :class:`CardError`."""
    parts = jws.split(".")
    if len(parts) != 3:
        raise CardError("malformed", "not a compact JWS (three base64url parts)")
    try:
        header = json.loads(b64url_decode(parts[0]))
        raw = b64url_decode(parts[1])
        b64url_decode(parts[2])
    except ValueError as exc:
        raise CardError("malformed", "the JWS parts are not base64url JSON") from exc
    if not isinstance(header, dict):
        raise CardError("malformed", "the JWS header is not an object")
    if header.get("alg") != "ES256":
        raise CardError("malformed", "the JWS algorithm is not ES256")
    if not isinstance(header.get("kid"), str):
        raise CardError("malformed", "the JWS header has no kid")
    if header.get("zip") != "DEF":
        raise CardError("not_compressed", 'the JWS header lacks "zip": "DEF"')
    body = inflate(raw)
    try:
        claims = json.loads(body)
    except ValueError as exc:
        raise CardError("malformed", "the inflated payload is not JSON") from exc
    _check_claims(claims)
    return Parsed(jws=jws, header=header, payload=claims, compressed=True)


def _check_claims(claims: Any) -> None:
    if not isinstance(claims, dict):
        raise CardError("malformed", "the payload is not an object")
    iss, nbf, vc = claims.get("iss"), claims.get("nbf"), claims.get("vc")
    if not isinstance(iss, str) or not iss:
        raise CardError("malformed", "the payload has no iss")
    if isinstance(nbf, bool) or not isinstance(nbf, int | float):
        raise CardError("malformed", "nbf is not a number of seconds")
    if not isinstance(vc, dict) or not isinstance(vc.get("type"), list):
        raise CardError("malformed", "the payload has no vc.type")
    if HEALTH_CARD_TYPE not in vc["type"]:
        raise CardError("malformed", f"vc.type lacks {HEALTH_CARD_TYPE}")
    subject = vc.get("credentialSubject")
    bundle = subject.get("fhirBundle") if isinstance(subject, dict) else None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise CardError("malformed", "vc.credentialSubject.fhirBundle is not a FHIR Bundle")


def check_signature(parsed: Parsed, jwk: Mapping[str, Any]) -> None:
    """Raises :class:`CardError` ``bad_signature`` unless the JWS verifies with ``jwk``."""
    try:
        key = ECAlgorithm(ECAlgorithm.SHA256).from_jwk(dict(jwk))
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise CardError("bad_signature", "the issuer key is not a public P-256 key")
        jwt.api_jws.decode_complete(parsed.jws, key, algorithms=["ES256"])
    except jwt.InvalidSignatureError as exc:
        raise CardError("bad_signature", "the signature does not verify") from exc
    except (jwt.InvalidKeyError, jwt.DecodeError, ValueError) as exc:
        raise CardError("bad_signature", f"the signature cannot be checked: {exc}") from exc


def revoked(crl: Mapping[str, Any], rid: str | None, nbf: float) -> bool:
    """Whether a CRL revokes a card with this ``rid`` issued at ``nbf``: ``rid`` alone revokes
    every such card, ``rid.<epoch>`` those issued before that second."""
    if rid is None or crl.get("method") != "rid":
        return False
    for entry in crl.get("rids") or []:
        if not isinstance(entry, str):
            continue
        value, _, when = entry.partition(".")
        if value != rid:
            continue
        if not when:
            return True
        if when.isdigit() and nbf < int(when):
            return True
    return False
