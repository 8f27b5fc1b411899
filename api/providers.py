"""The dependencies handlers receive, each a typed part of the process's :class:`Runtime`."""

from __future__ import annotations

from litestar.di import Provide

from api.appointments.service import AppointmentService, SlotService
from api.checkin.board_feeds import QueueFeeds
from api.checkin.page_assets import CheckInPages
from api.checkin.services import CheckInService, QueueDeskService
from api.facilities.service import FacilityService
from api.health_book.publishing import SummaryService
from api.health_book.service import BookService
from api.health_cards.service import HealthCardService
from api.identity.citizens import CitizenDirectory
from api.identity.demo_idp import DemoIdentityProvider
from api.identity.guardianships import GuardianshipService
from api.identity.registry import RegistryService
from api.identity.service import IdentityService
from api.insurance.service import InsuranceService
from api.measurements.service import MeasurementService
from api.measurements.uploads import MeasurementImports
from api.operations.service import OperationsService
from api.questionnaires.service import QuestionnaireService
from api.runtime import Runtime
from api.sharing.service import ShareService
from api.sharing.viewer_page import ViewerPages
from notifications.service import NotificationService


class Providers:
    """The typed services handlers receive through Litestar's ``Provide``, each a part of the
    runtime the app's lifespan binds (:meth:`bind`). One per app. A provider takes no argument:
    one that takes ``state`` costs Litestar a parameter resolution on every request."""

    def __init__(self) -> None:
        self._runtime: Runtime | None = None

    def bind(self, runtime: Runtime | None) -> None:
        """The lifespan's runtime (``None`` once it has stopped)."""
        self._runtime = runtime

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the app's runtime is not running (outside its lifespan)")
        return self._runtime

    def dependencies(self) -> dict[str, Provide]:
        """The ``dependencies`` of the app: each key is the parameter name handlers use."""
        return {
            "facilities": Provide(self.facilities, sync_to_thread=False),
            "notifications": Provide(self.notifications, sync_to_thread=False),
            "operations": Provide(self.operations, sync_to_thread=False),
            "summaries": Provide(self.summaries, sync_to_thread=False),
            "health_book": Provide(self.health_book, sync_to_thread=False),
            "appointments": Provide(self.appointments, sync_to_thread=False),
            "slots": Provide(self.slots, sync_to_thread=False),
            "identity": Provide(self.identity, sync_to_thread=False),
            "identity_registry": Provide(self.identity_registry, sync_to_thread=False),
            "guardianships": Provide(self.guardianships, sync_to_thread=False),
            "citizen_directory": Provide(self.citizen_directory, sync_to_thread=False),
            "demo_idp": Provide(self.demo_idp, sync_to_thread=False),
            "insurance": Provide(self.insurance, sync_to_thread=False),
            "checkin": Provide(self.checkin, sync_to_thread=False),
            "queue_desk": Provide(self.queue_desk, sync_to_thread=False),
            "checkin_pages": Provide(self.checkin_pages, sync_to_thread=False),
            "queue_feeds": Provide(self.queue_feeds, sync_to_thread=False),
            "sharing": Provide(self.sharing, sync_to_thread=False),
            "viewer_pages": Provide(self.viewer_pages, sync_to_thread=False),
            "health_cards": Provide(self.health_cards, sync_to_thread=False),
            "questionnaires": Provide(self.questionnaires, sync_to_thread=False),
            "measurements": Provide(self.measurements, sync_to_thread=False),
            "measurement_imports": Provide(self.measurement_imports, sync_to_thread=False),
        }

    def facilities(self) -> FacilityService:
        return self.runtime.facilities

    def notifications(self) -> NotificationService:
        return self.runtime.notifications

    def operations(self) -> OperationsService:
        return self.runtime.operations

    def summaries(self) -> SummaryService:
        return self.runtime.summaries

    def health_book(self) -> BookService:
        return self.runtime.health_book

    def appointments(self) -> AppointmentService:
        return self.runtime.appointments

    def slots(self) -> SlotService:
        return self.runtime.appointment_slots

    def identity(self) -> IdentityService:
        return self.runtime.identity

    def identity_registry(self) -> RegistryService:
        return self.runtime.identity_registry

    def guardianships(self) -> GuardianshipService:
        return self.runtime.guardianships

    def citizen_directory(self) -> CitizenDirectory:
        return self.runtime.directory

    def demo_idp(self) -> DemoIdentityProvider:
        demo_idp = self.runtime.demo_idp
        if demo_idp is None:  # its routes are mounted in demo mode only
            raise RuntimeError("the demo identity provider runs in demo mode only")
        return demo_idp

    def insurance(self) -> InsuranceService:
        return self.runtime.insurance

    def checkin(self) -> CheckInService:
        return self.runtime.checkin

    def queue_desk(self) -> QueueDeskService:
        return self.runtime.queue_desk

    def checkin_pages(self) -> CheckInPages:
        return self.runtime.checkin_pages

    def queue_feeds(self) -> QueueFeeds:
        return self.runtime.queue_feeds

    def sharing(self) -> ShareService:
        return self.runtime.sharing

    def measurements(self) -> MeasurementService:
        return self.runtime.measurements

    def measurement_imports(self) -> MeasurementImports:
        return self.runtime.measurement_imports

    def viewer_pages(self) -> ViewerPages:
        return self.runtime.viewer_pages

    def health_cards(self) -> HealthCardService:
        return self.runtime.health_cards

    def questionnaires(self) -> QuestionnaireService:
        return self.runtime.questionnaires
