"""What one citizen's story shares: the shares of the population, the citizen, a course."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from indblik.records.synth import labs
from indblik.records.synth.chart import Chart
from indblik.records.synth.organisations import Department, Staff
from indblik.records.synth.people import Person
from indblik.records.synth.scenarios import Scenario
from indblik.records.synth.terminology import Resource

# Shares of citizens (see docs/synthetic-data.md).
CURRENTLY_ADMITTED = 0.05
RECENT = 0.83  # primary course ended within the last 26 days (cumulative with the above: 0.88)
RICH = 0.10
DECEASED = 0.01
CONSENT = 0.02
RELATED_PERSON = 0.30
NEAR_CLINIC = 0.25  # of Copenhagen citizens with a recent course
PSYCHIATRIC_NOTE = 0.34  # of admissions of 2 days or more: about 3 % of all notes


@dataclass
class Context:
    """What the whole story of one citizen shares."""

    chart: Chart
    person: Person
    patient: Resource
    base: labs.Baseline
    comorbid: set[str]
    problems: dict[str, Resource] = field(default_factory=dict)
    medicines: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=list)
    allergy: str = "Ingen kendte"
    resuscitation: str = "Fuld behandling"
    dies: bool = False
    flags: set[str] = field(default_factory=set)


@dataclass
class Course:
    """One hospital course of one scenario."""

    scenario: Scenario
    side: str
    dept: Department
    clinic: Department
    start: dt.datetime
    end: dt.datetime | None  # None: still admitted
    primary: bool
    doctor: Staff
    nurses: tuple[Staff, ...]
    condition: Resource
    episode: Resource | None = None
    encounter: Resource | None = None
    gp_referral: Resource | None = None
    last_values: dict[str, float] = field(default_factory=dict)

    def fill(self, phrase: str) -> str:
        return phrase.format(side=self.side, Side=self.side.capitalize())
