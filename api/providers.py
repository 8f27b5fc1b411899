"""The dependencies handlers receive, each a typed part of the process's :class:`Runtime`."""

from __future__ import annotations

from litestar.datastructures import State
from litestar.di import Provide

from api.facilities.service import FacilityService
from api.health_book.book import BookReader
from api.health_book.publishing import SummaryService
from api.health_book.reads import BookExport
from api.operations.service import OperationsService
from api.runtime import Runtime
from notifications.service import NotificationService


def _runtime(state: State) -> Runtime:
    runtime: Runtime = state.runtime
    return runtime


def provide_facilities(state: State) -> FacilityService:
    return _runtime(state).facilities


def provide_notifications(state: State) -> NotificationService:
    return _runtime(state).notifications


def provide_operations(state: State) -> OperationsService:
    return _runtime(state).operations


def provide_summaries(state: State) -> SummaryService:
    return _runtime(state).summaries


def provide_book(state: State) -> BookReader:
    return _runtime(state).book


def provide_book_export(state: State) -> BookExport:
    return _runtime(state).book_export


PROVIDERS = {
    "operations": Provide(provide_operations, sync_to_thread=False),
    "notifications": Provide(provide_notifications, sync_to_thread=False),
    "facilities": Provide(provide_facilities, sync_to_thread=False),
    "summaries": Provide(provide_summaries, sync_to_thread=False),
    "book": Provide(provide_book, sync_to_thread=False),
    "book_export": Provide(provide_book_export, sync_to_thread=False),
}
