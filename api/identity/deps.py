"""Dependencies of the identity routes (and of every domain that needs the caller)."""

from __future__ import annotations

from litestar.di import Provide

from api.core.guards import provide_citizen_id, provide_principal

IDENTITY_DEPENDENCIES = {
    "principal": Provide(provide_principal, sync_to_thread=False),
    "target_citizen_id": Provide(provide_citizen_id, sync_to_thread=False),
}
