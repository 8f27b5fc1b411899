"""Apple Health exports written for the tests and the bench.

No real export is kept in the repository (it would be someone's health data): these documents are
authored here in the shape the Health app writes (``<HealthData>`` with an internal DTD subset of
element and attribute declarations, ``ExportDate``, ``Me``, ``Record`` elements with optional
``MetadataEntry`` children, blood pressure ``Correlation`` elements, ``Workout`` and
``ActivitySummary``; dates ``yyyy-MM-dd HH:mm:ss ±zzzz``; ``device`` as HealthKit describes it).

``record(...)``, ``correlation(...)`` and ``document(...)`` build small documents; ``zipped`` puts
one in an ``export.zip`` the way the app lays it out; ``write_synthetic`` writes a large export of
a realistic mix of record types in constant memory, for the bench and its memory test.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple
from xml.sax.saxutils import quoteattr

PROLOG = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!-- HealthKit Export Version: 14 -->
<!ELEMENT HealthData (ExportDate,Me,(Record|Correlation|Workout|ActivitySummary|ClinicalRecord)*)>
<!ATTLIST HealthData
  locale CDATA #REQUIRED
>
<!ELEMENT ExportDate EMPTY>
<!ATTLIST ExportDate
  value CDATA #REQUIRED
>
<!ELEMENT Me EMPTY>
<!ATTLIST Me
  HKCharacteristicTypeIdentifierDateOfBirth         CDATA #REQUIRED
  HKCharacteristicTypeIdentifierBiologicalSex       CDATA #REQUIRED
  HKCharacteristicTypeIdentifierBloodType           CDATA #REQUIRED
>
<!ELEMENT Record ((MetadataEntry|HeartRateVariabilityMetadataList)*)>
<!ATTLIST Record
  type          CDATA #REQUIRED
  unit          CDATA #IMPLIED
  value         CDATA #IMPLIED
  sourceName    CDATA #REQUIRED
  sourceVersion CDATA #IMPLIED
  device        CDATA #IMPLIED
  creationDate  CDATA #IMPLIED
  startDate     CDATA #REQUIRED
  endDate       CDATA #REQUIRED
>
<!ELEMENT MetadataEntry EMPTY>
<!ATTLIST MetadataEntry
  key   CDATA #REQUIRED
  value CDATA #REQUIRED
>
<!ELEMENT Correlation ((MetadataEntry|Record)*)>
<!ATTLIST Correlation
  type          CDATA #REQUIRED
  sourceName    CDATA #REQUIRED
  sourceVersion CDATA #IMPLIED
  device        CDATA #IMPLIED
  creationDate  CDATA #IMPLIED
  startDate     CDATA #REQUIRED
  endDate       CDATA #REQUIRED
>
]>
"""

OPEN = """<HealthData locale="vi_VN">
 <ExportDate value="2024-03-01 21:00:00 +0700"/>
 <Me HKCharacteristicTypeIdentifierDateOfBirth="1980-05-01" \
HKCharacteristicTypeIdentifierBiologicalSex="HKBiologicalSexFemale" \
HKCharacteristicTypeIdentifierBloodType="HKBloodTypeNotSet"/>
"""
CLOSE = "</HealthData>\n"

WATCH = (
    "<<HKDevice: 0x283f4d0e0>, name:Apple Watch, manufacturer:Apple Inc., model:Watch, "
    "hardware:Watch6,1, software:10.2, creation date:2024-01-01 07:00:00 +0700>"
)
CUFF = (
    "<<HKDevice: 0x281a5c3c0>, name:BP7000, manufacturer:Omron Healthcare, model:HEM-7361T, "
    "hardware:1.0, firmware:2.1, software:1.3.5, localIdentifier:AB-12, "
    "UDIDeviceIdentifier:04987654321001>"
)
WORKOUT = """ <Workout workoutActivityType="HKWorkoutActivityTypeWalking" duration="30" \
durationUnit="min" sourceName="Apple Watch" startDate="2024-01-02 06:00:00 +0700" \
endDate="2024-01-02 06:30:00 +0700">
  <WorkoutEvent type="HKWorkoutEventTypeLap" date="2024-01-02 06:15:00 +0700"/>
  <WorkoutRoute sourceName="Apple Watch"><FileReference path="/workout-routes/route.gpx"/>\
</WorkoutRoute>
 </Workout>
 <ActivitySummary dateComponents="2024-01-02" activeEnergyBurned="500" \
activeEnergyBurnedGoal="600" activeEnergyBurnedUnit="kcal"/>
"""


def record(
    record_type: str,
    value: object,
    unit: str | None,
    start: str = "2024-01-02 08:00:00 +0700",
    end: str | None = None,
    *,
    source: str | None = "Health",
    version: str | None = "17.3",
    device: str | None = None,
    metadata: Iterable[tuple[str, str]] = (),
    indent: str = " ",
) -> str:
    """One ``<Record>`` (``HKQuantityTypeIdentifier`` is added to a short type name)."""
    if not record_type.startswith("HK"):
        record_type = "HKQuantityTypeIdentifier" + record_type
    attributes = [("type", record_type)]
    if source is not None:
        attributes.append(("sourceName", source))
    if version is not None:
        attributes.append(("sourceVersion", version))
    if device is not None:
        attributes.append(("device", device))
    if unit is not None:
        attributes.append(("unit", unit))
    attributes += [("creationDate", start), ("startDate", start), ("endDate", end or start)]
    if value is not None:
        attributes.append(("value", str(value)))
    text = " ".join(f"{name}={quoteattr(str(content))}" for name, content in attributes)
    entries = list(metadata)
    if not entries:
        return f"{indent}<Record {text}/>\n"
    children = "".join(
        f"{indent} <MetadataEntry key={quoteattr(key)} value={quoteattr(val)}/>\n"
        for key, val in entries
    )
    return f"{indent}<Record {text}>\n{children}{indent}</Record>\n"


def correlation(
    systolic: object | None,
    diastolic: object | None,
    start: str = "2024-01-02 08:00:00 +0700",
    end: str | None = None,
    *,
    unit: str = "mmHg",
    source: str = "Health",
    device: str | None = None,
    metadata: Iterable[tuple[str, str]] = (),
    correlation_type: str = "HKCorrelationTypeIdentifierBloodPressure",
) -> str:
    """A blood pressure ``<Correlation>`` with its two records (``None`` leaves one out)."""
    attributes = [
        ("type", correlation_type),
        ("sourceName", source),
        ("sourceVersion", "17.3"),
    ]
    if device is not None:
        attributes.append(("device", device))
    attributes += [("creationDate", start), ("startDate", start), ("endDate", end or start)]
    text = " ".join(f"{name}={quoteattr(content)}" for name, content in attributes)
    body = "".join(
        f"  <MetadataEntry key={quoteattr(key)} value={quoteattr(val)}/>\n" for key, val in metadata
    )
    for half, value in (("Systolic", systolic), ("Diastolic", diastolic)):
        if value is not None:
            body += record(
                "BloodPressure" + half,
                value,
                unit,
                start,
                end,
                source=source,
                device=device,
                indent="  ",
            )
    return f" <Correlation {text}>\n{body} </Correlation>\n"


def document(*parts: str, prolog: str = PROLOG, extras: bool = True) -> bytes:
    """A whole export.xml around ``parts`` (with a workout and an activity summary)."""
    middle = "".join(parts) + (WORKOUT if extras else "")
    return (prolog + OPEN + middle + CLOSE).encode()


def zipped(
    xml: bytes,
    *,
    name: str = "apple_health_export/export.xml",
    others: Iterable[tuple[str, bytes]] = (),
    compression: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    """An export.zip holding ``xml`` as the app lays it out (with export_cda.xml and a route)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        archive.writestr(
            "apple_health_export/export_cda.xml",
            b'<?xml version="1.0"?><ClinicalDocument xmlns="urn:hl7-org:v3"/>',
        )
        archive.writestr(name, xml)
        archive.writestr(
            "apple_health_export/workout-routes/route_2024-01-02_6.00am.gpx", b"<gpx/>"
        )
        for other_name, content in others:
            archive.writestr(other_name, content)
    return buffer.getvalue()


# -- the synthetic export of the bench ----------------------------------------------------------

_HOURS = 24 * 60


def _stamp(minute: int) -> str:
    day, rest = divmod(minute, _HOURS)
    hour, minutes = divmod(rest, 60)
    year, year_day = divmod(day, 336)  # twelve months of 28 days
    month, month_day = divmod(year_day, 28)
    return f"{2000 + year}-{month + 1:02d}-{month_day + 1:02d} {hour:02d}:{minutes:02d}:00 +0700"


class Synthetic(NamedTuple):
    """What :func:`write_synthetic` wrote: ``<Record>`` elements (those inside correlations
    included), the samples the reader must return from them, and the file's size."""

    records: int
    samples: int
    bytes: int


def _synthetic_block(index: int) -> tuple[str, int, int]:
    """About twenty records of a watch wearer's mix: heart rate, steps and energy (the last two
    not imported), a weight and a glucose with its meal time; every tenth block also a blood
    pressure correlation and its two halves listed alone, as the app lists them."""
    base = index * 20
    parts: list[str] = []
    for offset in range(8):
        moment = _stamp(base + offset)
        parts.append(
            record(
                "HeartRate",
                60 + (index + offset) % 40,
                "count/min",
                moment,
                source="Apple Watch",
                version="10.2",
                device=WATCH,
                metadata=(("HKMetadataKeyHeartRateMotionContext", "0"),) if offset == 0 else (),
            )
        )
    for offset in range(8, 13):
        moment = _stamp(base + offset)
        parts.append(
            record(
                "StepCount",
                100 + offset,
                "count",
                moment,
                _stamp(base + offset + 1),
                source="iPhone",
                version="17.3",
                device=WATCH,
            )
        )
    for offset in range(13, 16):
        moment = _stamp(base + offset)
        parts.append(
            record(
                "ActiveEnergyBurned",
                f"{0.1 * offset:.3f}",
                "kcal",
                moment,
                source="Apple Watch",
                version="10.2",
                device=WATCH,
            )
        )
    parts.append(record("BodyMass", f"{60 + index % 10}.{index % 10}", "kg", _stamp(base + 16)))
    parts.append(
        record(
            "BloodGlucose",
            f"{5 + index % 3}.{index % 10}",
            "mmol<180.1558800000541>/L",
            _stamp(base + 17),
            metadata=(("HKWasUserEntered", "1"), ("HKBloodGlucoseMealTime", "1")),
        )
    )
    if index % 10:
        return "".join(parts), 18, 10  # 8 heart rates, a weight, a glucose
    moment = _stamp(base + 18)
    parts.append(record("BloodPressureSystolic", 120 + index % 20, "mmHg", moment, device=CUFF))
    parts.append(record("BloodPressureDiastolic", 80 + index % 10, "mmHg", moment, device=CUFF))
    parts.append(correlation(120 + index % 20, 80 + index % 10, moment, device=CUFF))
    # 20 top-level records + 2 inside the correlation; the halves alone are the correlation's
    return "".join(parts), 22, 11


def write_synthetic(path: Path, target_bytes: int) -> Synthetic:
    """Write an export.xml of about ``target_bytes`` to ``path``, in constant memory."""
    records = samples = 0
    written = 0
    index = 0
    with path.open("wb") as out:
        head = (PROLOG + OPEN).encode()
        out.write(head)
        written += len(head)
        while written < target_bytes:
            chunk: list[str] = []
            for _ in range(50):
                block, block_records, block_samples = _synthetic_block(index)
                index += 1
                records += block_records
                samples += block_samples
                chunk.append(block)
            data = "".join(chunk).encode()
            out.write(data)
            written += len(data)
        out.write(CLOSE.encode())
        written += len(CLOSE)
    return Synthetic(records, samples, written)
