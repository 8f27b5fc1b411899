"""Every domain's models, imported in one place so Alembic and tests see the whole schema."""

from api.core.db import Base

__all__ = ["Base"]
