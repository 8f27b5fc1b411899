"""The health book's routes: hospitals publish (:mod:`.hospital`); citizens and their guardians
read the book (:mod:`.citizen`), its charts and its FHIR export (:mod:`.export`), and its PDFs
(:mod:`.pdf`)."""

from __future__ import annotations

from api.health_book.routes.citizen import HealthBookController
from api.health_book.routes.export import HealthBookExportController
from api.health_book.routes.hospital import HospitalSummaryController
from api.health_book.routes.pdf import HealthBookPdfController

HEALTH_BOOK_ROUTES = (
    HospitalSummaryController,
    HealthBookController,
    HealthBookExportController,
    HealthBookPdfController,
)

__all__ = [
    "HEALTH_BOOK_ROUTES",
    "HealthBookController",
    "HealthBookExportController",
    "HealthBookPdfController",
    "HospitalSummaryController",
]
