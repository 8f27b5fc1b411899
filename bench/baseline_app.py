"""The ceiling of the server: a bare ASGI app that answers every request with fixed bytes.

No framework, no routing, no per-request allocation beyond what the ASGI protocol needs. Served by
granian with the same flags as the real service, its requests/s is what the server alone can do on
this machine; a scenario's figure is quoted as a ratio to it.
"""

from __future__ import annotations

from typing import Any

BODY = b'{"status":"ok"}'

_START: dict[str, Any] = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(BODY)).encode("ascii")),
    ],
}
_BODY: dict[str, Any] = {"type": "http.response.body", "body": BODY, "more_body": False}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    kind = scope["type"]
    if kind == "http":
        await send(_START)
        await send(_BODY)
        return
    if kind == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
