"""The builder that collects one citizen's resources: ids, references and Danish local time."""

from __future__ import annotations

import base64
import datetime as dt
import random
from typing import Any
from zoneinfo import ZoneInfo

from indblik.records.synth.terminology import Resource, synthetic_meta

COPENHAGEN = ZoneInfo("Europe/Copenhagen")


def stamp(moment: dt.datetime) -> str:
    """Return a naive Danish wall-clock time as a FHIR dateTime with its offset (+01:00/+02:00)."""
    return moment.replace(tzinfo=COPENHAGEN).isoformat()


def day(moment: dt.datetime | dt.date) -> str:
    """Return the FHIR date of a moment."""
    return moment.strftime("%Y-%m-%d")


def encode(text: str) -> str:
    """Return UTF-8 text as base64 (an Attachment's ``data``)."""
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def encode_bytes(data: bytes) -> str:
    """Return bytes as base64 (an Attachment's ``data``)."""
    return base64.b64encode(data).decode("ascii")


class Chart:
    """Collects one citizen's resources with deterministic ids ``synth-<index>-<n>``.

    Times are naive Danish wall-clock datetimes until :func:`stamp` writes them out; ``now`` is
    the generation time in the same terms.
    """

    def __init__(self, rng: random.Random, index: int, now: dt.datetime) -> None:
        self.rng = rng
        self.index = index
        self.now = now
        self.patient_id = f"synth-{index}"
        self.resources: list[Resource] = []
        self._count = 0

    def new(self, resource_type: str, /, **fields: Any) -> Resource:
        """Create, keep and return a resource (fields in the order given)."""
        self._count += 1
        resource: Resource = {
            "resourceType": resource_type,
            "id": f"synth-{self.index}-{self._count}",
            "meta": synthetic_meta(),
        }
        resource.update(fields)
        self.resources.append(resource)
        return resource

    def subject(self) -> dict[str, str]:
        """Return a fresh Reference to the citizen."""
        return {"reference": f"Patient/{self.patient_id}"}

    @staticmethod
    def ref(resource: Resource, display: str | None = None) -> dict[str, str]:
        """Return a Reference to one of this citizen's resources."""
        reference = {"reference": f"{resource['resourceType']}/{resource['id']}"}
        if display:
            reference["display"] = display
        return reference

    def chance(self, probability: float) -> bool:
        """Return True with the given probability."""
        return self.rng.random() < probability

    def at(self, when: dt.date, hour: int, minute: int | None = None) -> dt.datetime:
        """Return a wall-clock time on a day (minute drawn in 5-minute steps unless given)."""
        if minute is None:
            minute = self.rng.randrange(0, 60, 5)
        return dt.datetime(when.year, when.month, when.day, hour, minute)
