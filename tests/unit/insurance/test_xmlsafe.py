"""The hardened XML parser refuses what QĐ 130 files never carry: DTDs, entities, oversize."""

from __future__ import annotations

import pytest

from api.insurance.xmlsafe import UnsafeXml, parse


def test_bom_and_cdata_are_read_as_text() -> None:
    root = parse(
        b'\xef\xbb\xbf<?xml version="1.0" encoding="utf-8"?><A><B><![CDATA[x < y]]></B></A>',
        max_bytes=1_000,
    )
    assert root.tag == "A"
    assert root[0].text == "x < y"


@pytest.mark.parametrize(
    "document",
    [
        b'<!DOCTYPE a [<!ENTITY x "yy">]><a>&x;</a>',
        b'<!DOCTYPE a SYSTEM "http://127.0.0.1:9/evil.dtd"><a/>',
        b'<!DOCTYPE z [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><z>&b;&b;</z>',
        b'<!DOCTYPE a [<!ENTITY f SYSTEM "file:///etc/passwd">]><a>&f;</a>',
    ],
)
def test_a_dtd_or_entity_is_refused(document: bytes) -> None:
    with pytest.raises(UnsafeXml, match="DTD"):
        parse(document, max_bytes=10_000)


def test_size_is_checked_before_parsing() -> None:
    with pytest.raises(UnsafeXml, match="at most 10 are accepted"):
        parse(b"<a>" + b"x" * 100 + b"</a>", max_bytes=10, what="envelope")


def test_malformed_xml_is_named() -> None:
    with pytest.raises(UnsafeXml, match="not well-formed"):
        parse(b"<a><b></a>", max_bytes=100)
