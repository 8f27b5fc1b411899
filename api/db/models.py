"""Every domain's models, imported in one place so Alembic and tests see the whole schema."""

from api.core.db import Base
from api.identity import models as identity_models

__all__ = ["Base", "identity_models"]
