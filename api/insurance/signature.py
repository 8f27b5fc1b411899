"""``CHUKYDONVI``: the facility's XML-DSig over the envelope, checked against its registered
certificates with signxml.

The signature is enveloped (``Reference URI=""`` with the enveloped-signature transform) and
placed in ``CHUKYDONVI``; its digest is SHA-256 and covers ``THONGTINDONVI`` … ``THONGTINHOSO``.
What is read afterwards is the *signed* tree signxml returns, never the bytes as sent, so nothing
outside the signature's coverage can be slipped in beside it ("see what is signed").
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Sequence

import msgspec
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from lxml import etree
from signxml.algorithms import DigestAlgorithm
from signxml.exceptions import SignXMLException
from signxml.verifier import SignatureConfiguration, XMLVerifier

DSIG = "http://www.w3.org/2000/09/xmldsig#"


class SignatureError(ValueError):
    """The envelope carries no valid signature from one of the facility's certificates."""


class Verified(msgspec.Struct, frozen=True, kw_only=True):
    root: etree._Element
    """The signed tree (``GIAMDINHHS`` less the signature)."""
    certificate_sha256: str
    signature_value: str
    """The base64 ``SignatureValue`` (kept in the Provenance)."""
    signed_at: dt.datetime | None


def fingerprint(pem: str | bytes) -> str:
    """SHA-256 of the certificate's DER, lower-case hex."""
    return load_certificate(pem).fingerprint(hashes.SHA256()).hex()


def load_certificate(pem: str | bytes) -> x509.Certificate:
    """An X.509 certificate from PEM; ValueError when it is not one."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise ValueError(f"not a PEM X.509 certificate: {exc}") from None


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _config(now: dt.datetime) -> SignatureConfiguration:
    return SignatureConfiguration(
        location=".//",
        verification_time=now,
        expect_references=1,
        digest_algorithms=frozenset({DigestAlgorithm.SHA256}),
    )


def verify(document: bytes, certificates: Sequence[str], *, now: dt.datetime) -> Verified:
    """Verify ``document`` (already known to be safe XML) against any of ``certificates`` (PEM)."""
    if not certificates:
        raise SignatureError("the facility has no registered signing certificate")
    config = _config(now)
    last: str = "no certificate matched"
    for pem in certificates:
        cert = load_certificate(pem)
        try:
            result = XMLVerifier().verify(
                document, x509_cert=cert, parser=_parser(), expect_config=config
            )
        except SignXMLException as exc:
            last = str(exc) or type(exc).__name__
            continue
        results = result if isinstance(result, list) else [result]
        signed = results[0].signed_xml
        if signed is None or etree.QName(signed).localname != "GIAMDINHHS":
            raise SignatureError("the signature must cover the whole GIAMDINHHS envelope")
        value = results[0].signature_xml.find(f"{{{DSIG}}}SignatureValue")
        return Verified(
            root=signed,
            certificate_sha256=cert.fingerprint(hashes.SHA256()).hex(),
            signature_value="".join((value.text or "").split()) if value is not None else "",
            signed_at=None,
        )
    raise SignatureError(f"the CHUKYDONVI signature does not verify: {last}")


def signature_base64(root: etree._Element) -> str | None:
    """The ``ds:Signature`` element under ``CHUKYDONVI``, base64 of its bytes (for Provenance)."""
    found = root.find(f".//{{{DSIG}}}Signature")
    if found is None:
        return None
    return base64.b64encode(etree.tostring(found)).decode()
