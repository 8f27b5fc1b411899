"""The interactive API documentation, served whole by the service itself.

``/schema`` (and ``/schema/swagger``, the same page) renders ``/schema/openapi.json`` with
Swagger UI. Its script, stylesheet and icon are the files of the ``swagger-ui-bundle-v2``
package (a runtime dependency pinned in ``pyproject.toml``; each release ships one Swagger UI
version), read through :mod:`importlib.resources` when the app is built and answered at
``/schema/assets/swagger-ui-<version>/<file>``. The version is in the path, so the files are
cached as immutable for a year and an upgrade is a new URL.

Nothing on the page comes from another origin: the documentation works on a network without
internet (a hospital's), and the pages' Content-Security-Policy has the browser refuse anything
else. Swagger UI's online validator badge is switched off for the same reason.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from types import MappingProxyType
from typing import Any

from litestar import Request, Response, Router, get
from litestar.datastructures import ResponseHeader
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.params import FromPath

from api.core.errors import NotFound

ASSETS_PACKAGE = "swagger_ui_bundle"
"""The import name of the ``swagger-ui-bundle-v2`` distribution."""

ASSETS_SEGMENT = "assets"
"""Where the files are answered, under the documentation's path."""

SERVED_FILES: Mapping[str, str] = MappingProxyType(
    {
        "swagger-ui-bundle.js": "text/javascript",
        "swagger-ui.css": "text/css",
        "favicon-32x32.png": "image/png",
    }
)
"""The files of the bundle the page uses, with their media types; no other file is answered."""

IMMUTABLE = "public, max-age=31536000, immutable"

# Starts Swagger UI on the page's element, with the document's URL from its data attribute; the
# base layout (no top bar, no link to an online validator). Constant, so the Content-Security-
# Policy allows it by its hash.
_START = (
    'const root = document.getElementById("swagger-ui");'
    "window.ui = SwaggerUIBundle({"
    "url: root.dataset.spec, domNode: root, deepLinking: true, validatorUrl: null,"
    'presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout"'
    "});"
)


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str


@dataclass(frozen=True, slots=True)
class SwaggerBundle:
    """The Swagger UI files the page needs, as shipped by the package."""

    folder: str
    """The bundle's folder, ``swagger-ui-<version>``: the versioned segment of the URLs."""
    assets: Mapping[str, Asset]

    @classmethod
    def load(cls) -> SwaggerBundle:
        vendor = files(ASSETS_PACKAGE) / "vendor"
        folders = [
            entry
            for entry in vendor.iterdir()
            if entry.is_dir() and entry.name.startswith("swagger-ui-")
        ]
        if len(folders) != 1:
            raise RuntimeError(
                f"{ASSETS_PACKAGE} ships {len(folders)} Swagger UI folders; expected exactly one"
            )
        folder = folders[0]
        assets = {
            name: Asset(body=(folder / name).read_bytes(), media_type=media_type)
            for name, media_type in SERVED_FILES.items()
        }
        return cls(folder=folder.name, assets=MappingProxyType(assets))


def content_security_policy() -> str:
    """What the documentation pages may load: only their own origin, and the one inline script
    (by hash). Swagger UI styles elements inline and shows images from data: and blob: URLs."""
    digest = base64.b64encode(hashlib.sha256(_START.encode()).digest()).decode()
    return (
        f"default-src 'none'; script-src 'self' 'sha256-{digest}'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; "
        "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


class OfflineSwaggerUI(OpenAPIRenderPlugin):
    """Swagger UI from the service's own files (see the module's docstring)."""

    def __init__(self, *, docs_path: str, path: str | Sequence[str], **kwargs: Any) -> None:
        self.bundle = SwaggerBundle.load()
        self.docs_path = docs_path.rstrip("/")
        self.assets_path = f"{self.docs_path}/{ASSETS_SEGMENT}/{self.bundle.folder}"
        super().__init__(path=path, favicon="", style="", **kwargs)

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(str(openapi_schema["info"]["title"]))
        spec_url = html.escape(self.get_openapi_json_route(request))
        assets = html.escape(self.assets_path)
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{title}</title>\n"
            f'<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">\n'
            f'<link rel="stylesheet" href="{assets}/swagger-ui.css">\n'
            "</head>\n<body>\n"
            "<noscript>This documentation needs JavaScript; the OpenAPI document itself is "
            f'<a href="{spec_url}">{spec_url}</a>.</noscript>\n'
            f'<div id="swagger-ui" data-spec="{spec_url}"></div>\n'
            f'<script src="{assets}/swagger-ui-bundle.js"></script>\n'
            f"<script>{_START}</script>\n"
            "</body>\n</html>\n"
        ).encode()

    def receive_router(self, router: Router) -> None:
        """Answer the bundle's files beside the pages."""
        if router.path.rstrip("/") != self.docs_path:
            raise RuntimeError(
                f"the documentation is served at {router.path}, its pages link {self.docs_path}"
            )
        assets = self.bundle.assets

        @get(
            f"/{ASSETS_SEGMENT}/{self.bundle.folder}/{{file_name:str}}",
            sync_to_thread=False,
            include_in_schema=False,
        )
        def documentation_asset(file_name: FromPath[str]) -> Response[bytes]:
            asset = assets.get(file_name)
            if asset is None:
                raise NotFound("the API documentation has no such file")
            return Response(
                asset.body, media_type=asset.media_type, headers={"Cache-Control": IMMUTABLE}
            )

        router.register(documentation_asset)


def documentation_router(path: str) -> Router:
    """The router the documentation pages, the document and the assets are served on."""
    return Router(
        path,
        route_handlers=[],
        include_in_schema=False,
        response_headers=[
            ResponseHeader(name="Content-Security-Policy", value=content_security_policy()),
            ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
            ResponseHeader(name="Referrer-Policy", value="no-referrer"),
        ],
    )
