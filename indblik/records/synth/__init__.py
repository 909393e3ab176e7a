"""Deterministic Danish synthetic hospital records (``indblik generate``).

Public API:

- :func:`generate_patient` — all FHIR R4 resources of one citizen, Patient first;
- :func:`shared_resources` — the Organizations, Practitioners, Locations and Questionnaires
  that patients reference (independent of the seed);
- :func:`generate` — shared resources, then every citizen, as a lazy stream.

The same seed and ``now`` give byte-identical output. Each citizen has its own random stream
derived from (seed, index), so citizen 7 is the same whether 10 or 100,000 are generated.
See docs/synthetic-data.md for what is generated and in which proportions.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

from indblik.records.synth import clinical, people
from indblik.records.synth.chart import COPENHAGEN, Chart
from indblik.records.synth.organisations import shared_resources

__all__ = ["default_now", "generate", "generate_patient", "patient_rng", "shared_resources"]


def default_now() -> dt.datetime:
    """Return the current time truncated to the day (UTC midnight): appointments lie ahead."""
    today = dt.datetime.now(dt.UTC)
    return today.replace(hour=0, minute=0, second=0, microsecond=0)


def patient_rng(seed: int, index: int) -> random.Random:
    """Return the random stream of citizen ``index`` under ``seed``."""
    return random.Random(seed * 1_000_003 + index)


def generate_patient(rng: random.Random, index: int, *, now: dt.datetime) -> list[dict[str, Any]]:
    """Return every FHIR R4 resource of one citizen, the Patient first.

    Ids are ``synth-<index>`` for the Patient and ``synth-<index>-<n>`` for the rest; references
    point at ``Patient/…`` and at the shared ``Organization/…``, ``Practitioner/…``,
    ``Location/…`` resources and Questionnaire canonicals of :func:`shared_resources`. ``now``
    must be timezone-aware; the story is told relative to it (appointments after it).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local_now = now.astimezone(COPENHAGEN).replace(tzinfo=None)
    chart = Chart(rng, index, local_now)
    person = people.make_person(rng, index, today=local_now.date())
    patient = people.patient_resource(person, rng)
    chart.resources.append(patient)
    clinical.write_story(chart, person, patient)
    return chart.resources


def generate(
    patients: int, *, seed: int = 1, now: dt.datetime | None = None
) -> Iterator[dict[str, Any]]:
    """Yield the shared resources, then each citizen's resources (streamed, one at a time)."""
    if patients < 0:
        raise ValueError("patients must not be negative")
    moment = now or default_now()
    yield from shared_resources()
    for index in range(patients):
        yield from generate_patient(patient_rng(seed, index), index, now=moment)
