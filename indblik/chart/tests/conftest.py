"""Fixtures of the chart tests: synthetic citizens in the local store, granted clients."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.db.models import Count

from indblik.access.testing import Granted, grant_client
from indblik.records import synth
from indblik.records.ingest import ingest_resources
from indblik.records.models import Patient

# A fixed moment for the synthetic story: appointments lie after it.
STORY_NOW = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def load_citizens(count: int = 3, *, seed: int = 7) -> None:
    """Ingest ``count`` synthetic citizens (and the shared organisations and staff)."""
    ingest_resources(synth.generate(count, seed=seed, now=STORY_NOW), source="test", validate=False)


def richest_patient() -> Patient:
    """The citizen with the most resources."""
    return Patient.objects.annotate(size=Count("resources")).order_by("-size", "pk").first()  # type: ignore[return-value]


def smallest_patient() -> Patient:
    """The citizen with the fewest resources."""
    return Patient.objects.annotate(size=Count("resources")).order_by("size", "pk").first()  # type: ignore[return-value]


@pytest.fixture
def citizens(db: Any) -> None:
    load_citizens()


@pytest.fixture
def rich(citizens: None) -> Patient:
    return richest_patient()


@pytest.fixture
def granted(rich: Patient) -> Iterator[Granted]:
    yield grant_client(rich)
