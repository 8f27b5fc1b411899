"""JSON request bodies decoded strictly into the handler's ``data`` type.

Litestar converts a decoded body to the handler's type in msgspec's lax mode, which turns ``0``
into ``false``, ``"5"`` into ``5`` and ``1.5`` into a timestamp: a body the schema says is
invalid would be accepted. :class:`StrictJsonRequest` (the app's ``request_class``) decodes the
body straight into the ``data`` annotation with ``strict=True``; what does not match is a 400
``validation-error`` naming the field, as the framework's own validation answers it. Handlers
without a typed ``data`` parameter get the plain decoded JSON, as before.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException
from litestar.types import Empty

_WHERE = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)


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


class StrictJsonRequest(Request[Any, Any, Any]):
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
