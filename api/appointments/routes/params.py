"""Parameters shared by the appointment routes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from litestar.params import HeaderParameter, QueryParameter

from api.appointments.queries import MAX_PAGE
from api.core.guards import INSUFFICIENT_SCOPE, INVALID_TOKEN

AUTH = (INVALID_TOKEN, INSUFFICIENT_SCOPE)
"""The problems of a request whose token is missing, invalid, or lacks the scope."""
BEARER = ({"BearerToken": []},)
"""The security requirement of the routes that take an access token."""

IdempotencyKey = Annotated[
    str,
    HeaderParameter(
        name="idempotency-key",
        min_length=1,
        max_length=255,
        description=(
            "Required: a unique value per booking (a UUID). The same key with the same body "
            "answers the first answer again; with another body, 422; while the first is still "
            "in progress, 409. Keys are kept 24 hours, per citizen."
        ),
    ),
]
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description="1 to 200")]
Cursor = Annotated[str | None, QueryParameter(max_length=500)]
DepartmentCode = Annotated[str | None, QueryParameter(max_length=32, description="its code")]
Day = Annotated[
    dt.date | None, QueryParameter(name="date", description="a day in the facility's time zone")
]
