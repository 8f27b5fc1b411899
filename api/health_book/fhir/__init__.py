"""Reading FHIR R4 Bundles into the health book: parse (msgspec), extract, OperationOutcome.

``parse_bundle(body)`` checks and decodes a Bundle, ``extract(parsed, national_id_systems=...)``
turns it into the Structs of :mod:`.model`; both raise :class:`FhirError`, whose issues render as
an ``OperationOutcome`` (:func:`operation_outcome`) with the HTTP status of :func:`http_status`.
"""

from api.health_book.fhir.extract import extract
from api.health_book.fhir.model import Extraction
from api.health_book.fhir.outcome import FhirError, Issue, http_status, operation_outcome
from api.health_book.fhir.parse import ParsedBundle, ParsedEntry, parse_bundle

__all__ = [
    "Extraction",
    "FhirError",
    "Issue",
    "ParsedBundle",
    "ParsedEntry",
    "extract",
    "http_status",
    "operation_outcome",
    "parse_bundle",
]
