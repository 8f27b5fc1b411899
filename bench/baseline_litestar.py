"""The second baseline: a bare Litestar app that answers pre-encoded bytes.

The bare ASGI app (``bench/baseline_app.py``) is granian's ceiling, mostly Rust; this one adds the
Python a framework costs on every request (routing, the request and response objects, the ASGI
calls) and nothing of the service. Python-bound like the service, it moves with the machine the
way the service does, so a scenario's ratio to it is the steadier yardstick across machines.
Served by granian with the same flags as the service.
"""

from __future__ import annotations

from litestar import Litestar, Response, get

BODY = b'{"status":"ok"}'


@get("/", sync_to_thread=False, include_in_schema=False)
def root() -> Response[bytes]:
    return Response(content=BODY, media_type="application/json")


app = Litestar(route_handlers=[root], openapi_config=None, debug=False)
