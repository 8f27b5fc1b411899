"""The same document sent again is the same document, whatever its JSON formatting.

Two bodies hold the same content when their canonical forms are equal: the JSON Canonicalization
Scheme (RFC 8785, the ``rfc8785`` package: keys sorted by UTF-16 code units, numbers as ECMAScript
writes doubles, strings minimally escaped, no whitespace) of the Bundle without what a sender or
server regenerates on every send: ``Bundle.id``, ``Bundle.timestamp``, and ``meta.lastUpdated`` /
``meta.versionId`` of the Bundle and of each entry's resource (an emptied ``meta`` is dropped).
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
import rfc8785

_VOLATILE_META = ("lastUpdated", "versionId")
_MAX_SAFE_INTEGER = 2**53 - 1


def _strip_meta(resource: Any) -> None:
    if not isinstance(resource, dict):
        return
    meta = resource.get("meta")
    if isinstance(meta, dict):
        for name in _VOLATILE_META:
            meta.pop(name, None)
        if not meta:
            del resource["meta"]


def _as_doubles(node: Any) -> Any:
    """RFC 8785 numbers are IEEE 754 doubles: integers past 2^53 are written as such."""
    if isinstance(node, dict):
        return {key: _as_doubles(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_as_doubles(value) for value in node]
    if isinstance(node, int) and not isinstance(node, bool) and abs(node) > _MAX_SAFE_INTEGER:
        return float(node)
    return node


def canonical_sha256(body: bytes) -> str:
    """SHA-256 (hex) of the canonical form of a Bundle (JSON that decodes; it was parsed before)."""
    document = msgspec.json.decode(body)
    if isinstance(document, dict):
        document.pop("id", None)
        document.pop("timestamp", None)
        _strip_meta(document)
        for entry in document.get("entry") or ():
            if isinstance(entry, dict):
                _strip_meta(entry.get("resource"))
    try:
        canonical = rfc8785.dumps(document)
    except rfc8785.IntegerDomainError:
        canonical = rfc8785.dumps(_as_doubles(document))
    return hashlib.sha256(canonical).hexdigest()
