"""What every request's input must be before a handler sees it.

**JSON bodies are decoded strictly into the handler's ``data`` type.** Litestar converts a
decoded body to the handler's type in msgspec's lax mode, which turns ``0`` into ``false``,
``"5"`` into ``5`` and ``1.5`` into a timestamp: a body the schema says is invalid would be
accepted. :class:`StrictRequest` (the app's ``request_class``) decodes the body straight into the
``data`` annotation with ``strict=True``; what does not match is a 400 ``validation-error``
naming the field, as the framework's own validation answers it. Handlers without a typed
``data`` parameter get the plain decoded JSON, as before.

**Text is UTF-8.** JSON (RFC 8259 §8.1) and form bodies whose bytes are not UTF-8 — raw, or
percent-encoded in a form — are a 400 ``malformed-body`` at the edge, before any decoder sees
them; so is a form endpoint (``/auth/token``) sent another content type, a 415.

**No text carries a NUL character.** PostgreSQL cannot store U+0000 in text, so a NUL reaching a
query is a 500 there (and a silently different value elsewhere). It is refused with a 400 at the
edge: in the path, the query string and headers (:func:`refuse_nul`, a ``before_request`` hook)
and in JSON and form bodies (:class:`StrictRequest`). FHIR bodies, read as a stream, are checked
by their reader.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

import msgspec
from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException
from litestar.types import Empty

from api.core.errors import FieldError, InvalidInput, MalformedBody, UnsupportedMediaType

_WHERE = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
# \u0000 in JSON text, not preceded by another backslash escaping this one
JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
NUL_REFUSED = "text must not contain the NUL character (U+0000)"
FORM = "application/x-www-form-urlencoded"
_UNKNOWN_OR_MISSING = re.compile(r"^Object (?:contains unknown|missing required) field `([^`]*)`")


def is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def utf8_error(body: bytes, media_type: str) -> str | None:
    """Why a JSON or form body is not UTF-8 text (``None`` when it is, or is of another type)."""
    if body.isascii() and (media_type != FORM or b"%" not in body):
        return None
    if media_type == FORM:
        text = unquote_to_bytes(body.replace(b"+", b" "))
        what = "the form's values (after percent-decoding)"
    elif is_json(media_type):
        text, what = body, "the body"
    else:
        return None
    try:
        text.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"{what} must be UTF-8: byte {exc.start} is not ({exc.reason})"
    return None


def refuse_non_utf8(body: bytes, media_type: str) -> None:
    reason = utf8_error(body, media_type)
    if reason is not None:
        raise MalformedBody(reason)


def contains_nul(body: bytes, media_type: str) -> bool:
    """Whether a JSON or form-encoded body holds a NUL in any of its strings."""
    if media_type == FORM:
        return b"%00" in body or b"\x00" in body
    if is_json(media_type):
        # the plain search rules out nearly every body at memchr speed; the pattern then tells
        # an escaped NUL from an escaped backslash followed by "u0000"
        return b"\\u0000" in body and JSON_NUL.search(body) is not None
    return False


def _nul_in_form(body: bytes) -> str:
    """The name of the first form (or query) value holding a NUL ('' when a name does)."""
    for name, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
        if "\x00" in value and "\x00" not in name:
            return name
    return ""


async def refuse_nul(request: Request[Any, Any, Any]) -> None:
    """``before_request``: no NUL in the path, the query string or a header."""
    scope = request.scope
    query = scope.get("query_string", b"")
    if "\x00" in scope["path"]:
        raise InvalidInput(NUL_REFUSED, field="", source="path")
    if b"%00" in query or b"\x00" in query:
        raise InvalidInput(NUL_REFUSED, field=_nul_in_form(query), source="query")
    for name, value in scope["headers"]:
        if b"\x00" in value:
            raise InvalidInput(NUL_REFUSED, field=name.decode("latin-1"), source="header")


@lru_cache(maxsize=256)
def _decoder(annotation: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(annotation, strict=True)


def _field_error(exc: msgspec.ValidationError) -> dict[str, str]:
    """msgspec's message as the framework's ({message, key, source}): ``key`` is ``data`` and
    the dotted path of the member (``data.slots.0.start``), naming an unknown or missing field
    itself rather than the object holding it."""
    found = _WHERE.match(str(exc))
    message = found.group("message") if found else str(exc)
    path = (found.group("path") if found else None) or ""
    # msgspec writes items as [0] and the values of a mapping as [...] (its key unnamed): *
    dotted = re.sub(r"\[(\d+)\]", r".\1", path.replace("[...]", ".*"))
    parts = [part for part in dotted.split(".") if part]
    named = _UNKNOWN_OR_MISSING.match(message)
    if named is not None:
        parts.append(named.group(1))
    return {"message": message, "source": "body", "key": ".".join(["data", *parts])}


@lru_cache(maxsize=512)
def _takes_form(handler: Any) -> bool:
    field = handler.parsed_fn_signature.parameters.get("data")
    kwarg = getattr(field, "kwarg_definition", None)
    media_type = getattr(kwarg, "media_type", None)
    return media_type == RequestEncodingType.URL_ENCODED


class StrictRequest(Request[Any, Any, Any]):
    async def body(self) -> bytes:
        media_type = self.headers.get("content-type", "").split(";")[0].strip().lower()
        body = await super().body()
        handler = self.scope.get("route_handler")
        if (
            media_type != FORM
            and (media_type or body)  # an empty body without a type is an empty form
            and handler is not None
            and _takes_form(handler)
        ):
            raise UnsupportedMediaType(f"send {FORM}, not {media_type or 'no content type'}")
        refuse_non_utf8(body, media_type)
        if contains_nul(body, media_type):
            field = _nul_in_form(body) if media_type == FORM else ""
            raise InvalidInput(NUL_REFUSED, errors=[FieldError(field, "body", NUL_REFUSED)])
        return body

    async def json(self) -> Any:
        field = self.route_handler.parsed_fn_signature.parameters.get("data")
        if field is None or self._json is not Empty:
            return await super().json()
        body = await self.body()
        try:
            decoder = _decoder(field.annotation)
        except TypeError:  # an annotation msgspec cannot decode into: the framework converts it
            return await super().json()
        try:
            self._json = decoder.decode(body or b"null")
        except msgspec.ValidationError as exc:
            raise ValidationException(
                detail=f"Validation failed for {self.method} {self.url.path}",
                extra=[_field_error(exc)],
            ) from exc
        except UnicodeDecodeError as exc:  # a body sent without a JSON content type
            raise MalformedBody(f"the body must be UTF-8: byte {exc.start} is not") from exc
        except msgspec.DecodeError:
            return await super().json()  # the framework's own "malformed body" answer
        return self._json
