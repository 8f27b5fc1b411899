"""Read an Apple Health export as a stream of home measurements, in constant memory.

Input: the ``export.zip`` the Health app writes ("Export All Health Data"), whose
``apple_health_export/export.xml`` is read (``export_cda.xml``, workout routes, ECGs and clinical
records beside it are ignored), or a bare ``export.xml`` — either as a binary file object; a zip
must be seekable. The XML is read with ``lxml.etree.iterparse`` and every top-level element is
dropped once handled, so memory stays flat whatever the file's size (exports reach gigabytes);
zip members are decompressed as they are read.

Safety: the export's internal DTD subset is parsed (it must be, to be well-formed) but nothing
is loaded from anywhere, entities are never resolved or fetched, and a document whose DTD
declares any entity, or that names an external DTD, is refused as a whole before one of its
samples is returned (Apple's DTD declares none; libxml2's amplification guard bounds what could
be expanded before that check). Decompressed bytes are capped (:attr:`Limits.max_xml_bytes`),
a zip member whose declared compression ratio is beyond :attr:`Limits.max_compression_ratio` is
not opened, and a record with more than :attr:`Limits.max_children` children is refused without
keeping them.

Output: :class:`ExportReader` iterates :class:`Sample` (blood pressure, heart rate, body weight,
body height, body temperature, oxygen saturation, blood glucose) in canonical UCUM units; every
record it cannot read is a :class:`Refusal` in its :class:`Summary` (counted, the first ones kept
with their line and reason), never an exception; other record types are counted as skipped.

Errors: a file that is not an export at all, not well-formed XML, a damaged or oversized zip
raises :class:`ExportRefused` (``ExportInvalid``, 400, or ``ExportTooLarge``, 413), carrying a
message fit for the citizen. The parse is a stream: when the XML breaks mid-file, the samples
before the break have already been returned, and the error says how many; standalone blood
pressure halves waiting for their partner are not returned. An import must therefore treat the
error as refusing the whole upload (stage the samples and discard them) — the stable
:attr:`Sample.dedup_key` makes the corrected file's import idempotent anyway.
"""

from api.measurements.apple_health.model import (
    DEFAULT_LIMITS,
    EXPORT_INVALID,
    Device,
    ExportInvalid,
    ExportRefused,
    ExportTooLarge,
    Kind,
    Limits,
    MealRelation,
    Progress,
    Refusal,
    Sample,
    Source,
    Summary,
)
from api.measurements.apple_health.reader import ExportReader, read_export
from api.measurements.apple_health.values import dedup_key, parse_device, parse_instant

__all__ = [
    "DEFAULT_LIMITS",
    "EXPORT_INVALID",
    "Device",
    "ExportInvalid",
    "ExportReader",
    "ExportRefused",
    "ExportTooLarge",
    "Kind",
    "Limits",
    "MealRelation",
    "Progress",
    "Refusal",
    "Sample",
    "Source",
    "Summary",
    "dedup_key",
    "parse_device",
    "parse_instant",
    "read_export",
]
