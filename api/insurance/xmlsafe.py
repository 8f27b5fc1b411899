"""Parse XML from outside without trusting it: no DTD, no entities, no network, bounded size.

Every XML document the insurance domain reads (the ``GIAMDINHHS`` envelope and each table file
inside it) goes through :func:`parse`. A document that declares a DTD is refused outright (that is
where entity bombs and external entities live; the QĐ 130 files never carry one), entities are
never expanded, nothing is fetched, and the size is checked before a byte is parsed. A UTF-8 byte
order mark is accepted; CDATA sections read as text.
"""

from __future__ import annotations

from lxml import etree

UTF8_BOM = b"\xef\xbb\xbf"


class UnsafeXml(ValueError):
    """The document is not well-formed, too large, or declares a DTD or entities."""


def _parser() -> etree.XMLParser:
    # A parser per call: lxml parsers keep state and are not safe to share between threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        strip_cdata=True,
    )


def parse(data: bytes, *, max_bytes: int, what: str = "document") -> etree._Element:
    """The root element of ``data``; :class:`UnsafeXml` names what is wrong otherwise."""
    if len(data) > max_bytes:
        raise UnsafeXml(f"the {what} is {len(data):,} bytes; at most {max_bytes:,} are accepted")
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    try:
        tree = etree.fromstring(data, parser=_parser()).getroottree()
    except etree.XMLSyntaxError as exc:
        raise UnsafeXml(f"the {what} is not well-formed XML: {exc.msg}") from None
    docinfo = tree.docinfo
    # lxml-stubs 0.5.1 does not declare DocInfo.doctype, which lxml has always had
    doctype: str = docinfo.doctype  # pyright: ignore[reportAttributeAccessIssue]
    if doctype or docinfo.internalDTD is not None:
        raise UnsafeXml(f"the {what} declares a DTD, which is not accepted")
    root = tree.getroot()
    # lxml filters the nodes by kind in C (a Python look at every node was a tenth of reading
    # a table file)
    if next(root.iter(etree.Entity), None) is not None:
        raise UnsafeXml(f"the {what} uses entities, which are not accepted")
    return root
