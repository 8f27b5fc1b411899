"""Signed ``GIAMDINHHS`` envelopes for tests: a test CA and facility certificate (cryptography),
the envelope around episodes' table files, and the facility's XML-DSig in ``CHUKYDONVI``
(signxml, enveloped, RSA-SHA256 / SHA-256 digests) as hospital systems produce it."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml.algorithms import SignatureMethod
from signxml.signer import XMLSigner

DSIG = "http://www.w3.org/2000/09/xmldsig#"


@dataclass(frozen=True)
class SigningIdentity:
    """A facility's signing key and certificate (PEM)."""

    key_pem: bytes
    cert_pem: str

    @property
    def sha256(self) -> str:
        cert = x509.load_pem_x509_certificate(self.cert_pem.encode())
        return cert.fingerprint(hashes.SHA256()).hex()


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@cache
def _ca() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Test CA"))
        .issuer_name(_name("Test CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


@cache
def signing_identity(common_name: str = "Bệnh viện Đa khoa Test") -> SigningIdentity:
    """A certificate issued by the test CA (cached per name: RSA keys take a while)."""
    ca_key, ca_cert = _ca()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .sign(ca_key, hashes.SHA256())
    )
    return SigningIdentity(
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
    )


Episode = Mapping[str, bytes] | Sequence[tuple[str, bytes | str]]
"""One HOSO: table files by LOAIHOSO, or (LOAIHOSO, content) pairs (content a str is put in
NOIDUNGFILE as is — for bad base64 and the like)."""


def _pairs(episode: Episode) -> list[tuple[str, bytes | str]]:
    if isinstance(episode, Mapping):
        return list(episode.items())
    return list(episode)


def envelope_tree(facility_code: str, episodes: Sequence[Episode]) -> etree._Element:
    root = etree.Element("GIAMDINHHS")
    unit = etree.SubElement(root, "THONGTINDONVI")
    etree.SubElement(unit, "MACSKCB").text = facility_code
    info = etree.SubElement(root, "THONGTINHOSO")
    etree.SubElement(info, "NGAYLAP").text = "20261120"
    etree.SubElement(info, "SOLUONGHOSO").text = str(len(episodes))
    listing = etree.SubElement(info, "DANHSACHHOSO")
    for episode in episodes:
        hoso = etree.SubElement(listing, "HOSO")
        for kind, content in _pairs(episode):
            file = etree.SubElement(hoso, "FILEHOSO")
            etree.SubElement(file, "LOAIHOSO").text = kind
            etree.SubElement(file, "NOIDUNGFILE").text = (
                content if isinstance(content, str) else base64.b64encode(content).decode()
            )
    etree.SubElement(root, "CHUKYDONVI")
    return root


def sign(root: etree._Element, identity: SigningIdentity) -> etree._Element:
    """``root`` signed (enveloped, the signature in ``CHUKYDONVI``)."""
    holder = root.find("CHUKYDONVI")
    assert holder is not None
    for child in list(holder):
        holder.remove(child)
    placeholder = etree.SubElement(holder, f"{{{DSIG}}}Signature", nsmap={"ds": DSIG})
    placeholder.set("Id", "placeholder")
    signer = XMLSigner(signature_algorithm=SignatureMethod.RSA_SHA256, digest_algorithm="sha256")
    return signer.sign(root, key=identity.key_pem, cert=identity.cert_pem)


def build_envelope(
    facility_code: str,
    episodes: Sequence[Episode],
    *,
    identity: SigningIdentity | None = None,
    signed: bool = True,
) -> bytes:
    """A ``GIAMDINHHS`` envelope of ``episodes``, signed by ``identity`` (the default test
    certificate) unless ``signed`` is False."""
    root = envelope_tree(facility_code, episodes)
    if signed:
        root = sign(root, identity or signing_identity())
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def tamper(envelope: bytes, old: bytes, new: bytes) -> bytes:
    """The envelope with one byte string replaced (after signing: the signature breaks)."""
    assert old in envelope
    return envelope.replace(old, new, 1)
