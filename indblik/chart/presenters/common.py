"""Small readers shared by the presenters: dates in Danish time, concepts, references, status.

All of them accept whatever shape the FHIR JSON has (dicts, lists, None, wrong types) and
return display strings or None; none raises.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from indblik.records import fhir

COPENHAGEN = ZoneInfo("Europe/Copenhagen")
MAX_TEXT_BYTES = 512 * 1024  # inline text attachments larger than this are not decoded


def local(value: Any) -> dt.datetime | None:
    """Parse a FHIR date/dateTime/instant and return it in Europe/Copenhagen time."""
    if isinstance(value, dt.datetime):
        parsed: dt.datetime | None = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    else:
        parsed = fhir.parse_datetime(value) if isinstance(value, str) else None
    return parsed.astimezone(COPENHAGEN) if parsed else None


def precision(value: Any) -> str:
    """``year``, ``month``, ``day`` or ``time``: how much of a FHIR date the source gave."""
    if not isinstance(value, str):
        return "time" if isinstance(value, dt.datetime) else ""
    if len(value) == 4:
        return "year"
    if len(value) == 7:
        return "month"
    if len(value) == 10:
        return "day"
    return "time"


def date_text(value: Any) -> str:
    """A FHIR date or dateTime in Danish format: ``24.01.2026 09:05``, ``24.01.2026``, ``2026``.

    A partial date shows only what is known; a time is shown in Danish local time.
    """
    kind = precision(value)
    if kind == "year":
        return str(value)
    if kind == "month":
        return f"{value[5:7]}.{value[0:4]}"
    moment = local(value)
    if moment is None:
        return ""
    if kind == "day":
        return (
            moment.strftime("%d.%m.%Y")
            if not isinstance(value, str)
            else (f"{value[8:10]}.{value[5:7]}.{value[0:4]}")
        )
    return moment.strftime("%d.%m.%Y %H:%M")


def day_text(value: Any) -> str:
    """Only the date part, Danish format."""
    kind = precision(value)
    if kind in ("year", "month", "day"):
        return date_text(value)
    moment = local(value)
    return moment.strftime("%d.%m.%Y") if moment else ""


def concept_text(concept: Any) -> str:
    """Human text of a CodeableConcept (or list): ``text``, else the first coding's display/code."""
    if isinstance(concept, list):
        texts = [concept_text(item) for item in concept]
        return ", ".join(text for text in texts if text)
    if not isinstance(concept, Mapping):
        return ""
    text = concept.get("text")
    if isinstance(text, str) and text.strip():
        return text.strip()
    for coding in concept.get("coding") or ():
        if isinstance(coding, Mapping):
            for key in ("display", "code"):
                value = coding.get(key)
                if isinstance(value, str) and value.strip():
                    return value.strip()
    return ""


def coding_text(coding: Any) -> str:
    """Display (or code) of a single Coding."""
    if not isinstance(coding, Mapping):
        return ""
    for key in ("display", "code"):
        value = coding.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def reference_text(reference: Any) -> str:
    """Display of a Reference: ``display``, else the identifier's value, else ''."""
    if isinstance(reference, list):
        texts = [reference_text(item) for item in reference]
        return ", ".join(text for text in texts if text)
    if not isinstance(reference, Mapping):
        return ""
    display = reference.get("display")
    if isinstance(display, str) and display.strip():
        return display.strip()
    identifier = reference.get("identifier")
    if isinstance(identifier, Mapping) and identifier.get("value"):
        return str(identifier["value"])
    return ""


def references_of_type(references: Any, rtype: str) -> list[Mapping[str, Any]]:
    """The references in a list whose literal reference or ``type`` names ``rtype``."""
    found = []
    for reference in references if isinstance(references, list) else [references]:
        if not isinstance(reference, Mapping):
            continue
        literal = reference.get("reference")
        if reference.get("type") == rtype or (
            isinstance(literal, str) and literal.split("/")[-2:-1] == [rtype]
        ):
            found.append(reference)
    return found


def visible(resources: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Drop resources entered in error (and anything that is not a dict)."""
    return [
        resource
        for resource in resources
        if isinstance(resource, Mapping)
        and resource.get("status") != "entered-in-error"
        and status_code(resource) != "entered-in-error"
        and not fhir.is_restricted(dict(resource))
    ]


def status_code(resource: Mapping[str, Any]) -> str:
    """The resource's status code (clinicalStatus for conditions and allergies)."""
    path = fhir.STATUS_PATHS.get(str(resource.get("resourceType", "")), "status")
    value = resource.get(path)
    if isinstance(value, Mapping):
        for coding in value.get("coding") or ():
            if isinstance(coding, Mapping) and coding.get("code"):
                return str(coding["code"])
        return ""
    return str(value) if isinstance(value, str) else ""


# Status codes in Danish (via gettext), grouped by the tone the page shows them in.
STATUS_LABELS: dict[str, Any] = {
    "draft": _("draft"),
    "requested": _("ordered"),
    "proposed": _("proposed"),
    "planned": _("planned"),
    "booked": _("booked"),
    "pending": _("pending"),
    "arrived": _("arrived"),
    "checked-in": _("checked in"),
    "registered": _("registered"),
    "preliminary": _("preliminary"),
    "partial": _("partial"),
    "active": pgettext_lazy("status", "active"),
    "in-progress": _("in progress"),
    "on-hold": _("on hold"),
    "preparation": _("preparation"),
    "final": _("final"),
    "amended": _("amended"),
    "corrected": _("corrected"),
    "appended": _("appended"),
    "completed": _("done"),
    "finished": _("finished"),
    "fulfilled": _("done"),
    "current": _("current"),
    "resolved": _("resolved"),
    "inactive": _("inactive"),
    "remission": _("remission"),
    "recurrence": _("recurrence"),
    "relapse": _("relapse"),
    "cancelled": _("cancelled"),
    "revoked": _("cancelled"),
    "stopped": _("stopped"),
    "not-done": _("not done"),
    "noshow": _("did not attend"),
    "superseded": _("superseded"),
    "unknown": _("unknown"),
    "waitlist": _("waiting list"),
    "onleave": _("on leave"),
    "triaged": _("triaged"),
}
TONES = {
    "requested": "pending",
    "proposed": "pending",
    "planned": "pending",
    "booked": "pending",
    "pending": "pending",
    "draft": "pending",
    "preliminary": "pending",
    "registered": "pending",
    "waitlist": "pending",
    "active": "active",
    "in-progress": "active",
    "arrived": "active",
    "checked-in": "active",
    "recurrence": "active",
    "relapse": "active",
    "on-hold": "pending",
    "cancelled": "cancelled",
    "revoked": "cancelled",
    "stopped": "cancelled",
    "not-done": "cancelled",
    "noshow": "cancelled",
    "superseded": "cancelled",
}


def status_label(code: str) -> str:
    """The Danish (or English) label of a status code; unknown codes are shown as they are."""
    label = STATUS_LABELS.get(code)
    return str(label) if label is not None else code


def status_tone(code: str) -> str:
    """``active``, ``pending``, ``cancelled`` or ``done``: the colour class of a status badge."""
    return TONES.get(code, "done")


def attachment_text(attachment: Any) -> str | None:
    """Decode an inline ``text/*`` attachment (base64 ``data``); None if not text or too big."""
    if not isinstance(attachment, Mapping):
        return None
    content_type = str(attachment.get("contentType", ""))
    data = attachment.get("data")
    if not content_type.startswith("text/") or not isinstance(data, str):
        return None
    if len(data) > MAX_TEXT_BYTES * 4 // 3 + 4:
        return None
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.decode("utf-8", errors="replace")


def age(birth_date: dt.date | None, today: dt.date) -> int | None:
    """Age in whole years on ``today``."""
    if birth_date is None:
        return None
    years = today.year - birth_date.year
    if (today.month, today.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def quantity_text(quantity: Any) -> str:
    """``7,9 mmol/L``: a Quantity with a Danish decimal comma."""
    if not isinstance(quantity, Mapping):
        return ""
    value = quantity.get("value")
    unit = quantity.get("unit") or quantity.get("code") or ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(unit)
    comparator = quantity.get("comparator") or ""
    return f"{comparator}{number_text(value)} {unit}".strip()


def number_text(value: float | int) -> str:
    """A number with a Danish decimal comma and no float noise (``7.9`` → ``7,9``)."""
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    return text.replace(".", ",")
