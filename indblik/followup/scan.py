"""The automatic rules of log follow-up: read one organisation's lookups, store cases.

The unit of a flag is a *lookup*: everything one user saw of one citizen in one day (Europe/
Copenhagen). Rules look at lookups, not at single page reads, so that reading ten pages of one
record is one case, not ten. A scan works day by day and always whole days, and a case's key
is made from the rule, the day, the user and the citizen: scanning the same days again stores
nothing new (``indblik followup scan`` is idempotent).

Queries are bounded for a log of tens of millions of rows: each day of one organisation is
read once through the ``(organisation_cvr, at)`` index; the users' usual hours come from one
``GROUP BY user, hour`` over their previous 60 days (the ``(user_id, at)`` index); patients and
users are read in chunks of the ids that occur. The exact rules are in docs/followup.md.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import statistics
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.conf import settings
from django.db.models import Count, Q
from django.db.models.functions import ExtractHour
from django.utils import timezone

from indblik.access.models import ReviewAlert
from indblik.audit import Action, Outcome
from indblik.audit.models import AuditEvent
from indblik.followup.events import LOOKUP_ACTIONS, attempted_refusal, day_bounds, zone
from indblik.followup.models import Case, Rule, ScanMark
from indblik.identity.models import User
from indblik.organisations.models import Organisation, OrganisationType
from indblik.records.models import Patient

logger = logging.getLogger("indblik.followup")

HOUR_HISTORY_DAYS = 60  # the user's usual hours: their lookups in the previous 60 days
HOUR_MIN_HISTORY = 100  # with fewer earlier lookups, "usual hours" means 06-22
HOUR_MIN_SHARE = 5.0  # percent: an hour with a smaller share of the history is unusual
DAY_STARTS, DAY_ENDS = 6, 22  # the fallback working day, 06:00-21:59
MANY_MIN = 10  # more citizens than this in a day, and
MANY_FACTOR = 3  # more than three times the median of the organisation's active users
MANY_MIN_PEERS = 3  # with fewer active users that day, more than MANY_MIN * MANY_FACTOR
LAZY_SCAN_DAYS = 14  # a page view scans at most this far back
LAZY_SCAN_INTERVAL = dt.timedelta(minutes=5)  # and not more often than this
DEFAULT_SCAN_DAYS = 7  # `indblik followup scan` without --since and without an earlier scan
CHUNK = 500


@dataclass
class Lookup:
    """What one user saw of one citizen in one day."""

    user_id: int
    cpr: str
    actor_name: str
    first_id: int
    first_at: dt.datetime
    section: str
    events: int = 0
    hours: dict[int, tuple[int, dt.datetime]] = field(default_factory=dict)


@dataclass(frozen=True)
class PatientFacts:
    """What the rules need to know of a citizen."""

    family: str
    given: str
    address: str
    municipality_code: str
    vip_label: str = ""


@dataclass
class People:
    """The organisation's users as the rules see them."""

    names: dict[int, str]
    cprs: dict[int, str]
    addresses: dict[int, str]  # from the user's own patient record, when the CPR is known
    by_cpr: dict[str, int]
    by_name: dict[str, list[int]]

    @classmethod
    def load(cls, cvr: str) -> People:
        names: dict[int, str] = {}
        cprs: dict[int, str] = {}
        by_name: dict[str, list[int]] = defaultdict(list)
        for pk, full_name, cpr in User.objects.filter(organisation_cvr=cvr).values_list(
            "pk", "full_name", "cpr"
        ):
            names[pk] = full_name
            if cpr:
                cprs[pk] = cpr
            if normalise(full_name):
                by_name[normalise(full_name)].append(pk)
        own = dict(
            Patient.objects.filter(cpr__in=list(cprs.values()), deleted=False).values_list(
                "cpr", "address"
            )
        )
        addresses = {pk: own[cpr] for pk, cpr in cprs.items() if own.get(cpr)}
        by_cpr = {cpr: pk for pk, cpr in cprs.items()}
        return cls(names, cprs, addresses, by_cpr, dict(by_name))


def normalise(text: str) -> str:
    """Compare names and addresses without case, accents of form, punctuation or spacing."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    text = re.sub(r"[^\w]+", " ", text)
    return " ".join(text.split())


def surname(full_name: str) -> str:
    """The last word of a name (``""`` if shorter than two letters)."""
    words = normalise(full_name).split()
    return words[-1] if words and len(words[-1]) >= 2 else ""


# --- entry points ---------------------------------------------------------------------------


def scan(
    organisation: Organisation, *, since: dt.datetime, until: dt.datetime | None = None
) -> int:
    """Apply every rule to the organisation's lookups from ``since``'s day to ``until``.

    Stores the cases not stored before and returns how many are new. Whole days are scanned
    (from local midnight of ``since``), so a second scan of the same days adds nothing.
    """
    end = until or timezone.now()
    tz = zone()
    day = timezone.localtime(since, tz).date()
    last_day = timezone.localtime(end, tz).date()
    people = People.load(organisation.cvr)
    created = 0
    while day <= last_day:
        created += _scan_day(organisation, people, day)
        day += dt.timedelta(days=1)
    start, _ = day_bounds(timezone.localtime(since, tz).date())
    created += _store(organisation.cvr, _alert_cases(organisation, start, end))
    mark, made = ScanMark.objects.get_or_create(
        organisation_cvr=organisation.cvr,
        defaults={"scanned_until": end, "scanned_at": timezone.now()},
    )
    if not made:
        mark.scanned_until = max(mark.scanned_until, end)
        mark.scanned_at = timezone.now()
        mark.save(update_fields=["scanned_until", "scanned_at"])
    return created


def scan_recent(organisation: Organisation, *, force: bool = False) -> int:
    """Scan what is new since the last scan (at most 14 days back); called on page views."""
    now = timezone.now()
    mark = ScanMark.objects.filter(organisation_cvr=organisation.cvr).first()
    if mark is not None and not force and now - mark.scanned_at < LAZY_SCAN_INTERVAL:
        return 0
    oldest = now - dt.timedelta(days=LAZY_SCAN_DAYS)
    since = max(mark.scanned_until, oldest) if mark is not None else oldest
    return scan(organisation, since=since, until=now)


def default_since(organisation: Organisation) -> dt.datetime:
    """Where ``indblik followup scan`` starts without ``--since``."""
    mark = ScanMark.objects.filter(organisation_cvr=organisation.cvr).first()
    if mark is not None:
        return mark.scanned_until
    return timezone.now() - dt.timedelta(days=DEFAULT_SCAN_DAYS)


# --- one day --------------------------------------------------------------------------------


def _scan_day(organisation: Organisation, people: People, day: dt.date) -> int:
    start, end = day_bounds(day)
    lookups = _lookups(organisation.cvr, start, end)
    cases: list[Case] = []
    if lookups:
        patients = _patients({lookup.cpr for lookup in lookups.values()})
        users = {lookup.user_id for lookup in lookups.values()}
        hours = _hour_history(organisation.cvr, users, start)
        for lookup in lookups.values():
            cases.extend(
                _lookup_cases(organisation, people, patients.get(lookup.cpr), lookup, hours, day)
            )
        cases.extend(_many_citizens(organisation, lookups, day))
    cases.extend(_refusal_cases(organisation, start, end))
    return _store(organisation.cvr, cases)


def _lookups(cvr: str, start: dt.datetime, end: dt.datetime) -> dict[tuple[int, str], Lookup]:
    rows = (
        AuditEvent.objects.filter(
            organisation_cvr=cvr,
            at__gte=start,
            at__lt=end,
            action__in=LOOKUP_ACTIONS,
            outcome=Outcome.SUCCESS,
            user_id__isnull=False,
        )
        .exclude(patient_cpr="")
        .order_by("at", "id")
        .values_list("id", "at", "user_id", "actor_name", "patient_cpr", "section")
    )
    tz = zone()
    lookups: dict[tuple[int, str], Lookup] = {}
    for event_id, at, user_id, actor_name, cpr, section in rows.iterator(chunk_size=5000):
        key = (user_id, cpr)
        lookup = lookups.get(key)
        if lookup is None:
            lookup = lookups[key] = Lookup(user_id, cpr, actor_name, event_id, at, section)
        lookup.events += 1
        lookup.hours.setdefault(timezone.localtime(at, tz).hour, (event_id, at))
    return lookups


def _patients(cprs: Iterable[str]) -> dict[str, PatientFacts]:
    labels = _vip_labels()
    found: dict[str, PatientFacts] = {}
    for chunk in _chunks(sorted(cprs)):
        rows = Patient.objects.filter(cpr__in=chunk, deleted=False)
        vip: dict[str, str] = {}
        if labels:
            # Only bodies that mention a label's code are parsed.
            mention = Q()
            for _system, code in labels:
                mention |= Q(body__contains=f'"{code}"')
            for cpr, body in rows.filter(mention).values_list("cpr", "body"):
                vip_label = _vip_label(orjson.loads(body), labels)
                if vip_label and cpr:
                    vip[cpr] = vip_label
        for cpr, family, given, address, municipality in rows.values_list(
            "cpr", "family", "given", "address", "municipality_code"
        ):
            if cpr:
                found[cpr] = PatientFacts(family, given, address, municipality, vip.get(cpr, ""))
    return found


def _vip_labels() -> list[tuple[str, str]]:
    labels = []
    for item in settings.INDBLIK_FOLLOWUP_VIP_LABELS:
        system, _, code = item.rpartition("|")
        if code:
            labels.append((system, code))
    return labels


def _vip_label(resource: dict[str, Any], labels: Sequence[tuple[str, str]]) -> str:
    meta = resource.get("meta") or {}
    for coding in [*(meta.get("security") or ()), *(meta.get("tag") or ())]:
        if not isinstance(coding, dict):
            continue
        pair = (str(coding.get("system", "")), str(coding.get("code", "")))
        if pair in labels:
            return pair[1]
    return ""


def _hour_history(cvr: str, users: Iterable[int], start: dt.datetime) -> dict[int, dict[int, int]]:
    """Each user's lookups per local hour over the 60 days before ``start``."""
    history: dict[int, dict[int, int]] = defaultdict(dict)
    since = start - dt.timedelta(days=HOUR_HISTORY_DAYS)
    for chunk in _chunks(sorted(users)):
        rows = (
            AuditEvent.objects.filter(
                user_id__in=chunk,
                organisation_cvr=cvr,
                at__gte=since,
                at__lt=start,
                action__in=LOOKUP_ACTIONS,
                outcome=Outcome.SUCCESS,
            )
            .annotate(hour=ExtractHour("at", tzinfo=zone()))
            .values("user_id", "hour")
            .annotate(n=Count("id"))
            .order_by()
        )
        for row in rows:
            history[row["user_id"]][row["hour"]] = row["n"]
    return history


# --- the rules ------------------------------------------------------------------------------


def _lookup_cases(
    organisation: Organisation,
    people: People,
    patient: PatientFacts | None,
    lookup: Lookup,
    hours: dict[int, dict[int, int]],
    day: dt.date,
) -> Iterator[Case]:
    def case(rule: Rule, **details: Any) -> Case:
        return _case(organisation, rule, lookup, day, details)

    own_cpr = people.cprs.get(lookup.user_id, "")
    own = bool(own_cpr) and own_cpr == lookup.cpr
    if own:
        yield case(Rule.OWN_RECORD)
    if patient is not None and not own:
        user_name = people.names.get(lookup.user_id) or lookup.actor_name
        name = surname(user_name)
        if name and name in normalise(patient.family).split():
            yield case(Rule.SAME_SURNAME, surname=patient.family)
        address = people.addresses.get(lookup.user_id, "")
        if address and normalise(address) == normalise(patient.address):
            yield case(Rule.SAME_ADDRESS)
        colleague = people.by_cpr.get(lookup.cpr)
        if colleague is not None and colleague != lookup.user_id:
            yield case(Rule.COLLEAGUE, colleague=people.names.get(colleague, ""), match="cpr")
        elif colleague is None:
            namesakes = [
                pk
                for pk in people.by_name.get(normalise(f"{patient.given} {patient.family}"), [])
                if pk != lookup.user_id
            ]
            if namesakes:
                yield case(Rule.COLLEAGUE, colleague=people.names[namesakes[0]], match="name")
        if (
            organisation.type == OrganisationType.MUNICIPALITY
            and organisation.municipality_code
            and patient.municipality_code
            and patient.municipality_code != organisation.municipality_code
        ):
            yield case(
                Rule.OUTSIDE_MUNICIPALITY,
                patient_municipality=patient.municipality_code,
                municipality=organisation.municipality_code,
            )
        if patient.vip_label:
            yield case(Rule.VIP, label=patient.vip_label)
    unusual = _unusual_hour(lookup, hours.get(lookup.user_id, {}))
    if unusual is not None:
        found = case(Rule.UNUSUAL_HOUR, **unusual["details"])
        found.event_id, found.at = unusual["event"]
        yield found


def _unusual_hour(lookup: Lookup, history: dict[int, int]) -> dict[str, Any] | None:
    total = sum(history.values())
    for hour, event in sorted(lookup.hours.items()):
        if total >= HOUR_MIN_HISTORY:
            share = 100.0 * history.get(hour, 0) / total
            if share < HOUR_MIN_SHARE:
                return {
                    "event": event,
                    "details": {"hour": hour, "share": round(share, 1), "history": total},
                }
        elif hour < DAY_STARTS or hour >= DAY_ENDS:
            return {"event": event, "details": {"hour": hour, "history": 0}}
    return None


def _many_citizens(
    organisation: Organisation, lookups: dict[tuple[int, str], Lookup], day: dt.date
) -> Iterator[Case]:
    citizens = Counter(user_id for user_id, _cpr in lookups)
    median = statistics.median(citizens.values())
    peers = len(citizens)
    for user_id, count in citizens.items():
        if count <= MANY_MIN:
            continue
        if peers >= MANY_MIN_PEERS:
            unusual = count > MANY_FACTOR * median
        else:
            unusual = count > MANY_FACTOR * MANY_MIN
        if not unusual:
            continue
        first = min(
            (lookup for lookup in lookups.values() if lookup.user_id == user_id),
            key=lambda lookup: (lookup.first_at, lookup.first_id),
        )
        yield Case(
            organisation_cvr=organisation.cvr,
            key=f"{Rule.MANY_CITIZENS}:{day.isoformat()}:{user_id}",
            rule=Rule.MANY_CITIZENS,
            details={
                "count": count,
                "median": _plain_number(median),
                "peers": peers,
                "day": day.isoformat(),
            },
            event_id=first.first_id,
            at=first.first_at,
            user_id=user_id,
            actor_name=first.actor_name,
        )


def _refusal_cases(organisation: Organisation, start: dt.datetime, end: dt.datetime) -> list[Case]:
    rows = (
        AuditEvent.objects.filter(
            organisation_cvr=organisation.cvr,
            at__gte=start,
            at__lt=end,
            action=Action.ACCESS_DENIED,
            outcome=Outcome.REFUSED,
        )
        .exclude(patient_cpr="")
        .values_list(
            "id",
            "at",
            "user_id",
            "actor_name",
            "patient_cpr",
            "decision_reasons",
            "details",
            "purpose",
        )
    )
    cases = []
    for event_id, at, user_id, actor_name, cpr, reasons, details, purpose in rows.iterator():
        code = attempted_refusal(Action.ACCESS_DENIED, reasons, details)
        if not code:
            continue
        cases.append(
            Case(
                organisation_cvr=organisation.cvr,
                key=f"{Rule.REFUSED}:{event_id}",
                rule=Rule.REFUSED,
                details={"refusal": code, "purpose": purpose},
                event_id=event_id,
                at=at,
                user_id=user_id,
                actor_name=actor_name,
                patient_cpr=cpr,
            )
        )
    return cases


def _alert_cases(organisation: Organisation, start: dt.datetime, end: dt.datetime) -> list[Case]:
    """The access policy's review alerts (emergency access, a block overridden) as cases."""
    alerts = ReviewAlert.objects.filter(
        organisation=organisation, raised_at__gte=start, raised_at__lt=end
    ).select_related("grant", "user")
    rules = {
        ReviewAlert.Kind.EMERGENCY: Rule.EMERGENCY,
        ReviewAlert.Kind.BLOCK_OVERRIDE: Rule.BLOCK_OVERRIDE,
    }
    cases = []
    for alert in alerts:
        rule = rules.get(alert.kind)  # type: ignore[call-overload]
        if rule is None:
            continue
        user = alert.user
        cases.append(
            Case(
                organisation_cvr=organisation.cvr,
                key=f"alert:{alert.pk}",
                rule=rule,
                details={"reason": alert.reason},
                alert_id=alert.pk,
                at=alert.raised_at,
                user_id=alert.user_id,
                actor_name=(user.get_full_name() if user is not None else ""),
                patient_cpr=alert.grant.patient_cpr,
            )
        )
    return cases


# --- storing --------------------------------------------------------------------------------


def _case(
    organisation: Organisation,
    rule: Rule,
    lookup: Lookup,
    day: dt.date,
    details: dict[str, Any],
) -> Case:
    return Case(
        organisation_cvr=organisation.cvr,
        key=f"{rule}:{day.isoformat()}:{lookup.user_id}:{lookup.cpr}",
        rule=rule,
        details=details,
        event_id=lookup.first_id,
        at=lookup.first_at,
        user_id=lookup.user_id,
        actor_name=lookup.actor_name,
        patient_cpr=lookup.cpr,
        section=lookup.section,
    )


def _store(cvr: str, cases: Sequence[Case]) -> int:
    """Insert the cases whose key is new; return how many that was."""
    known: set[str] = set()
    for chunk in _chunks([case.key for case in cases]):
        known.update(
            Case.objects.filter(organisation_cvr=cvr, key__in=chunk).values_list("key", flat=True)
        )
    fresh = {case.key: case for case in cases if case.key not in known}
    # ignore_conflicts: a scan running at the same time may have stored the same key.
    Case.objects.bulk_create(list(fresh.values()), batch_size=CHUNK, ignore_conflicts=True)
    return len(fresh)


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    items = list(items)
    for index in range(0, len(items), CHUNK):
        yield items[index : index + CHUNK]


def _plain_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(float(value), 1)
