"""Citizens' own identity: their profile (with their dependents) and their guardianships."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency

from api.core.errors import NotFound
from api.core.guards import (
    INSUFFICIENT_SCOPE,
    INVALID_TOKEN,
    provide_citizen_id,
    requires_citizen_access,
)
from api.core.openapi import problem_responses
from api.identity.citizens import CitizenDirectory
from api.identity.guardianships import GuardianshipService
from api.identity.schemas import CitizenProfile, GuardianshipView

_ERRORS = problem_responses(INVALID_TOKEN, INSUFFICIENT_SCOPE, NotFound.problem)


class CitizenController(Controller):
    path = "/citizens"
    tags = ("citizens",)
    guards = (requires_citizen_access,)
    security = ({"BearerToken": []},)

    @get(
        "/{citizen_id:str}",
        operation_id="GetCitizen",
        summary="A citizen's profile (`me`, or a dependent's id)",
        responses=_ERRORS,
    )
    async def profile(
        self,
        request: Request[Any, Any, Any],
        citizen_directory: NamedDependency[CitizenDirectory],
    ) -> CitizenProfile:
        # The hottest citizen route reads the guard's result from the request: one more
        # dependency would cost Litestar's resolution and validation on every call.
        return await citizen_directory.profile(provide_citizen_id(request))

    @get(
        "/{citizen_id:str}/guardianships",
        operation_id="ListCitizenGuardianships",
        summary="Who may act for this citizen, and for whom they may act",
        responses=_ERRORS,
    )
    async def guardianships(
        self,
        target_citizen_id: NamedDependency[uuid.UUID],
        guardianships: NamedDependency[GuardianshipService],
    ) -> list[GuardianshipView]:
        return await guardianships.list_for(target_citizen_id)
