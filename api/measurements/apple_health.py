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

from __future__ import annotations

import hashlib
import math
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime
from types import TracebackType
from typing import IO, Any, Final, Literal

import msgspec
from lxml import etree

from api.core.errors import PAYLOAD_TOO_LARGE, DomainError, problem_type

Kind = Literal[
    "blood_pressure",
    "heart_rate",
    "body_weight",
    "body_height",
    "body_temperature",
    "oxygen_saturation",
    "blood_glucose",
]
MealRelation = Literal["before_meal", "after_meal"]
Progress = Callable[[int, "int | None"], None]
"""Called with (bytes of export.xml read so far, its total size when known)."""

EXPORT_INVALID = problem_type(
    "apple-health-export-invalid",
    "Apple Health export not readable",
    400,
    "The file is not an Apple Health export this service can read safely: not a zip holding "
    "apple_health_export/export.xml nor an export.xml, a damaged zip, XML that is not "
    "well-formed (`line` says where), or a DTD that declares entities. `samples_read` says how "
    "many samples were read before the problem; the import keeps none of them.",
)

ZIP_MAGIC: Final = b"PK\x03\x04"
EXPORT_MEMBER: Final = "apple_health_export/export.xml"
SYSTOLIC: Final = "HKQuantityTypeIdentifierBloodPressureSystolic"
DIASTOLIC: Final = "HKQuantityTypeIdentifierBloodPressureDiastolic"
BLOOD_PRESSURE: Final = "HKCorrelationTypeIdentifierBloodPressure"
GLUCOSE: Final = "HKQuantityTypeIdentifierBloodGlucose"
MEAL_KEYS: Final = frozenset({"HKBloodGlucoseMealTime", "HKMetadataKeyBloodGlucoseMealTime"})
MEAL_VALUES: Final[dict[str, MealRelation]] = {
    "1": "before_meal",  # HKBloodGlucoseMealTimePreprandial
    "2": "after_meal",  # HKBloodGlucoseMealTimePostprandial
    "HKBloodGlucoseMealTimePreprandial": "before_meal",
    "HKBloodGlucoseMealTimePostprandial": "after_meal",
}
USER_ENTERED: Final = "HKWasUserEntered"

# unit as written by HealthKit -> (canonical UCUM unit, factor, offset): canonical = v * f + o
_Unit = tuple[str, float, float]
_PRESSURE: Final[dict[str, _Unit]] = {
    "mmHg": ("mm[Hg]", 1.0, 0.0),
    "kPa": ("mm[Hg]", 7.50061683, 0.0),
}
_RATE: Final[dict[str, _Unit]] = {"count/min": ("/min", 1.0, 0.0), "count/s": ("/min", 60.0, 0.0)}
_MASS: Final[dict[str, _Unit]] = {
    "kg": ("kg", 1.0, 0.0),
    "g": ("kg", 0.001, 0.0),
    "lb": ("kg", 0.45359237, 0.0),
    "st": ("kg", 6.35029318, 0.0),
    "oz": ("kg", 0.028349523125, 0.0),
}
_LENGTH: Final[dict[str, _Unit]] = {
    "cm": ("cm", 1.0, 0.0),
    "m": ("cm", 100.0, 0.0),
    "mm": ("cm", 0.1, 0.0),
    "in": ("cm", 2.54, 0.0),
    "ft": ("cm", 30.48, 0.0),
}
_TEMPERATURE: Final[dict[str, _Unit]] = {
    "degC": ("Cel", 1.0, 0.0),
    "degF": ("Cel", 5 / 9, -32 * 5 / 9),
    "K": ("Cel", 1.0, -273.15),
}
_FRACTION: Final[dict[str, _Unit]] = {"%": ("%", 100.0, 0.0)}
_GLUCOSE: Final[dict[str, _Unit]] = {
    "mg/dL": ("mg/dL", 1.0, 0.0),
    "mmol/L": ("mmol/L", 1.0, 0.0),  # also `mmol<180.1558800000541>/L`, see _unit_of
}
_MOLAR_ANNOTATION: Final = re.compile(r"mmol<[0-9.eE+-]+>/L")

_QUANTITIES: Final[dict[str, tuple[Kind, dict[str, _Unit]]]] = {
    "HKQuantityTypeIdentifierHeartRate": ("heart_rate", _RATE),
    "HKQuantityTypeIdentifierBodyMass": ("body_weight", _MASS),
    "HKQuantityTypeIdentifierHeight": ("body_height", _LENGTH),
    "HKQuantityTypeIdentifierBodyTemperature": ("body_temperature", _TEMPERATURE),
    "HKQuantityTypeIdentifierOxygenSaturation": ("oxygen_saturation", _FRACTION),
    GLUCOSE: ("blood_glucose", _GLUCOSE),
}

_DEVICE_KEYS: Final = re.compile(
    r"(?:^|, )(name|manufacturer|model|hardware|firmware|software|localIdentifier"
    r"|UDIDeviceIdentifier|FDAUDI|creation date):"
)
_DEVICE_FIELDS: Final = {
    "name": "name",
    "manufacturer": "manufacturer",
    "model": "model",
    "hardware": "hardware",
    "firmware": "firmware",
    "software": "software",
    "localIdentifier": "local_identifier",
    "UDIDeviceIdentifier": "udi",
    "FDAUDI": "udi",
}


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """What the reader accepts; the defaults fit a phone's multi-gigabyte export."""

    max_xml_bytes: int = 8 * 1024**3
    """Bytes of export.xml (decompressed) read at most."""
    max_compression_ratio: float = 100.0
    """Declared size / compressed size of the zip member; real exports are about 15–30."""
    ratio_floor_bytes: int = 16 * 1024**2
    """Members smaller than this are opened whatever their ratio (they cannot hurt)."""
    max_children: int = 1_000
    """Child elements of one top-level element (a record's metadata, a correlation's records)."""
    max_pending_blood_pressure: int = 100_000
    """Blood pressure halves (and correlations) remembered to pair and deduplicate them."""
    max_refusals_kept: int = 100
    max_skipped_types: int = 256


DEFAULT_LIMITS: Final = Limits()


class Source(msgspec.Struct, frozen=True):
    name: str
    version: str | None = None


class Device(msgspec.Struct, frozen=True, kw_only=True):
    """The record's ``device`` attribute, split into its fields where it has the usual shape
    (``<<HKDevice: 0x…>, name:…, manufacturer:…, model:…, hardware:…, software:…>``)."""

    raw: str
    name: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    hardware: str | None = None
    firmware: str | None = None
    software: str | None = None
    local_identifier: str | None = None
    udi: str | None = None


class Sample(msgspec.Struct, frozen=True, kw_only=True):
    """One reading. ``value`` is in ``unit`` (UCUM): mm[Hg] (systolic; ``diastolic`` beside
    it), /min, kg, cm, Cel, %, and mg/dL or mmol/L for glucose (kept as recorded)."""

    kind: Kind
    value: float
    unit: str
    start: datetime
    end: datetime
    source: Source
    dedup_key: str
    record_type: str
    original_unit: str
    line: int | None
    diastolic: float | None = None
    meal: MealRelation | None = None
    device: Device | None = None
    user_entered: bool = False


class Refusal(msgspec.Struct, frozen=True):
    line: int | None
    record_type: str | None
    reason: str


class Summary(msgspec.Struct, kw_only=True):
    """Counters of one read; filled while the samples are iterated."""

    samples: int = 0
    refused: int = 0
    refusals: list[Refusal] = msgspec.field(default_factory=list)
    """The first :attr:`Limits.max_refusals_kept` refusals; ``refused`` counts them all."""
    skipped: dict[str, int] = msgspec.field(default_factory=dict)
    """Records and correlations of other types, by type (beyond the cap, under ``other``)."""
    bytes_read: int = 0
    total_bytes: int | None = None


class ExportRefused(DomainError):
    """The upload as a whole cannot be read; ``detail`` says why in words for the citizen."""

    problem = EXPORT_INVALID

    def __init__(self, detail: str, *, line: int | None = None, samples_read: int = 0) -> None:
        extra: dict[str, Any] = {"samples_read": samples_read}
        if line is not None:
            extra["line"] = line
        super().__init__(detail, extra=extra)
        self.line = line
        self.samples_read = samples_read


class ExportInvalid(ExportRefused):
    """Not an export, a damaged zip, XML that is not well-formed, or a DTD with entities."""


class ExportTooLarge(ExportRefused):
    """Beyond a size limit once decompressed, or compressed like a zip bomb."""

    problem = PAYLOAD_TOO_LARGE


class _Refused(Exception):
    """One record cannot be read (internal: becomes a :class:`Refusal`)."""


def parse_instant(text: str) -> datetime:
    """A HealthKit date (``2024-01-02 08:00:00 +0700``; ISO 8601 also read) with its offset."""
    if len(text) == 25 and text[19] == " ":
        text = text[:19] + text[20:]
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise _Refused(f"{text!r} is not a date") from None
    if instant.tzinfo is None:
        raise _Refused(f"{text!r} has no UTC offset")
    return instant


def parse_device(raw: str) -> Device:
    """The fields of a HealthKit device description; only ``raw`` when it has none."""
    body = raw.strip()
    if body.startswith("<<HKDevice:"):
        closing = body.find(">,")
        body = body[closing + 2 :].lstrip() if closing >= 0 else ""
        body = body.removesuffix(">")
    matches = list(_DEVICE_KEYS.finditer(body))
    fields: dict[str, str] = {}
    for index, match in enumerate(matches):
        stop = matches[index + 1].start() if index + 1 < len(matches) else len(body)
        value = body[match.end() : stop].strip()
        field = _DEVICE_FIELDS.get(match.group(1))
        if field is not None and value and field not in fields:
            fields[field] = value
    return Device(raw=raw, **fields)


def dedup_key(
    kind: str, start: datetime, end: datetime, values: tuple[float, ...], unit: str, source: str
) -> str:
    """A stable key of one reading: kind, start and end as instants (the offset the export was
    written with does not matter), the canonical values to 4 decimals (kg and lb exports of one
    weight agree) and unit, and the source's name. Hex SHA-256."""
    text = "\x1f".join(
        (
            "apple-health",
            kind,
            f"{start.timestamp():.3f}",
            f"{end.timestamp():.3f}",
            "/".join(f"{value:.4f}" for value in values),
            unit,
            source,
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _unit_of(unit: str, units: dict[str, _Unit]) -> _Unit:
    found = units.get(unit)
    if found is None and _MOLAR_ANNOTATION.fullmatch(unit):
        found = units.get("mmol/L")
    if found is None:
        raise _Refused(f"unit {unit!r} is not one this reader converts")
    return found


def _number(text: str | None, attribute: str = "value") -> float:
    if text is None:
        raise _Refused(f"no {attribute}")
    try:
        value = float(text)
    except ValueError:
        raise _Refused(f"{attribute} {text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise _Refused(f"{attribute} {text!r} is not a positive number")
    return value


def _canonical(value: float, unit: _Unit) -> float:
    _, factor, offset = unit
    if factor == 1.0 and offset == 0.0:
        return value
    return round(value * factor + offset, 4)


class _Reading(msgspec.Struct, frozen=True):
    """The fields every record and correlation carries, read and checked."""

    start: datetime
    end: datetime
    source: Source
    device: Device | None
    line: int | None


class _Half(msgspec.Struct, frozen=True):
    """A systolic or diastolic record met outside a correlation, waiting for its partner."""

    systolic: bool
    value: float
    original_unit: str
    reading: _Reading
    user_entered: bool


class _CountingStream:
    """What lxml reads from: counts the bytes, enforces the cap, reports progress, and turns a
    damaged zip's errors into :class:`ExportInvalid`."""

    def __init__(
        self,
        raw: IO[bytes],
        *,
        head: bytes,
        total: int | None,
        max_bytes: int,
        progress: Progress | None,
        every: int,
    ) -> None:
        self._raw = raw
        self._head = head
        self.total = total
        self.bytes_read = 0
        self._max = max_bytes
        self._progress = progress
        self._every = max(1, every)
        self._next_report = self._every
        self._reported = 0

    def read(self, size: int = -1) -> bytes:
        if self._head:
            data, self._head = self._head, b""
        else:
            try:
                data = self._raw.read(size)
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise ExportInvalid(f"the zip is damaged: {exc}") from None
        self.bytes_read += len(data)
        if self.bytes_read > self._max:
            raise ExportTooLarge(
                f"export.xml is larger than {self._max:,} bytes, the most accepted"
            )
        if self._progress is not None and (
            self.bytes_read >= self._next_report or (not data and self._reported != self.bytes_read)
        ):
            self._next_report = self.bytes_read + self._every
            self._reported = self.bytes_read
            self._progress(self.bytes_read, self.total)
        return data


_iterparse: Callable[..., Iterator[tuple[str, etree._Element]]] = etree.iterparse  # pyright: ignore[reportAttributeAccessIssue]


class ExportReader:
    """One read of one export: iterate it (once) for the samples; :attr:`summary` holds the
    counts. Opening checks the container (zip, member, sizes) at once; the XML is checked as it
    is read. Use it as a context manager, or :meth:`close` it, to close the zip."""

    def __init__(
        self,
        file: IO[bytes],
        *,
        limits: Limits = DEFAULT_LIMITS,
        progress: Progress | None = None,
        progress_every: int = 1 << 20,
    ) -> None:
        self.limits = limits
        self.summary = Summary()
        self._zip: zipfile.ZipFile | None = None
        self._member: IO[bytes] | None = None
        self._started = False
        self._devices: dict[str, Device] = {}
        self._member_size: int | None = None
        self._pending: dict[tuple[float, float, str], list[_Half]] = {}
        self._pending_count = 0
        self._correlated: dict[tuple[float, float, str, bool, float], int] = {}
        self._stream = self._open(file, progress, progress_every)
        self.summary.total_bytes = self._stream.total

    # -- container --------------------------------------------------------------------------

    def _open(self, file: IO[bytes], progress: Progress | None, every: int) -> _CountingStream:
        limits = self.limits
        seekable = file.seekable()
        start = file.tell() if seekable else 0
        head = file.read(len(ZIP_MAGIC))
        if head == ZIP_MAGIC:
            if not seekable:
                raise ExportInvalid("a zip upload must be read from a seekable file")
            file.seek(start)
            member = self._open_member(file)
            return _CountingStream(
                member,
                head=b"",
                total=self._member_size,
                max_bytes=limits.max_xml_bytes,
                progress=progress,
                every=every,
            )
        total: int | None = None
        if seekable:
            total = file.seek(0, 2) - start
            file.seek(start + len(head))
            if total > limits.max_xml_bytes:
                raise ExportTooLarge(
                    f"export.xml is {total:,} bytes; at most {limits.max_xml_bytes:,} are accepted"
                )
        return _CountingStream(
            file,
            head=head,
            total=total,
            max_bytes=limits.max_xml_bytes,
            progress=progress,
            every=every,
        )

    def _open_member(self, file: IO[bytes]) -> IO[bytes]:
        limits = self.limits
        try:
            archive = zipfile.ZipFile(file)
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as exc:
            raise ExportInvalid(f"the file is not a readable zip: {exc}") from None
        self._zip = archive
        candidates = [
            info
            for info in archive.infolist()
            if not info.is_dir()
            and not info.filename.startswith("__MACOSX/")
            and (info.filename == "export.xml" or info.filename.endswith("/export.xml"))
        ]
        if not candidates:
            self.close()
            raise ExportInvalid(
                "the zip holds no apple_health_export/export.xml; upload the export.zip the "
                "Health app wrote, or its export.xml"
            )
        candidates.sort(key=lambda info: (info.filename != EXPORT_MEMBER, len(info.filename)))
        info = candidates[0]
        if info.flag_bits & 0x1:
            self.close()
            raise ExportInvalid("the zip's export.xml is encrypted")
        if info.file_size > limits.max_xml_bytes:
            self.close()
            raise ExportTooLarge(
                f"the zip's export.xml is {info.file_size:,} bytes; at most "
                f"{limits.max_xml_bytes:,} are accepted"
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limits.ratio_floor_bytes and ratio > limits.max_compression_ratio:
            self.close()
            raise ExportTooLarge(
                f"the zip's export.xml expands {ratio:,.0f} times ({info.compress_size:,} to "
                f"{info.file_size:,} bytes); at most {limits.max_compression_ratio:,.0f} times "
                "is accepted"
            )
        try:
            member = archive.open(info)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError) as exc:
            self.close()
            raise ExportInvalid(f"the zip's export.xml cannot be opened: {exc}") from None
        self._member = member
        self._member_size = info.file_size
        return member

    def close(self) -> None:
        if self._member is not None:
            self._member.close()
            self._member = None
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def __enter__(self) -> ExportReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def bytes_read(self) -> int:
        return self._stream.bytes_read

    @property
    def total_bytes(self) -> int | None:
        return self._stream.total

    # -- document ---------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Sample]:
        if self._started:
            raise RuntimeError("an export is read once")
        self._started = True
        return self._samples()

    def _samples(self) -> Iterator[Sample]:
        summary = self.summary
        max_children = self.limits.max_children
        events = _iterparse(
            self._stream,
            events=("end",),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            attribute_defaults=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
            collect_ids=False,
        )
        root: etree._Element | None = None
        nested = 0
        line: int | None = None
        try:
            for _event, element in events:
                if root is None:
                    root = self._check_document(element)
                parent = element.getparent()
                if parent is not root:
                    if parent is not None:
                        nested += 1
                        if nested > max_children:
                            parent.remove(element)
                    continue
                line = element.sourceline
                tag = element.tag
                sample: Sample | None = None
                if tag == "Record":
                    if nested > max_children:
                        self._refuse(
                            line, element.get("type"), f"more than {max_children:,} children"
                        )
                    else:
                        sample = self._record(element, line)
                elif tag == "Correlation":
                    if nested > max_children:
                        self._refuse(
                            line, element.get("type"), f"more than {max_children:,} children"
                        )
                    else:
                        sample = self._correlation(element, line)
                nested = 0
                root.remove(element)
                if sample is not None:
                    summary.samples += 1
                    yield sample
        except etree.XMLSyntaxError as exc:
            where = exc.lineno if exc.lineno else line
            raise ExportInvalid(
                f"export.xml is not well-formed XML (line {where}): {exc.msg}",
                line=where,
                samples_read=summary.samples,
            ) from None
        except ExportRefused as exc:
            exc.samples_read = summary.samples
            exc.extra["samples_read"] = summary.samples
            raise
        finally:
            summary.bytes_read = self._stream.bytes_read
            self.close()
        for sample in self._pair_pending():
            summary.samples += 1
            yield sample

    def _check_document(self, element: etree._Element) -> etree._Element:
        tree = element.getroottree()
        docinfo = tree.docinfo
        if docinfo.system_url or docinfo.public_id:  # pyright: ignore[reportAttributeAccessIssue]
            raise ExportInvalid(
                "export.xml refers to an external DTD; an Apple Health export carries its DTD "
                "inside, and nothing is fetched"
            )
        for dtd in (docinfo.internalDTD, docinfo.externalDTD):
            if dtd is not None and next(iter(dtd.iterentities()), None) is not None:  # pyright: ignore[reportAttributeAccessIssue]
                raise ExportInvalid(
                    "export.xml declares entities in its DTD; an Apple Health export declares "
                    "none, and entities are not accepted"
                )
        root = tree.getroot()
        if root.tag != "HealthData":
            raise ExportInvalid(
                f"this is not an Apple Health export: its root element is <{root.tag}>, "
                "not <HealthData>"
            )
        return root

    # -- records ----------------------------------------------------------------------------

    def _refuse(self, line: int | None, record_type: str | None, reason: str) -> None:
        summary = self.summary
        summary.refused += 1
        if len(summary.refusals) < self.limits.max_refusals_kept:
            summary.refusals.append(Refusal(line, record_type, reason))

    def _skip(self, record_type: str | None) -> None:
        skipped = self.summary.skipped
        name = record_type or "(no type)"
        if name not in skipped and len(skipped) >= self.limits.max_skipped_types:
            name = "other"
        skipped[name] = skipped.get(name, 0) + 1

    def _reading(self, element: etree._Element, line: int | None) -> _Reading:
        source_name = element.get("sourceName")
        if not source_name:
            raise _Refused("no sourceName")
        start_text = element.get("startDate")
        end_text = element.get("endDate")
        if start_text is None:
            raise _Refused("no startDate")
        if end_text is None:
            raise _Refused("no endDate")
        start = parse_instant(start_text)
        end = parse_instant(end_text)
        if end < start:
            raise _Refused("endDate is before startDate")
        raw_device = element.get("device")
        device = None
        if raw_device:
            device = self._devices.get(raw_device)
            if device is None:
                device = parse_device(raw_device)
                if len(self._devices) >= 1024:
                    self._devices.clear()
                self._devices[raw_device] = device
        return _Reading(start, end, Source(source_name, element.get("sourceVersion")), device, line)

    def _record(self, element: etree._Element, line: int | None) -> Sample | None:
        record_type = element.get("type")
        spec = _QUANTITIES.get(record_type) if record_type is not None else None
        if spec is None:
            if record_type is not None and record_type in (SYSTOLIC, DIASTOLIC):
                self._standalone_half(element, record_type, line)
            else:
                self._skip(record_type)
            return None
        assert record_type is not None
        try:
            kind, units = spec
            unit_text = element.get("unit")
            if unit_text is None:
                raise _Refused("no unit")
            unit = _unit_of(unit_text, units)
            value = _number(element.get("value"))
            if kind == "oxygen_saturation" and value > 1:
                raise _Refused(
                    f"oxygen saturation {value} is above 1 (HealthKit writes a fraction)"
                )
            reading = self._reading(element, line)
        except _Refused as exc:
            self._refuse(line, record_type, str(exc))
            return None
        meal: MealRelation | None = None
        user_entered = False
        if len(element):
            for child in element:
                key = child.get("key")
                if key == USER_ENTERED:
                    user_entered = child.get("value") == "1"
                elif key in MEAL_KEYS and kind == "blood_glucose":
                    meal = MEAL_VALUES.get(child.get("value") or "")
        canonical = _canonical(value, unit)
        return Sample(
            kind=kind,
            value=canonical,
            unit=unit[0],
            start=reading.start,
            end=reading.end,
            source=reading.source,
            dedup_key=dedup_key(
                kind, reading.start, reading.end, (canonical,), unit[0], reading.source.name
            ),
            record_type=record_type,
            original_unit=unit_text,
            line=line,
            meal=meal,
            device=reading.device,
            user_entered=user_entered,
        )

    # -- blood pressure ---------------------------------------------------------------------

    def _pressure(self, element: etree._Element) -> tuple[float, str]:
        unit_text = element.get("unit")
        if unit_text is None:
            raise _Refused("no unit")
        unit = _unit_of(unit_text, _PRESSURE)
        return _canonical(_number(element.get("value")), unit), unit_text

    @staticmethod
    def _user_entered(element: etree._Element) -> bool:
        return any(
            child.get("key") == USER_ENTERED and child.get("value") == "1"
            for child in element
            if child.tag == "MetadataEntry"
        )

    def _correlation(self, element: etree._Element, line: int | None) -> Sample | None:
        correlation_type = element.get("type")
        if correlation_type != BLOOD_PRESSURE:
            self._skip(correlation_type)
            return None
        systolic: etree._Element | None = None
        diastolic: etree._Element | None = None
        for child in element:
            if child.tag == "Record":
                child_type = child.get("type")
                if child_type == SYSTOLIC and systolic is None:
                    systolic = child
                elif child_type == DIASTOLIC and diastolic is None:
                    diastolic = child
        try:
            if systolic is None:
                raise _Refused("a blood pressure correlation without a systolic record")
            if diastolic is None:
                raise _Refused("a blood pressure correlation without a diastolic record")
            reading = self._reading(element, line)
            high, unit_text = self._pressure(systolic)
            low, _ = self._pressure(diastolic)
        except _Refused as exc:
            self._refuse(line, correlation_type, str(exc))
            return None
        where = (reading.start.timestamp(), reading.end.timestamp(), reading.source.name)
        self._carried(where, True, high)
        self._carried(where, False, low)
        user_entered = any(self._user_entered(part) for part in (element, systolic, diastolic))
        return self._blood_pressure(high, low, unit_text, reading, user_entered, BLOOD_PRESSURE)

    def _blood_pressure(
        self,
        high: float,
        low: float,
        original_unit: str,
        reading: _Reading,
        user_entered: bool,
        record_type: str,
    ) -> Sample:
        return Sample(
            kind="blood_pressure",
            value=high,
            diastolic=low,
            unit="mm[Hg]",
            start=reading.start,
            end=reading.end,
            source=reading.source,
            dedup_key=dedup_key(
                "blood_pressure",
                reading.start,
                reading.end,
                (high, low),
                "mm[Hg]",
                reading.source.name,
            ),
            record_type=record_type,
            original_unit=original_unit,
            line=reading.line,
            device=reading.device,
            user_entered=user_entered,
        )

    def _carried(self, where: tuple[float, float, str], systolic: bool, value: float) -> None:
        """A correlation carried this half: the same record met alone (before or after) is
        dropped, not paired again (an export lists the halves alone and in the correlation)."""
        halves = self._pending.get(where)
        if halves is not None:
            for index, half in enumerate(halves):
                if half.systolic is systolic and half.value == value:
                    del halves[index]
                    self._pending_count -= 1
                    if not halves:
                        del self._pending[where]
                    return
        if self._remembered() < self.limits.max_pending_blood_pressure:
            key = (*where, systolic, value)
            self._correlated[key] = self._correlated.get(key, 0) + 1

    def _remembered(self) -> int:
        return self._pending_count + len(self._correlated)

    def _standalone_half(self, element: etree._Element, record_type: str, line: int | None) -> None:
        try:
            value, unit_text = self._pressure(element)
            reading = self._reading(element, line)
        except _Refused as exc:
            self._refuse(line, record_type, str(exc))
            return
        systolic = record_type == SYSTOLIC
        where = (reading.start.timestamp(), reading.end.timestamp(), reading.source.name)
        key = (*where, systolic, value)
        carried = self._correlated.get(key)
        if carried is not None:
            if carried > 1:
                self._correlated[key] = carried - 1
            else:
                del self._correlated[key]
            return
        if self._remembered() >= self.limits.max_pending_blood_pressure:
            self._refuse(
                line,
                record_type,
                f"more than {self.limits.max_pending_blood_pressure:,} blood pressure readings "
                "waiting to be paired",
            )
            return
        half = _Half(systolic, value, unit_text, reading, self._user_entered(element))
        self._pending.setdefault(where, []).append(half)
        self._pending_count += 1

    def _pair_pending(self) -> Iterator[Sample]:
        """At the end of the document, the standalone systolic and diastolic records no
        correlation carried, paired by start, end and source in order of appearance."""
        for halves in self._pending.values():
            highs = [half for half in halves if half.systolic]
            lows = [half for half in halves if not half.systolic]
            for high, low in zip(highs, lows, strict=False):
                yield self._blood_pressure(
                    high.value,
                    low.value,
                    high.original_unit,
                    high.reading,
                    high.user_entered or low.user_entered,
                    SYSTOLIC,
                )
            for unpaired in highs[len(lows) :] + lows[len(highs) :]:
                partner = "diastolic" if unpaired.systolic else "systolic"
                self._refuse(
                    unpaired.reading.line,
                    SYSTOLIC if unpaired.systolic else DIASTOLIC,
                    f"no {partner} record with the same start, end and source",
                )
        self._pending.clear()
        self._correlated.clear()
        self._pending_count = 0


def read_export(
    file: IO[bytes],
    *,
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
    progress_every: int = 1 << 20,
) -> ExportReader:
    """Open an Apple Health ``export.zip`` or ``export.xml`` for reading; see the module."""
    return ExportReader(file, limits=limits, progress=progress, progress_every=progress_every)
