"""What every request's input must be before a handler sees it.

**JSON bodies are decoded strictly into the handler's ``data`` type.** Litestar converts a
decoded body to the handler's type in msgspec's lax mode, which turns ``0`` into ``false``,
``"5"`` into ``5`` and ``1.5`` into a timestamp: a body the schema says is invalid would be
accepted. :class:`StrictRequest` (the app's ``request_class``) decodes the body straight into the
``data`` annotation with ``strict=True``; what does not match is a 400 ``validation-error``
naming the field, as the framework's own validation answers it. Handlers without a typed
``data`` parameter get the plain decoded JSON, as before.

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

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException
from litestar.types import Empty

from api.core.errors import InvalidInput

_WHERE = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
# \u0000 in JSON text, not preceded by another backslash escaping this one
JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
NUL_REFUSED = "text must not contain the NUL character (U+0000)"


def contains_nul(body: bytes, media_type: str) -> bool:
    """Whether a JSON or form-encoded body holds a NUL in any of its strings."""
    if media_type == "application/x-www-form-urlencoded":
        return b"%00" in body or b"\x00" in body
    if media_type == "application/json" or media_type.endswith("+json"):
        # the plain search rules out nearly every body at memchr speed; the pattern then tells
        # an escaped NUL from an escaped backslash followed by "u0000"
        return b"\\u0000" in body and JSON_NUL.search(body) is not None
    return False


async def refuse_nul(request: Request[Any, Any, Any]) -> None:
    """``before_request``: no NUL in the path, the query string or a header."""
    scope = request.scope
    if (
        "\x00" in scope["path"]
        or b"%00" in scope.get("query_string", b"")
        or b"\x00" in scope.get("query_string", b"")
        or any(b"\x00" in value for _, value in scope["headers"])
    ):
        raise InvalidInput(NUL_REFUSED)


@lru_cache(maxsize=256)
def _decoder(annotation: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(annotation, strict=True)


def _field_error(exc: msgspec.ValidationError) -> dict[str, str]:
    found = _WHERE.match(str(exc))
    message = found.group("message") if found else str(exc)
    error = {"message": message, "source": "body"}
    path = (found.group("path") if found else None) or ""
    key = re.sub(r"\[(\d+)\]", r".\1", path).lstrip(".")
    if key:
        error["key"] = key
    return error


class StrictRequest(Request[Any, Any, Any]):
    async def body(self) -> bytes:
        body = await super().body()
        media_type = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if contains_nul(body, media_type):
            raise InvalidInput(NUL_REFUSED)
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
        except msgspec.DecodeError:
            return await super().json()  # the framework's own "malformed body" answer
        return self._json
