"""Laboratory analyses: NPU codes, Danish reference intervals, and values that tell a story.

A citizen has a baseline per analysis (sex, age, chronic disease); an acute course adds an
inflammatory peak that rises and falls over the days of an admission, an operation drops the
haemoglobin, a kidney injury lifts the creatinine. eGFR is computed from the creatinine with
CKD-EPI 2021, as Danish laboratories report it.
"""

# ruff: noqa: RUF001 - Danish clinical text writes the en dash and the multiplication sign

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from indblik.records.synth.terminology import INTERPRETATION, NPU, UCUM


@dataclass(frozen=True)
class Analyte:
    """One NPU-coded analysis with its unit and reference interval."""

    key: str
    code: str
    npu_name: str
    short: str  # what Danish clinicians call it
    unit: str
    ucum: str
    low: float | None
    high: float | None
    decimals: int = 0
    low_female: float | None = None  # sex-specific intervals (None: same as low/high)
    high_female: float | None = None

    def interval(self, female: bool) -> tuple[float | None, float | None]:
        """Return (low, high) of the reference interval for this sex."""
        if female and (self.low_female is not None or self.high_female is not None):
            return self.low_female, self.high_female
        return self.low, self.high


ANALYTES: dict[str, Analyte] = {
    a.key: a
    for a in (
        Analyte(
            "hb",
            "NPU02319",
            "B—Hæmoglobin(Fe); stofk. = ? mmol/L",
            "Hæmoglobin",
            "mmol/L",
            "mmol/L",
            8.3,
            10.5,
            1,
            7.3,
            9.5,
        ),
        Analyte(
            "na",
            "NPU03429",
            "P—Natrium-ion; stofk. = ? mmol/L",
            "Natrium",
            "mmol/L",
            "mmol/L",
            137,
            145,
        ),
        Analyte(
            "k",
            "NPU03230",
            "P—Kalium-ion; stofk. = ? mmol/L",
            "Kalium",
            "mmol/L",
            "mmol/L",
            3.5,
            4.4,
            1,
        ),
        Analyte(
            "krea",
            "NPU18016",
            "P—Creatininium; stofk. = ? µmol/L",
            "Kreatinin",
            "µmol/L",
            "umol/L",
            60,
            105,
            0,
            45,
            90,
        ),
        Analyte(
            "egfr",
            "DNK35302",
            "P—Glomerulær filtrationsrate; vol.hast.(CKD-EPI) = ? mL/min",
            "eGFR",
            "mL/min/1,73 m²",
            "mL/min/{1.73_m2}",
            60,
            None,
        ),
        Analyte(
            "crp",
            "NPU19748",
            "P—C-reaktivt protein; massek. = ? mg/L",
            "CRP",
            "mg/L",
            "mg/L",
            None,
            8,
        ),
        Analyte(
            "leuk",
            "NPU02593",
            "B—Leukocytter; antalk. = ? × 10^9/L",
            "Leukocytter",
            "× 10^9/L",
            "10*9/L",
            3.5,
            8.8,
            1,
        ),
        Analyte(
            "inr",
            "NPU01685",
            "P—Koagulation, vævsfaktor-induceret; rel.tid(aktuel/norm; INR; IRP 67/40; proc.) = ?",
            "INR",
            "INR",
            "{INR}",
            0.9,
            1.2,
            1,
        ),
        Analyte(
            "hba1c",
            "NPU27300",
            "Hb(B)—Hæmoglobin A1c(IFCC); stofbrøk = ? mmol/mol",
            "HbA1c",
            "mmol/mol",
            "mmol/mol",
            None,
            48,
        ),
        Analyte(
            "albumin", "NPU19673", "P—Albumin; massek. = ? g/L", "Albumin", "g/L", "g/L", 34, 45
        ),
        Analyte(
            "glukose",
            "NPU22089",
            "P(kB)—Glucose; stofk. = ? mmol/L",
            "Glukose",
            "mmol/L",
            "mmol/L",
            4.0,
            7.8,
            1,
        ),
    )
}

STANDARD_PANEL = ("hb", "na", "k", "krea", "egfr", "crp", "leuk")


@dataclass
class Baseline:
    """A citizen's own steady-state values (before anything acute happens)."""

    female: bool
    age: int
    hb: float
    na: float
    k: float
    krea: float
    crp: float
    leuk: float
    inr: float
    hba1c: float
    albumin: float
    glukose: float


def baseline(
    rng: random.Random,
    *,
    female: bool,
    age: int,
    ckd: bool,
    diabetes: bool,
    anaemia: bool,
    warfarin: bool,
) -> Baseline:
    """Draw a citizen's baseline values from their sex, age and chronic conditions."""
    hb = rng.gauss(8.4 if female else 9.2, 0.45) - (1.1 if anaemia else 0.0)
    krea = rng.gauss(68 if female else 84, 9) * (1 + 0.004 * max(0, age - 60))
    if ckd:
        krea *= rng.uniform(1.6, 2.3)
    return Baseline(
        female=female,
        age=age,
        hb=hb,
        na=rng.gauss(140, 1.6),
        k=rng.gauss(4.0, 0.22),
        krea=krea,
        crp=rng.uniform(1, 5),
        leuk=rng.gauss(6.6, 1.1),
        inr=rng.uniform(2.1, 3.0) if warfarin else rng.uniform(0.9, 1.1),
        hba1c=rng.gauss(62, 9) if diabetes else rng.gauss(37, 3),
        albumin=rng.gauss(37 if age > 75 else 40, 2.5),
        glukose=rng.gauss(8.5, 1.8) if diabetes else rng.gauss(5.6, 0.5),
    )


def egfr(krea: float, *, female: bool, age: int) -> float:
    """Return CKD-EPI 2021 eGFR (mL/min/1.73 m²) from creatinine in µmol/L."""
    scr = krea / 88.4
    kappa, alpha = (0.7, -0.241) if female else (0.9, -0.302)
    value = 142 * min(scr / kappa, 1) ** alpha * max(scr / kappa, 1) ** -1.200 * 0.9938**age
    return value * (1.012 if female else 1.0)


@dataclass(frozen=True)
class Acute:
    """What an acute course does to the values, as peaks (0 where it does nothing)."""

    crp: float = 0.0  # mg/L added at the peak (day 1)
    leuk: float = 0.0  # 10^9/L added at admission, falls over the days
    aki: float = 0.0  # relative creatinine rise at admission (0.5 = +50 %)
    hb_drop: float = 0.0  # mmol/L drop from the day after an operation
    na_drop: float = 0.0  # mmol/L lower at admission
    k_shift: float = 0.0  # mmol/L added (negative: diuretics)
    neutropenia: bool = False  # chemotherapy: leukocytes fall instead of rising


# Inflammation rises to day 1 and falls off (CRP lags the leukocytes by a day).
_CRP_CURVE = (0.7, 1.0, 0.75, 0.5, 0.35, 0.25, 0.18, 0.13, 0.1)
_LEUK_CURVE = (1.0, 0.8, 0.55, 0.35, 0.2, 0.12, 0.08, 0.05, 0.03)


def values(base: Baseline, acute: Acute, day: int, rng: random.Random) -> dict[str, float]:
    """Return every analysis on ``day`` of an acute course (``day`` < 0: no acute illness)."""
    if day < 0:
        crp_f = leuk_f = 0.0
        aki_f = 0.0
    else:
        crp_f = _CRP_CURVE[min(day, len(_CRP_CURVE) - 1)]
        leuk_f = _LEUK_CURVE[min(day, len(_LEUK_CURVE) - 1)]
        aki_f = leuk_f
    krea = base.krea * (1 + acute.aki * aki_f) * rng.uniform(0.95, 1.05)
    leuk = base.leuk + acute.leuk * leuk_f
    if acute.neutropenia and day >= 0:
        leuk = rng.uniform(0.4, 1.4) + 0.5 * day
    hb = base.hb - (acute.hb_drop if day >= 1 else 0.0) + rng.gauss(0, 0.15)
    return {
        "hb": hb,
        "na": base.na - acute.na_drop * leuk_f + rng.gauss(0, 0.8),
        "k": base.k + acute.k_shift * (1 - leuk_f if day >= 0 else 0) + rng.gauss(0, 0.12),
        "krea": krea,
        "egfr": egfr(krea, female=base.female, age=base.age),
        "crp": max(0.5, base.crp + acute.crp * crp_f * rng.uniform(0.85, 1.15)),
        "leuk": max(0.3, leuk + rng.gauss(0, 0.4)),
        "inr": base.inr + rng.gauss(0, 0.12),
        "hba1c": base.hba1c,
        "albumin": base.albumin - 5 * crp_f * (1 if acute.crp else 0),
        "glukose": base.glukose + rng.gauss(0, 0.6),
    }


_H = {"coding": [{"system": INTERPRETATION, "code": "H", "display": "High"}], "text": "Forhøjet"}
_L = {"coding": [{"system": INTERPRETATION, "code": "L", "display": "Low"}], "text": "Lav"}


def result(analyte: Analyte, value: float, *, female: bool) -> dict[str, Any]:
    """Return the value parts of an Observation: valueQuantity, referenceRange, interpretation."""
    low, high = analyte.interval(female)
    rounded = round(value, analyte.decimals) if analyte.decimals else float(round(value))
    quantity: dict[str, Any] = {
        "value": rounded if analyte.decimals else int(rounded),
        "unit": analyte.unit,
        "system": UCUM,
        "code": analyte.ucum,
    }
    # Laboratories cut off at the ends of a method's range ("< 4", "> 90").
    if analyte.key == "egfr" and rounded > 90:
        quantity.update(value=90, comparator=">")
    elif analyte.key == "crp" and rounded < 4:
        quantity.update(value=4, comparator="<")
    parts: dict[str, Any] = {"valueQuantity": quantity}
    reference: dict[str, Any] = {}
    if low is not None:
        reference["low"] = {
            "value": low,
            "unit": analyte.unit,
            "system": UCUM,
            "code": analyte.ucum,
        }
    if high is not None:
        reference["high"] = {
            "value": high,
            "unit": analyte.unit,
            "system": UCUM,
            "code": analyte.ucum,
        }
    if analyte.key == "inr":
        reference["text"] = "Terapeutisk interval ved AK-behandling 2,0–3,0"
    parts["referenceRange"] = [reference]
    compared = quantity["value"]
    if high is not None and compared > high and quantity.get("comparator") != "<":
        parts["interpretation"] = [_H]
    elif low is not None and compared < low and quantity.get("comparator") != ">":
        parts["interpretation"] = [_L]
    return parts


def code(analyte: Analyte) -> dict[str, Any]:
    """Return the Observation.code of an analysis (NPU coding, Danish short name as text)."""
    return {
        "coding": [{"system": NPU, "code": analyte.code, "display": analyte.npu_name}],
        "text": analyte.short,
    }


def format_value(analyte: Analyte, value: float) -> str:
    """Return a value as a Danish note would write it (decimal comma)."""
    if analyte.decimals:
        return f"{value:.{analyte.decimals}f}".replace(".", ",")
    return str(round(value))


def is_abnormal(analyte: Analyte, value: float, *, female: bool) -> bool:
    """Return True when ``value`` lies outside the reference interval."""
    low, high = analyte.interval(female)
    return (high is not None and value > high) or (low is not None and value < low)
