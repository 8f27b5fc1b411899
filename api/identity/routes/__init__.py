"""The identity domain's controllers, as the application mounts them."""

from __future__ import annotations

from api.identity.routes.admin import AdminIdentityController
from api.identity.routes.auth import AuthController
from api.identity.routes.citizens import CitizenController
from api.identity.routes.demo_idp import DemoIdpController, demo_routes

IDENTITY_ROUTES = [AuthController, CitizenController, AdminIdentityController]

__all__ = ["IDENTITY_ROUTES", "DemoIdpController", "demo_routes"]
