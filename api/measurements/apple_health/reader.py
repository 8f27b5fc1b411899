"""The document: ``iterparse`` over export.xml with entities, DTD loading and the network off;
each top-level element handled then dropped; records turned into samples or refusals."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import TracebackType
from typing import IO

from lxml import etree

from api.measurements.apple_health.container import Container
from api.measurements.apple_health.model import (
    DEFAULT_LIMITS,
    Device,
    ExportInvalid,
    ExportRefused,
    Limits,
    MealRelation,
    Progress,
    Refusal,
    Sample,
    Source,
    Summary,
)
from api.measurements.apple_health.pressure import Half, Pairing
from api.measurements.apple_health.values import (
    BLOOD_PRESSURE,
    DIASTOLIC,
    MEAL_KEYS,
    MEAL_VALUES,
    PRESSURE,
    QUANTITIES,
    SYSTOLIC,
    USER_ENTERED,
    Reading,
    Refused,
    canonical,
    dedup_key,
    number,
    parse_device,
    parse_instant,
    unit_of,
)

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
        self._started = False
        self._devices: dict[str, Device] = {}  # parsed descriptions, by their text
        self._sources: dict[tuple[str, str | None], Source] = {}
        self._pairing = Pairing(limits.max_pending_blood_pressure)
        self._container = Container(file, limits, progress, progress_every)
        self._stream = self._container.stream
        self.summary.total_bytes = self._stream.total

    def close(self) -> None:
        self._container.close()

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

    def _reading(self, element: etree._Element, line: int | None) -> Reading:
        source_name = element.get("sourceName")
        if not source_name:
            raise Refused("no sourceName")
        start_text = element.get("startDate")
        end_text = element.get("endDate")
        if start_text is None:
            raise Refused("no startDate")
        if end_text is None:
            raise Refused("no endDate")
        start = parse_instant(start_text)
        if end_text == start_text:  # most samples are an instant
            end = start
        else:
            end = parse_instant(end_text)
            if end < start:
                raise Refused("endDate is before startDate")
        raw_device = element.get("device")
        device = None
        if raw_device:
            device = self._devices.get(raw_device)
            if device is None:
                device = parse_device(raw_device)
                if len(self._devices) >= 1024:
                    self._devices.clear()
                self._devices[raw_device] = device
        version = element.get("sourceVersion")
        source = self._sources.get((source_name, version))
        if source is None:
            source = Source(source_name, version)
            if len(self._sources) >= 1024:
                self._sources.clear()
            self._sources[source_name, version] = source
        return Reading(start, end, source, device, line)

    def _record(self, element: etree._Element, line: int | None) -> Sample | None:
        record_type = element.get("type")
        spec = QUANTITIES.get(record_type) if record_type is not None else None
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
                raise Refused("no unit")
            unit = unit_of(unit_text, units)
            value = number(element.get("value"))
            if kind == "oxygen_saturation" and value > 1:
                raise Refused(f"oxygen saturation {value} is above 1 (HealthKit writes a fraction)")
            reading = self._reading(element, line)
        except Refused as exc:
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
        value = canonical(value, unit)
        return Sample(
            kind=kind,
            value=value,
            unit=unit[0],
            start=reading.start,
            end=reading.end,
            source=reading.source,
            dedup_key=dedup_key(
                kind, reading.start, reading.end, (value,), unit[0], reading.source.name
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
            raise Refused("no unit")
        unit = unit_of(unit_text, PRESSURE)
        return canonical(number(element.get("value")), unit), unit_text

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
                raise Refused("a blood pressure correlation without a systolic record")
            if diastolic is None:
                raise Refused("a blood pressure correlation without a diastolic record")
            reading = self._reading(element, line)
            high, unit_text = self._pressure(systolic)
            low, _ = self._pressure(diastolic)
        except Refused as exc:
            self._refuse(line, correlation_type, str(exc))
            return None
        where = (reading.start.timestamp(), reading.end.timestamp(), reading.source.name)
        self._pairing.carried(where, True, high)
        self._pairing.carried(where, False, low)
        user_entered = any(self._user_entered(part) for part in (element, systolic, diastolic))
        return self._blood_pressure(high, low, unit_text, reading, user_entered, BLOOD_PRESSURE)

    def _blood_pressure(
        self,
        high: float,
        low: float,
        original_unit: str,
        reading: Reading,
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

    def _standalone_half(self, element: etree._Element, record_type: str, line: int | None) -> None:
        try:
            value, unit_text = self._pressure(element)
            reading = self._reading(element, line)
        except Refused as exc:
            self._refuse(line, record_type, str(exc))
            return
        where = (reading.start.timestamp(), reading.end.timestamp(), reading.source.name)
        half = Half(record_type == SYSTOLIC, value, unit_text, reading, self._user_entered(element))
        if self._pairing.alone(where, half) == "full":
            self._refuse(
                line,
                record_type,
                f"more than {self.limits.max_pending_blood_pressure:,} blood pressure readings "
                "waiting to be paired",
            )

    def _pair_pending(self) -> Iterator[Sample]:
        """At the end of the document, the standalone systolic and diastolic records no
        correlation carried, paired by start, end and source in order of appearance."""
        for highs, lows in self._pairing.leftovers():
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


def read_export(
    file: IO[bytes],
    *,
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
    progress_every: int = 1 << 20,
) -> ExportReader:
    """Open an Apple Health ``export.zip`` or ``export.xml`` for reading; see the module."""
    return ExportReader(file, limits=limits, progress=progress, progress_every=progress_every)
