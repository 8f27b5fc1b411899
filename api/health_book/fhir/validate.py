"""Validation of a decoded Bundle against FHIR R4, listing every issue with its FHIRPath.

What is checked, for the Bundle's own elements and for every resource of a type the book keeps
(:data:`KEPT_TYPES`, tables in :mod:`.definitions`), including resources they contain:

- unknown elements (``structure``): an element R4 does not define for that type;
- cardinality (``required`` when a required element is missing; ``value`` for an array where
  one value is allowed, a single value where R4 wants an array, an empty array, two choices of
  one ``[x]`` element at once);
- datatype formats (``value``): JSON type, ``date``/``dateTime``/``instant`` (regex and calendar),
  ``time``, ``decimal``, ``integer``/``positiveInt``/``unsignedInt`` ranges, ``uri``, ``id``,
  ``code``, ``oid``, ``uuid``, ``base64Binary``, non-empty strings, ``Reference.reference``;
- required bindings (``value``): the codes R4 binds ``required`` (gender, statuses, intent, ...),
  for ``code`` elements and for CodeableConcepts (a coding of the value set's system must carry
  one of its codes).

Resources of other types (Claim, Provenance, ...) are not validated: the book neither keeps nor
exports them. Extensions are checked like any element (``url`` and one ``value[x]``).

The common case, a valid Bundle, is walked once without building any path; only when that walk
meets a problem is the Bundle walked again, building FHIRPath expressions and collecting every
issue.
"""

from __future__ import annotations

import re
from typing import Any

from api.health_book.fhir.dates import WhenCache
from api.health_book.fhir.definitions import (
    BUNDLE,
    CODE_SYSTEMS,
    DATATYPES,
    OPAQUE,
    PRIMITIVES,
    RESOURCES,
    VALUE_SETS,
)
from api.health_book.fhir.outcome import Issue

KEPT_TYPES = frozenset(name for name in RESOURCES if "." not in name)
"""The resource types the book stores, reads or exports: the only ones validated."""

_PRIMITIVE, _COMPLEX, _RESOURCE, _OPAQUE = 0, 1, 2, 3
_INT32 = 2**31


class _Element:
    __slots__ = ("cc_codes", "cc_system", "choice", "codes", "kind", "many", "plain", "type")

    def __init__(
        self,
        kind: int,
        type_: str,
        many: bool,
        codes: frozenset[str] | None,
        cc_system: str | None,
        choice: str | None,
    ) -> None:
        self.kind = kind
        self.type = type_
        self.many = many
        self.codes = codes if cc_system is None else None
        self.cc_system = cc_system
        self.cc_codes = codes if cc_system is not None else None
        self.choice = choice
        self.plain = kind == _PRIMITIVE and type_ in ("string", "markdown")
        """Any non-empty JSON string will do (checked inline, the commonest case)."""


class _Type:
    __slots__ = ("choices", "elements", "required")

    def __init__(self) -> None:
        self.elements: dict[str, _Element] = {}
        self.required: list[tuple[str, frozenset[str]]] = []
        """(name, the keys that satisfy it: each choice and its ``_`` primitive extension)."""
        self.choices: list[tuple[str, frozenset[str]]] = []


def _kind(type_: str) -> int:
    if type_ in PRIMITIVES:
        return _PRIMITIVE
    if type_ == "Resource":
        return _RESOURCE
    if type_ in OPAQUE:
        return _OPAQUE
    return _COMPLEX


_ELEMENT_BASE = "id string ?\nextension Extension *"
_BACKBONE_BASE = _ELEMENT_BASE + "\nmodifierExtension Extension *"
_RESOURCE_BASE = "id id ?\nmeta Meta ?\nimplicitRules uri ?\nlanguage code ?"
_DOMAIN_BASE = (
    _RESOURCE_BASE
    + "\ntext Narrative ?\ncontained Resource *\nextension Extension *"
    + "\nmodifierExtension Extension *"
)


def _compile(definition: str) -> _Type:
    compiled = _Type()
    for line in definition.splitlines():
        if not line.strip():
            continue
        name, types, card, *binding = line.split()
        codes = cc_system = None
        if binding:
            vs = binding[0]
            if vs.startswith("@"):
                vs = vs[1:]
                cc_system = CODE_SYSTEMS[vs]
            codes = VALUE_SETS[vs]
        many = card in "*+"
        if name.endswith("[x]"):
            base = name[:-3]
            keys = []
            for type_ in types.split("|"):
                suffix = "Quantity" if type_ == "SimpleQuantity" else type_
                key = base + suffix[0].upper() + suffix[1:]
                keys.append(key)
                compiled.elements[key] = _Element(_kind(type_), type_, many, codes, None, base)
            compiled.choices.append((base, frozenset(keys)))
            if card in "!+":
                satisfying = frozenset(keys) | {f"_{key}" for key in keys}
                compiled.required.append((f"{base}[x]", satisfying))
        else:
            compiled.elements[name] = _Element(_kind(types), types, many, codes, cc_system, None)
            if card in "!+":
                compiled.required.append((name, frozenset((name, f"_{name}"))))
    return compiled


def _build() -> dict[str, _Type]:
    types: dict[str, _Type] = {}
    for name, definition in DATATYPES.items():
        types[name] = _compile(_ELEMENT_BASE + "\n" + definition)
    for name, definition in RESOURCES.items():
        base = _BACKBONE_BASE if "." in name else _DOMAIN_BASE
        types[name] = _compile(base + "\n" + definition)
    for name, definition in BUNDLE.items():
        base = _BACKBONE_BASE if "." in name else _RESOURCE_BASE
        types[name] = _compile(base + "\n" + definition)
    return types


_TYPES = _build()

_CODE = re.compile(r"[^\s]+( [^\s]+)*")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_NO_SPACE = re.compile(r"\S+")
_OID = re.compile(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+")
_UUID = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_BASE64 = re.compile(r"(\s*([0-9a-zA-Z+/=]){4}\s*)+")
_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?")
_INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T.*")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_RELATIVE = re.compile(
    r"[A-Z][A-Za-z]{1,63}/[A-Za-z0-9\-.]{1,64}(/_history/[A-Za-z0-9\-.]{1,64})?"
    r"|[A-Z][A-Za-z]{1,63}\?\S*"
)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    return "an object"


class _Stop(Exception):
    """The quick walk met a problem: walk again, collecting every issue."""


class _Walk:
    __slots__ = ("dates", "issues")

    def __init__(self, collect: bool) -> None:
        self.issues: list[Issue] | None = [] if collect else None
        self.dates = WhenCache()

    def add(self, code: str, diagnostics: str, path: str | None) -> None:
        if self.issues is None:
            raise _Stop
        # code: one of the IssueType literals, given by each caller
        self.issues.append(Issue(code=code, diagnostics=diagnostics, expression=path))  # type: ignore[arg-type]

    # primitives -------------------------------------------------------------------------------

    def primitive(self, value: Any, type_: str, codes: frozenset[str] | None, path: Any) -> None:
        if type_ == "boolean":
            if not isinstance(value, bool):
                self.add("value", f"expected a boolean, got {_json_type(value)}", path)
            return
        if type_ in ("integer", "positiveInt", "unsignedInt"):
            if not isinstance(value, int) or isinstance(value, bool):
                self.add("value", f"expected an integer, got {_json_type(value)}", path)
            elif type_ == "positiveInt" and not 0 < value < _INT32:
                self.add("value", f"{value} is not a positiveInt (1 to 2^31-1)", path)
            elif type_ == "unsignedInt" and not 0 <= value < _INT32:
                self.add("value", f"{value} is not an unsignedInt (0 to 2^31-1)", path)
            elif not -_INT32 <= value < _INT32:
                self.add("value", f"{value} is out of the 32-bit integer range", path)
            return
        if type_ == "decimal":
            if not isinstance(value, int | float) or isinstance(value, bool):
                self.add("value", f"expected a decimal number, got {_json_type(value)}", path)
            return
        if not isinstance(value, str):
            self.add("value", f"expected {type_} (a JSON string), got {_json_type(value)}", path)
            return
        if not value:
            self.add("value", "empty string: leave the element out instead", path)
            return
        if type_ in ("string", "markdown"):
            return
        if type_ == "code":
            if not _CODE.fullmatch(value):
                self.add(
                    "value",
                    f"{value!r} is not a code (no leading, trailing or double whitespace)",
                    path,
                )
            elif codes is not None and value not in codes:
                self.add(
                    "value",
                    f"{value!r} is not one of the allowed codes: " + ", ".join(sorted(codes)),
                    path,
                )
        elif type_ in ("uri", "url", "canonical"):
            if not _NO_SPACE.fullmatch(value):
                self.add("value", f"{value!r} is not a {type_} (no whitespace allowed)", path)
        elif type_ in ("dateTime", "date", "instant"):
            self.when(value, type_, path)
        elif type_ == "id":
            if not _ID.fullmatch(value):
                self.add("value", f"{value!r} is not an id (1-64 of A-Z a-z 0-9 - .)", path)
        elif type_ == "time":
            if not _TIME.fullmatch(value):
                self.add("value", f"{value!r} is not a FHIR time (hh:mm:ss)", path)
        elif type_ == "oid":
            if not _OID.fullmatch(value):
                self.add("value", f"{value!r} is not an oid (urn:oid:...)", path)
        elif type_ == "uuid":
            if not _UUID.fullmatch(value):
                self.add("value", f"{value!r} is not a uuid (urn:uuid:..., lower case)", path)
        elif type_ == "base64Binary":
            if not _BASE64.fullmatch(value):
                self.add("value", "not base64Binary", path)
        elif type_ == "xhtml" and not value.lstrip().startswith("<div"):
            self.add("value", "the narrative must be an XHTML <div> element", path)

    def when(self, value: str, type_: str, path: Any) -> None:
        try:
            when = self.dates.get(value)
        except ValueError:
            when = None
        if type_ == "dateTime":
            if when is None:
                self.add(
                    "value",
                    f"{value!r} is not a FHIR dateTime (YYYY, YYYY-MM, YYYY-MM-DD or "
                    "YYYY-MM-DDThh:mm:ss+zz:zz, a real calendar date)",
                    path,
                )
        elif type_ == "date":
            if when is None or when.precision == "second":
                self.add(
                    "value",
                    f"{value!r} is not a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)",
                    path,
                )
        elif when is None or when.precision != "second" or not _INSTANT.fullmatch(value):
            self.add(
                "value",
                f"{value!r} is not a FHIR instant (YYYY-MM-DDThh:mm:ss[.sss]+zz:zz)",
                path,
            )

    # structures -------------------------------------------------------------------------------

    def resource(self, node: Any, path: Any) -> None:
        """A resource inside the Bundle (entry, contained, outcome): validated when kept."""
        if not isinstance(node, dict):
            self.add("structure", f"expected a resource (object), got {_json_type(node)}", path)
            return
        resource_type = node.get("resourceType")
        if not isinstance(resource_type, str):
            where = None if path is None else f"{path}.resourceType"
            self.add("structure", "not a FHIR resource: no resourceType", where)
            return
        if resource_type in KEPT_TYPES:
            self.complex(node, resource_type, path, resource=True)

    def complex(self, node: Any, type_: str, path: Any, *, resource: bool = False) -> None:
        if not isinstance(node, dict):
            self.add("value", f"expected {type_} (an object), got {_json_type(node)}", path)
            return
        if not node:
            self.add("value", f"empty {type_.split('.')[-1]} object: leave it out instead", path)
            return
        spec = _TYPES[type_]
        elements = spec.elements
        for key, value in node.items():
            element = elements.get(key)
            if element is None:
                if key.startswith("_") and key[1:] in elements:
                    self.primitive_extension(node, key, elements[key[1:]], path)
                elif not (resource and key == "resourceType"):
                    self.add(
                        "structure",
                        f"unknown element {key!r} in {type_.split('.')[0]}",
                        None if path is None else f"{path}.{key}",
                    )
                continue
            if element.plain and value.__class__ is str and value:
                continue
            child = None if path is None else f"{path}.{key}"
            if element.many:
                if not isinstance(value, list):
                    self.add("value", f"{key} repeats: send an array", child)
                    continue
                if not value:
                    self.add("value", f"{key} is an empty array: leave it out instead", child)
                    continue
                for index, item in enumerate(value):
                    if item is None and element.kind == _PRIMITIVE and f"_{key}" in node:
                        continue
                    self.value(item, element, None if child is None else f"{child}[{index}]")
            elif isinstance(value, list):
                self.add("value", f"{key} allows one value, not an array", child)
            else:
                self.value(value, element, child)
        present_keys = node.keys()
        for name, keys in spec.required:
            if present_keys.isdisjoint(keys):
                self.add(
                    "required",
                    f"missing required element {name!r} of {type_}",
                    None if path is None else f"{path}.{name}",
                )
        for base, keys in spec.choices:
            present = present_keys & keys
            if len(present) > 1:
                self.add(
                    "value",
                    f"more than one {base}[x] element: " + ", ".join(sorted(present)),
                    None if path is None else f"{path}.{base}[x]",
                )
        if type_ == "Reference":
            self.reference(node.get("reference"), path)

    def value(self, value: Any, element: _Element, path: Any) -> None:
        kind = element.kind
        if kind == _PRIMITIVE:
            self.primitive(value, element.type, element.codes, path)
        elif kind == _COMPLEX:
            self.complex(value, element.type, path)
            if element.cc_system is not None and isinstance(value, dict):
                self.concept_binding(value, element, path)
        elif kind == _RESOURCE:
            self.resource(value, path)
        elif not isinstance(value, dict):
            self.add("value", f"expected {element.type} (an object)", path)

    def primitive_extension(
        self, node: dict[str, Any], key: str, element: _Element, path: Any
    ) -> None:
        value = node[key]
        where = None if path is None else f"{path}.{key}"
        if element.kind != _PRIMITIVE:
            self.add("structure", f"unknown element {key!r}", where)
            return
        items = value if element.many and isinstance(value, list) else [value]
        if element.many and not isinstance(value, list):
            self.add("value", f"{key} repeats: send an array", where)
            return
        for item in items:
            if item is None and element.many:
                continue
            self.complex(item, "Extension.holder", where)

    def concept_binding(self, concept: dict[str, Any], element: _Element, path: Any) -> None:
        system, codes = element.cc_system, element.cc_codes
        assert codes is not None
        codings = concept.get("coding")
        found = False
        if isinstance(codings, list):
            for index, coding in enumerate(codings):
                if not isinstance(coding, dict) or coding.get("system") != system:
                    continue
                code = coding.get("code")
                if code in codes:
                    found = True
                else:
                    self.add(
                        "value",
                        f"{code!r} is not a code of {system}: one of " + ", ".join(sorted(codes)),
                        None if path is None else f"{path}.coding[{index}].code",
                    )
                    return
        if not found:
            self.add(
                "value",
                f"needs a coding of {system} (one of {', '.join(sorted(codes))})",
                path,
            )

    def reference(self, reference: Any, path: Any) -> None:
        if not isinstance(reference, str) or not reference or reference[0] == "#":
            return
        if _SCHEME.match(reference):
            if not _NO_SPACE.fullmatch(reference):
                self.add(
                    "value",
                    f"{reference!r} is not a reference (whitespace)",
                    path and f"{path}.reference",
                )
        elif not _RELATIVE.fullmatch(reference):
            self.add(
                "value",
                f"{reference!r} is not a reference: use Type/id, an absolute URL, "
                "urn:uuid:/urn:oid: or #contained",
                None if path is None else f"{path}.reference",
            )


_TYPES["Extension.holder"] = _compile(_ELEMENT_BASE)


def validate_bundle(bundle: dict[str, Any]) -> list[Issue]:
    """Every issue of the Bundle's own elements and of its kept resources (none: valid)."""
    try:
        _Walk(collect=False).complex(bundle, "Bundle", None, resource=True)
    except _Stop:
        walk = _Walk(collect=True)
        walk.complex(bundle, "Bundle", "Bundle", resource=True)
        return walk.issues or []
    return []


def validate_resource(resource: dict[str, Any], path: str) -> list[Issue]:
    """Every issue of one resource of a kept type (for resources made or read outside a Bundle)."""
    walk = _Walk(collect=True)
    walk.resource(resource, path)
    return walk.issues or []
