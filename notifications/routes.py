"""Notification routes: devices, the in-app inbox, push preferences.

Every path is under ``/citizens/{citizen_id}`` (``me``, or the id of a dependent): Litestar's
router would let a static ``/citizens/me/...`` path shadow the ``{citizen_id}`` routes of every
domain, so registering a device is ``PUT /citizens/{citizen_id}/devices/{installation_id}`` with
a guard that admits only ``me`` (or the caller's own id): a phone registers for its own user.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Body, FromPath, FromQuery, HeaderParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from api.core.access_tokens import Principal
from api.core.errors import Conflict, InvalidInput, NotFound
from api.core.guards import (
    INSUFFICIENT_SCOPE,
    INVALID_TOKEN,
    authenticate,
    requires_citizen,
    requires_citizen_access,
)
from api.core.openapi import answers, problem_responses
from notifications import inbox
from notifications.docs import DEVICE_EXAMPLES, PREFERENCE_EXAMPLES
from notifications.schemas import (
    DeviceRegistration,
    DeviceView,
    InboxItem,
    InboxPage,
    NotificationPreferences,
    ReadAllResult,
)
from notifications.service import NotificationService

_ERRORS = problem_responses(INVALID_TOKEN, INSUFFICIENT_SCOPE, NotFound.problem)

AcceptLanguage = Annotated[
    str | None,
    HeaderParameter(name="accept-language", description="vi (default) or en", required=False),
]
PageSize = Annotated[int, QueryParameter(ge=1, le=inbox.MAX_PAGE, description="1 to 100")]


async def requires_own_citizen_path(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """``{citizen_id}`` must be ``me`` or the caller's own id (after ``requires_citizen``)."""
    principal = await authenticate(connection)
    if connection.path_params.get("citizen_id") not in ("me", principal.subject):
        raise NotFound("devices are registered by their owner, on /citizens/me/devices")


class DeviceController(Controller):
    path = "/citizens/{citizen_id:str}/devices"
    tags = ("notifications",)
    security = ({"BearerToken": []},)

    @get(
        "/",
        operation_id="ListDevices",
        summary="The devices registered for push (`me`, or a dependent's)",
        guards=[requires_citizen_access],
        responses=_ERRORS,
    )
    async def list_devices(
        self,
        target_citizen_id: NamedDependency[uuid.UUID],
        notifications: NamedDependency[NotificationService],
    ) -> list[DeviceView]:
        return await notifications.devices(target_citizen_id)

    @put(
        "/{installation_id:str}",
        operation_id="PutDevice",
        summary="Register this phone for push, or refresh its FCM token (`me` only)",
        description=(
            "Call at every app start and whenever FCM issues a new token. A token registered "
            "elsewhere (another installation or account) moves here. 201 when new, 200 when "
            "refreshed."
        ),
        guards=[requires_citizen, requires_own_citizen_path],
        responses={
            **problem_responses(
                INVALID_TOKEN, INSUFFICIENT_SCOPE, NotFound.problem, Conflict.problem
            ),
            **answers(201, DeviceView, "Registered (a new installation)"),
        },
        request_max_body_size=8 * 1024,
    )
    async def put_device(
        self,
        request: Request[Any, Any, Any],
        installation_id: FromPath[str],
        data: Annotated[DeviceRegistration, Body(examples=DEVICE_EXAMPLES)],
        principal: NamedDependency[Principal],
        notifications: NamedDependency[NotificationService],
    ) -> Response[DeviceView]:
        view, created = await notifications.register_device(
            principal.citizen_id, installation_id, data
        )
        if created:  # created at the request's URI (RFC 9110 §9.3.4)
            return Response(
                view, status_code=HTTP_201_CREATED, headers={"Location": request.url.path}
            )
        return Response(view, status_code=HTTP_200_OK)

    @delete(
        "/{installation_id:str}",
        operation_id="DeleteDevice",
        summary="Stop pushing to this phone (at logout; `me` only)",
        guards=[requires_citizen, requires_own_citizen_path],
        status_code=HTTP_204_NO_CONTENT,
        responses=_ERRORS,
    )
    async def delete_device(
        self,
        installation_id: FromPath[str],
        principal: NamedDependency[Principal],
        notifications: NamedDependency[NotificationService],
    ) -> None:
        await notifications.remove_device(principal.citizen_id, installation_id)


class InboxController(Controller):
    path = "/citizens/{citizen_id:str}/notifications"
    tags = ("notifications",)
    guards = (requires_citizen_access,)
    security = ({"BearerToken": []},)

    @get(
        "/",
        operation_id="ListNotifications",
        summary="The in-app inbox, newest first, with the unread count",
        description=(
            "Texts in the language of `Accept-Language` (vi, the default, or en). Page with "
            "`next_cursor`; `unread_only=true` lists unread ones only."
        ),
        responses=problem_responses(
            INVALID_TOKEN, INSUFFICIENT_SCOPE, NotFound.problem, InvalidInput.problem
        ),
    )
    async def list_notifications(
        self,
        target_citizen_id: NamedDependency[uuid.UUID],
        notifications: NamedDependency[NotificationService],
        cursor: FromQuery[str | None] = None,
        limit: PageSize = 20,
        unread_only: FromQuery[bool] = False,
        accept_language: AcceptLanguage = None,
    ) -> InboxPage:
        return await notifications.inbox(
            target_citizen_id,
            cursor=cursor,
            limit=limit,
            unread_only=unread_only,
            accept_language=accept_language,
        )

    @post(
        "/read-all",
        operation_id="MarkAllNotificationsRead",
        summary="Mark every notification read",
        status_code=HTTP_200_OK,
        responses=_ERRORS,
    )
    async def read_all(
        self,
        target_citizen_id: NamedDependency[uuid.UUID],
        notifications: NamedDependency[NotificationService],
    ) -> ReadAllResult:
        return await notifications.mark_all_read(target_citizen_id)

    @post(
        "/{notification_id:uuid}/read",
        operation_id="MarkNotificationRead",
        summary="Mark one notification read",
        status_code=HTTP_200_OK,
        responses=_ERRORS,
    )
    async def read_one(
        self,
        notification_id: FromPath[uuid.UUID],
        target_citizen_id: NamedDependency[uuid.UUID],
        notifications: NamedDependency[NotificationService],
        accept_language: AcceptLanguage = None,
    ) -> InboxItem:
        return await notifications.mark_read(
            target_citizen_id, notification_id, accept_language=accept_language
        )


class NotificationPreferencesController(Controller):
    path = "/citizens/{citizen_id:str}/notification-preferences"
    tags = ("notifications",)
    guards = (requires_citizen_access,)
    security = ({"BearerToken": []},)

    @get(
        "/",
        operation_id="GetNotificationPreferences",
        summary="Muted reminder kinds and quiet hours",
        responses=_ERRORS,
    )
    async def get_preferences(
        self,
        target_citizen_id: NamedDependency[uuid.UUID],
        notifications: NamedDependency[NotificationService],
    ) -> NotificationPreferences:
        return await notifications.preferences(target_citizen_id)

    @put(
        "/",
        operation_id="PutNotificationPreferences",
        summary="Replace the push preferences (the inbox is always written)",
        description=(
            "`muted_kinds`: reminder kinds not to push (appointment_reminder, queue_approaching). "
            "`quiet_hours`: local `HH:MM` start and end in `timezone` (IANA name); no push then "
            "except operational kinds (cancellation by the hospital, your turn)."
        ),
        responses=problem_responses(
            INVALID_TOKEN, INSUFFICIENT_SCOPE, NotFound.problem, InvalidInput.problem
        ),
        request_max_body_size=8 * 1024,
    )
    async def put_preferences(
        self,
        data: Annotated[NotificationPreferences, Body(examples=PREFERENCE_EXAMPLES)],
        target_citizen_id: NamedDependency[uuid.UUID],
        notifications: NamedDependency[NotificationService],
    ) -> NotificationPreferences:
        return await notifications.put_preferences(target_citizen_id, data)


NOTIFICATION_ROUTES = [DeviceController, InboxController, NotificationPreferencesController]
