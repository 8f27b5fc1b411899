"""What a citizen may measure at home: each kind's LOINC code, FHIR category and profile, its
UCUM unit, the units accepted (and how they convert), and the values a living person can have.

Values are converted to one unit per kind before they are checked and stored (glucose in mg/dL,
weight in kg, height in cm, temperature in Cel, pressure in mm[Hg]); a reading outside the range
of its kind (``LIMITS``) is refused, naming the field. Units are compared without case and with
any UCUM annotation removed (HealthKit writes ``mmol<180.1558800000541>/L``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

Kind = Literal[
    "blood_pressure",
    "heart_rate",
    "body_weight",
    "body_height",
    "body_temperature",
    "oxygen_saturation",
    "blood_glucose",
]
KINDS: Final[tuple[Kind, ...]] = (
    "blood_pressure",
    "heart_rate",
    "body_weight",
    "body_height",
    "body_temperature",
    "oxygen_saturation",
    "blood_glucose",
)
MealRelation = Literal["fasting", "before_meal", "after_meal", "random"]

LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"
VITAL_SIGNS_PROFILE: Final = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
GLUCOSE_MG_PER_DL_PER_MMOL_PER_L: Final = 18.016
"""Glucose: 1 mmol/L is 18.016 mg/dL (molar mass 180.16 g/mol)."""

Convert = Callable[[float], float]


def _times(factor: float) -> Convert:
    return lambda value: value * factor


def _fahrenheit(value: float) -> float:
    return (value - 32.0) * 5.0 / 9.0


_SAME: Final[Convert] = _times(1.0)


@dataclass(frozen=True, slots=True)
class Part:
    """One measured number: the reading's value, or a component (systolic, diastolic)."""

    field: str
    code: str
    display: str
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class KindSpec:
    kind: Kind
    code: str
    display: str
    extra_codes: tuple[tuple[str, str], ...]
    """More LOINC codings of the same observation (SpO2: 2708-6 beside 59408-5)."""
    category: Literal["vital-signs", "laboratory"]
    profile: str | None
    unit: str
    """The UCUM code values are stored in."""
    unit_display: str
    units: dict[str, Convert]
    """Accepted units (lower case, annotations removed) and their conversion to ``unit``."""
    parts: tuple[Part, ...]
    decimals: int

    @property
    def is_panel(self) -> bool:
        return len(self.parts) > 1


_PRESSURE = {"mm[hg]": _SAME, "mmhg": _SAME, "kpa": _times(7.500615758456563)}
_SPECS: tuple[KindSpec, ...] = (
    KindSpec(
        kind="blood_pressure",
        code="85354-9",
        display="Blood pressure panel with all children optional",
        extra_codes=(),
        category="vital-signs",
        profile="http://hl7.org/fhir/StructureDefinition/bp",
        unit="mm[Hg]",
        unit_display="mmHg",
        units=_PRESSURE,
        parts=(
            Part("systolic", "8480-6", "Systolic blood pressure", 40, 300),
            Part("diastolic", "8462-4", "Diastolic blood pressure", 20, 200),
        ),
        decimals=1,
    ),
    KindSpec(
        kind="heart_rate",
        code="8867-4",
        display="Heart rate",
        extra_codes=(),
        category="vital-signs",
        profile="http://hl7.org/fhir/StructureDefinition/heartrate",
        unit="/min",
        unit_display="beats/minute",
        units={
            "/min": _SAME,
            "1/min": _SAME,
            "{beats}/min": _SAME,
            "beats/min": _SAME,
            "bpm": _SAME,
            "count/min": _SAME,
        },
        parts=(Part("value", "8867-4", "Heart rate", 20, 300),),
        decimals=0,
    ),
    KindSpec(
        kind="body_weight",
        code="29463-7",
        display="Body weight",
        extra_codes=(),
        category="vital-signs",
        profile="http://hl7.org/fhir/StructureDefinition/bodyweight",
        unit="kg",
        unit_display="kg",
        units={
            "kg": _SAME,
            "g": _times(0.001),
            "[lb_av]": _times(0.45359237),
            "lb": _times(0.45359237),
            "lbs": _times(0.45359237),
        },
        parts=(Part("value", "29463-7", "Body weight", 0.3, 650),),
        decimals=2,
    ),
    KindSpec(
        kind="body_height",
        code="8302-2",
        display="Body height",
        extra_codes=(),
        category="vital-signs",
        profile="http://hl7.org/fhir/StructureDefinition/bodyheight",
        unit="cm",
        unit_display="cm",
        units={
            "cm": _SAME,
            "m": _times(100.0),
            "mm": _times(0.1),
            "[in_i]": _times(2.54),
            "in": _times(2.54),
            "[ft_i]": _times(30.48),
            "ft": _times(30.48),
        },
        parts=(Part("value", "8302-2", "Body height", 20, 280),),
        decimals=1,
    ),
    KindSpec(
        kind="body_temperature",
        code="8310-5",
        display="Body temperature",
        extra_codes=(),
        category="vital-signs",
        profile="http://hl7.org/fhir/StructureDefinition/bodytemp",
        unit="Cel",
        unit_display="°C",
        units={
            "cel": _SAME,
            "°c": _SAME,
            "degc": _SAME,
            "c": _SAME,
            "[degf]": _fahrenheit,
            "°f": _fahrenheit,
            "degf": _fahrenheit,
            "f": _fahrenheit,
        },
        parts=(Part("value", "8310-5", "Body temperature", 25, 45),),
        decimals=2,
    ),
    KindSpec(
        kind="oxygen_saturation",
        code="59408-5",
        display="Oxygen saturation in Arterial blood by Pulse oximetry",
        extra_codes=(("2708-6", "Oxygen saturation in Arterial blood"),),
        category="vital-signs",
        profile="http://hl7.org/fhir/StructureDefinition/oxygensat",
        unit="%",
        unit_display="%",
        units={"%": _SAME, "1": _times(100.0)},
        parts=(Part("value", "59408-5", "Oxygen saturation", 50, 100),),
        decimals=1,
    ),
    KindSpec(
        kind="blood_glucose",
        code="2339-0",
        display="Glucose [Mass/volume] in Blood",
        extra_codes=(),
        category="laboratory",
        profile=None,
        unit="mg/dL",
        unit_display="mg/dL",
        units={
            "mg/dl": _SAME,
            "mmol/l": _times(GLUCOSE_MG_PER_DL_PER_MMOL_PER_L),
        },
        parts=(Part("value", "2339-0", "Glucose", 10, 1000),),
        decimals=1,
    ),
)
SPECS: Final[dict[str, KindSpec]] = {spec.kind: spec for spec in _SPECS}
ALIASES: Final[dict[str, Kind]] = {
    # Google Health Connect record types (with or without their ``Record`` suffix)
    "bloodpressure": "blood_pressure",
    "heartrate": "heart_rate",
    "weight": "body_weight",
    "height": "body_height",
    "bodytemperature": "body_temperature",
    "oxygensaturation": "oxygen_saturation",
    "bloodglucose": "blood_glucose",
}
MEAL_RELATIONS: Final[dict[str, tuple[str, str | None]]] = {
    # ours -> (display, HL7 v3 TimingEvent code where there is one)
    "fasting": ("Fasting", None),
    "before_meal": ("Before a meal", "AC"),
    "after_meal": ("After a meal", "PC"),
    "random": ("Not related to a meal", None),
}
HEALTH_CONNECT_MEAL: Final[dict[int, MealRelation | None]] = {
    # BloodGlucoseRecord.relationToMeal: 0 unknown, 1 general, 2 fasting, 3 before, 4 after
    0: None,
    1: "random",
    2: "fasting",
    3: "before_meal",
    4: "after_meal",
}
_ANNOTATION = re.compile(r"<[^>]*>")


def kind_of(name: str) -> Kind | None:
    """Our kind for one of ours or a Health Connect record type (``BloodPressureRecord``)."""
    if name in SPECS:
        return name  # type: ignore[return-value]  # a key of SPECS is a Kind
    folded = name.strip().lower().replace("_", "")
    folded = folded.removesuffix("record")
    return ALIASES.get(folded)


def unit_key(unit: str) -> str:
    """A unit as compared: without case, spaces or HealthKit's molar-mass annotation."""
    return _ANNOTATION.sub("", unit).replace(" ", "").lower()


def converter(spec: KindSpec, unit: str) -> Convert | None:
    """How to bring a value in ``unit`` to the kind's unit, ``None`` for a unit it does not take."""
    return spec.units.get(unit_key(unit))


def accepted_units(spec: KindSpec) -> str:
    """The units a kind accepts, for a refusal's detail."""
    return ", ".join(sorted(spec.units))
