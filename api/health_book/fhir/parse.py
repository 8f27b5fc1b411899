"""Read an R4 Bundle from bytes, or refuse it whole with a :class:`FhirError`.

Checks run cheapest first: the caller's ``fhirVersion`` parameter, the size of the body, how deep
its JSON nests, then decoding. The Bundle is decoded with each entry's resource kept as raw JSON
(:class:`msgspec.Raw`, a view into the body). Each resource's ``resourceType`` is then read from
its first key when it comes first (as FHIR JSON writers put it) and the resource decoded into its
Struct when it is a type we read (:data:`READ_TYPES`). Other resources (Claim,
ExplanationOfBenefit, Goal, CarePlan, Provenance, ...) get a light decode of ``resourceType`` and
``id`` only: they stay raw, checked only to be JSON objects with a ``resourceType``. Measured on
the largest Synthea sample, a tagged union (``tag_field="resourceType"``) over the types we read
decodes the entries in about the same time (1.6 ms against 1.8 ms, best of 300), but it cannot
take a type it does not list: each Claim or Goal costs a failed decode and an exception before its
fallback. The dispatch keeps one path for every type.

Nesting: msgspec decodes recursively under CPython's recursion guard, so JSON nested deeper than
the interpreter's recursion limit (about 1,000 levels, less the caller's stack) makes it raise
``RecursionError``: a clean exception, never a crash. We do not rely on that alone: a byte scan
refuses bodies nested deeper than ``max_depth`` (64 by default; real FHIR nests about 12) before
decoding, and a ``RecursionError`` that still happens is answered the same way.

Validation: before any of that, the whole body is decoded as plain JSON and checked against R4
(:mod:`.validate`: the Bundle's own elements and every resource of a type the book keeps), and
every issue found is reported at once (422). Stored bodies read back for export skip it.

FHIR version: a ``fhir_version`` given by the caller (the ``fhirVersion`` parameter of the
``application/fhir+json`` media type, or a query parameter) must be R4 (``4.0``, ``4.0.x`` or
``R4``). A ``Bundle.meta.profile`` that names a core profile of another version, either through a
versioned canonical (``http://hl7.org/fhir/StructureDefinition/Bundle|5.0.0``) or a versioned base
(``http://hl7.org/fhir/R5/StructureDefinition/Bundle``), is refused. Nothing else is guessed.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from api.health_book.fhir.dates import PATTERN_NAMES
from api.health_book.fhir.outcome import FhirError, Issue
from api.health_book.fhir.resources import READ_TYPES, Bundle, Element, ResourceHead
from api.health_book.fhir.validate import validate_bundle

DEFAULT_MAX_BYTES = 10_000_000
DEFAULT_MAX_DEPTH = 64

ACCEPTED_BUNDLE_TYPES = frozenset({"document", "collection", "transaction", "batch", "searchset"})
"""Documents and visit summaries, a patient's history (collection, transaction, batch), and what a
FHIR server answers to ``$everything`` (searchset)."""

_CORE_BASE = "http://hl7.org/fhir/"
_OTHER_VERSION_BASES = frozenset(
    {"DSTU1", "DSTU2", "STU3", "R4B", "R5", "R6", "0.5", "1.0", "3.0", "4.3", "5.0", "6.0"}
)


class ParsedEntry(msgspec.Struct, kw_only=True, gc=False):
    """One ``Bundle.entry``: place, identity, decoded resource (if we read its type), raw JSON."""

    index: int
    key: str
    """Stable source key: ``Type/id``, else the fullUrl, else ``Bundle.entry[i]``."""
    full_url: str | None
    resource_type: str
    id: str | None
    resource: Element | None
    raw: msgspec.Raw

    @property
    def expression(self) -> str:
        return f"Bundle.entry[{self.index}].resource"


class ParsedBundle(msgspec.Struct, kw_only=True, gc=False):
    """The Bundle's own elements, its entries in order (those with a resource), and the body the
    raw views point into."""

    bundle: Bundle
    entries: list[ParsedEntry]
    body: bytes


_BUNDLE_DECODER = msgspec.json.Decoder(Bundle)
_HEAD_DECODER = msgspec.json.Decoder(ResourceHead)
_DECODERS = {name: msgspec.json.Decoder(cls) for name, cls in READ_TYPES.items()}

_LEADING_TYPE = re.compile(rb'\s*\{\s*"resourceType"\s*:\s*"([A-Za-z]{1,64})"')
_AT = re.compile(r" - at `\$(.*)`$")
_MISSING = re.compile(r"Object missing required field `([^`]+)`")
_KEEP_BRACKETS_AND_QUOTES = bytes(b for b in range(256) if b not in b'[]{}"')
_ONE_BRACKET_KIND = bytes.maketrans(b"[{]}", b"<<>>")
_MAX_ESCAPES_SCANNED = 2_000
_PEEL_PASSES = 64
_RUNS = re.compile(rb"<+|>+")
_OPEN = ord("<")


def parse_bundle(
    body: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    fhir_version: str | None = None,
    validate: bool = True,
) -> ParsedBundle:
    """Decode an R4 Bundle; raise :class:`FhirError` (an OperationOutcome's issues) if it is not.

    With ``validate`` (the default), the Bundle's elements and every resource of a type the book
    keeps are validated against R4 first (:mod:`.validate`), and every problem found is reported
    at once (422). Stored bodies read back for export skip that (they passed when received)."""
    if fhir_version is not None and not _is_r4(fhir_version):
        raise FhirError.single(
            "not-supported", f"fhirVersion {fhir_version!r} is not supported; send FHIR R4 (4.0)"
        )
    if len(body) > max_bytes:
        raise FhirError.single(
            "too-costly", f"the body is {len(body)} bytes; the limit is {max_bytes} bytes"
        )
    if nesting_depth(body, max_depth) > max_depth:
        raise FhirError.single("too-costly", f"JSON nests deeper than {max_depth} levels")
    if validate:
        _check_and_validate(body)
    try:
        bundle = _BUNDLE_DECODER.decode(body)
    except msgspec.ValidationError as err:
        raise _validation_error(err, "Bundle") from None
    except msgspec.DecodeError as err:
        raise FhirError.single("structure", f"the body is not valid JSON: {err}") from None
    except RecursionError:
        raise FhirError.single("too-costly", "JSON nests too deep to read") from None
    if bundle.resourceType != "Bundle":
        raise FhirError.single("invalid", f"expected a Bundle, got a {bundle.resourceType}")
    return ParsedBundle(bundle=bundle, entries=_decode_entries(bundle), body=body)


def _check_and_validate(body: bytes) -> None:
    """The whole body as JSON: a Bundle of R4, of a type we ingest, whose entries are resources
    and whose elements and kept resources are valid (every issue reported at once)."""
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError as err:
        raise FhirError.single("structure", f"the body is not valid JSON: {err}") from None
    except RecursionError:
        raise FhirError.single("too-costly", "JSON nests too deep to read") from None
    if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
        raise FhirError.single(
            "structure", "the body is not a FHIR resource: a JSON object with a resourceType"
        )
    if document["resourceType"] != "Bundle":
        raise FhirError.single("invalid", f"expected a Bundle, got a {document['resourceType']}")
    _check_profiles(document.get("meta"))
    bundle_type = document.get("type")
    if isinstance(bundle_type, str) and bundle_type not in ACCEPTED_BUNDLE_TYPES:
        raise FhirError.single(
            "not-supported",
            f"Bundle.type {bundle_type!r} is not ingested; send one of "
            + ", ".join(sorted(ACCEPTED_BUNDLE_TYPES)),
            "Bundle.type",
        )
    _check_entries_are_resources(document.get("entry"))
    issues = validate_bundle(document)
    if issues:
        raise FhirError(issues, status=422)


def _decode_entries(bundle: Bundle) -> list[ParsedEntry]:
    entries: list[ParsedEntry] = []
    seen_urls: set[str] = set()
    for index, entry in enumerate(bundle.entry):
        raw = entry.resource
        if not raw or (len(raw) == 4 and bytes(raw) == b"null"):
            continue
        full_url = entry.fullUrl
        if full_url is not None:
            if full_url in seen_urls:
                raise FhirError.single(
                    "invariant",
                    f"fullUrl {full_url!r} is used by more than one entry",
                    f"Bundle.entry[{index}].fullUrl",
                )
            seen_urls.add(full_url)
        prefix = f"Bundle.entry[{index}].resource"
        leading = _LEADING_TYPE.match(raw)
        resource_type = leading.group(1).decode() if leading is not None else ""
        decoder = _DECODERS.get(resource_type)
        resource: Element | None = None
        resource_id: str | None = None
        if decoder is None:
            try:
                head = _HEAD_DECODER.decode(raw)
            except msgspec.ValidationError as err:
                issue = _validation_issue(err, prefix)
                raise FhirError.single(
                    "structure", f"not a FHIR resource: {issue.diagnostics}", issue.expression
                ) from None
            except RecursionError:
                raise FhirError.single("too-costly", "JSON nests too deep", prefix) from None
            resource_type, resource_id = head.resourceType, head.id
            decoder = _DECODERS.get(resource_type)
        if decoder is not None:
            try:
                resource = decoder.decode(raw)
            except msgspec.ValidationError as err:
                raise _validation_error(err, prefix) from None
            except RecursionError:
                raise FhirError.single("too-costly", "JSON nests too deep", prefix) from None
            resource_id = resource.id  # type: ignore[attr-defined]  # every resource type has id
        if resource_id:
            key = f"{resource_type}/{resource_id}"
        else:
            key = full_url or f"Bundle.entry[{index}]"
        entries.append(
            ParsedEntry(
                index=index,
                key=key,
                full_url=full_url,
                resource_type=resource_type,
                id=resource_id,
                resource=resource,
                raw=raw,
            )
        )
    return entries


def nesting_depth(body: bytes, limit: int) -> int:
    """How deep arrays and objects nest in JSON ``body``, counted up to ``limit + 1``.

    Works on whole-buffer byte operations: keep only brackets and quotes (minding escapes), drop
    what is inside strings, then peel innermost ``[]``/``{}`` pairs one level per pass (each pass
    removes the leaves, so the number of passes is the depth); past ``_PEEL_PASSES`` levels the
    rest is counted by runs of brackets. Malformed JSON gives some number; the decoder then says
    what is wrong with it.
    """
    marks = _brackets_and_quotes(body)
    while b'""' in marks:
        # Two adjacent quotes close one string and open the next (or delimit an empty one):
        # dropping them leaves what lies outside strings unchanged.
        marks = marks.replace(b'""', b"")
    if b'"' in marks:
        marks = b"".join(marks.split(b'"')[::2])
    if b"<" * (limit + 1) in marks:
        return limit + 1
    depth = 0
    while marks and depth <= limit:
        if depth == _PEEL_PASSES:
            # Deep yet allowed: count what is left run by run rather than peel it pass by pass.
            level = deepest = 0
            for run in _RUNS.findall(marks):
                level += len(run) if run[0] == _OPEN else -len(run)
                deepest = max(deepest, level)
            return min(depth + deepest, limit + 1)
        peeled = marks.replace(b"<>", b"")
        if len(peeled) == len(marks):
            break
        marks = peeled
        depth += 1
    return depth


def _brackets_and_quotes(body: bytes) -> bytes:
    """``body`` reduced to its quotes and brackets (all as ``<``/``>``), escaped quotes gone."""
    position = body.find(b"\\")
    escaped_quotes: list[int] = []
    escapes = 0
    while position >= 0:  # memchr from escape to escape; the escaped character is skipped
        escapes += 1
        if escapes > _MAX_ESCAPES_SCANNED:
            # Runs of backslashes pair up left to right, so this drops exactly the escapes that
            # matter, in two whole-buffer passes.
            body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
            return body.translate(_ONE_BRACKET_KIND, _KEEP_BRACKETS_AND_QUOTES)
        if body[position + 1 : position + 2] == b'"':
            escaped_quotes.append(position + 1)
        position = body.find(b"\\", position + 2)
    if not escaped_quotes:
        return body.translate(_ONE_BRACKET_KIND, _KEEP_BRACKETS_AND_QUOTES)
    buffer = bytearray(body)
    for position in escaped_quotes:
        buffer[position] = 0x20  # a space: the translation drops it
    return bytes(buffer.translate(_ONE_BRACKET_KIND, _KEEP_BRACKETS_AND_QUOTES))


def _is_r4(version: str) -> bool:
    version = version.strip()
    return version == "R4" or version == "4.0" or version.startswith("4.0.")


def _check_entries_are_resources(entries: Any) -> None:
    """An entry's resource that is no FHIR resource at all makes the body unreadable (400)."""
    if not isinstance(entries, list):
        return
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if resource is None:
            continue
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise FhirError.single(
                "structure",
                "not a FHIR resource: a JSON object with a resourceType",
                f"Bundle.entry[{index}].resource.resourceType",
            )


def _check_profiles(meta: Any) -> None:
    profiles = meta.get("profile") if isinstance(meta, dict) else None
    if not isinstance(profiles, list):
        return
    for index, profile in enumerate(profiles):
        if not isinstance(profile, str):
            continue
        url, _, version = profile.partition("|")
        if not url.startswith(_CORE_BASE):
            continue
        named = version or url[len(_CORE_BASE) :].split("/", 1)[0]
        if (version and not _is_r4(version)) or named in _OTHER_VERSION_BASES:
            raise FhirError.single(
                "not-supported",
                f"profile {profile!r} is FHIR {named}, not R4",
                f"Bundle.meta.profile[{index}]",
            )


def _validation_error(err: msgspec.ValidationError, prefix: str) -> FhirError:
    return FhirError([_validation_issue(err, prefix)])


def _validation_issue(err: msgspec.ValidationError, prefix: str) -> Issue:
    """Turn msgspec's ``... - at `$.a[3].b``` into an issue at ``prefix.a[3].b``."""
    message = str(err)
    expression = prefix
    found = _AT.search(message)
    if found is not None:
        expression += found.group(1)
        message = message[: found.start()]
    missing = _MISSING.match(message)
    if missing is not None:
        return Issue(
            code="required",
            diagnostics=f"missing required element {missing.group(1)!r}",
            expression=f"{expression}.{missing.group(1)}",
        )
    if "matching regex" in message:
        for pattern, name in PATTERN_NAMES.items():
            if repr(pattern) in message:
                message = f"not {name}"
                break
    return Issue(code="value", diagnostics=message, expression=expression)
