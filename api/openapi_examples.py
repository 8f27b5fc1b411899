"""Examples of the main answers, for the OpenAPI document (``document_shared_answers``).

Built from the response types themselves, so an example always has the fields its schema
requires; tests/integration/test_openapi.py validates each against the documented schema.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from api.appointments.schemas import Slot, SlotDepartment, SlotPage
from api.checkin.schemas import Call, QueueStatus, RecentCall
from api.facilities.schemas import Facility, FacilityPage
from api.identity.schemas import TokenResponse

_ICT = dt.timezone(dt.timedelta(hours=7))
_FACILITY = Facility(
    id="01001",
    name="Bệnh viện Đa khoa Tỉnh",
    province="Hà Nội",
    address="1 Trần Hưng Đạo, Hoàn Kiếm",
    time_zone="Asia/Ho_Chi_Minh",
    phone="024 3825 3531",
    pulls_from_fhir=False,
    active=True,
)
_DEPARTMENT = SlotDepartment(code="NOI", name="Khoa Nội", name_en="Internal medicine", room="P.101")


def _json(value: Any) -> Any:
    return msgspec.to_builtins(value)


ANSWER_EXAMPLES: dict[str, dict[int, Any]] = {
    "IssueToken": {
        200: _json(
            TokenResponse(
                access_token="eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.e30.c2lnbmF0dXJl",
                token_type="Bearer",
                expires_in=600,
                issued_token_type="urn:ietf:params:oauth:token-type:access_token",
                refresh_token="rt1.Zk9x2Qa7Lm3PwT8s",
                scope="citizen",
            )
        )
    },
    "SearchFacilities": {200: _json(FacilityPage(items=[_FACILITY], next_cursor=None))},
    "SearchSlots": {
        200: _json(
            SlotPage(
                items=[
                    Slot(
                        id="0b6f2f7e-5d1c-4a8e-9b3a-1f2e3d4c5b6a",
                        facility_id="01001",
                        department=_DEPARTMENT,
                        service="Khám tổng quát",
                        start=dt.datetime(2026, 3, 2, 8, 0, tzinfo=_ICT),
                        end=dt.datetime(2026, 3, 2, 8, 15, tzinfo=_ICT),
                        capacity=4,
                        remaining=3,
                    )
                ],
                next_cursor=None,
            )
        )
    },
    "GetQueueStatus": {
        200: _json(
            QueueStatus(
                facility_id="01001",
                department="NOI",
                department_name="Khoa Nội",
                queue_date=dt.date(2026, 3, 2),
                now_serving=Call(number=7, label="NOI-007", room="P.101"),
                waiting=5,
                average_service_minutes=6.5,
                recent_calls=[
                    RecentCall(
                        number=7,
                        label="NOI-007",
                        room="P.101",
                        called_at=dt.datetime(2026, 3, 2, 9, 12, tzinfo=_ICT),
                    )
                ],
                updated_at=dt.datetime(2026, 3, 2, 9, 12, tzinfo=_ICT),
            )
        )
    },
}
"""Examples by operation id and status."""
