"""Every domain's models, imported in one place so Alembic and tests see the whole schema."""

from api.appointments import models as appointment_models
from api.checkin import models as checkin_models
from api.core.db import Base
from api.facilities import models as facility_models
from api.health_book import models as health_book_models
from api.health_cards import models as health_card_models
from api.identity import models as identity_models
from api.insurance import models as insurance_models
from api.measurements import models as measurement_models
from api.questionnaires import models as questionnaire_models
from api.sharing import models as sharing_models
from notifications import models as notification_models

__all__ = [
    "Base",
    "appointment_models",
    "checkin_models",
    "facility_models",
    "health_book_models",
    "health_card_models",
    "identity_models",
    "insurance_models",
    "measurement_models",
    "notification_models",
    "questionnaire_models",
    "sharing_models",
]
