"""Indblik's FHIR R4 read API: read and search the local store, strictly, audited, paged."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest
import time_machine
from django.db import connection
from django.db.models import Count, F
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from indblik.audit import Action
from indblik.audit.models import AuditEvent
from indblik.audit.tests.test_fail_closed import refuse_audit_inserts
from indblik.records import auth, fhir, searchparams
from indblik.records.api import search as api_search
from indblik.records.ingest import ingest_resources
from indblik.records.models import Feed, Patient, Resource
from indblik.records.tests import smart_kit as kit

pytestmark = pytest.mark.django_db

BASE = "http://127.0.0.1:8000/fhir/r4"
CLIENT = "other-indblik"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


@pytest.fixture
def rich() -> Patient:
    kit.load_citizens(2)
    patient = Patient.objects.annotate(size=Count("resources")).order_by("-size", "pk").first()
    assert patient is not None
    return patient


@pytest.fixture
def key() -> Any:
    return kit.ec_key()


@pytest.fixture
def reader(key: Any) -> Client:
    """A record-read client with an access token from the token endpoint (all types)."""
    kit.register(CLIENT, key)
    token = kit.access_token(Client(), key, CLIENT)
    return Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {token}"})


def body(response: Any) -> dict[str, Any]:
    assert response["Content-Type"] == "application/fhir+json"
    assert response["Cache-Control"] == "no-store"
    document: dict[str, Any] = orjson.loads(response.content)
    return document


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.content[:500]
    return body(response)


def problem(response: Any, status: int = 400) -> str:
    assert response.status_code == status, response.content[:500]
    outcome = body(response)
    assert outcome["resourceType"] == "OperationOutcome"
    diagnostics: str = outcome["issue"][0]["diagnostics"]
    return diagnostics


def link(bundle: dict[str, Any], relation: str) -> str | None:
    return next((item["url"] for item in bundle["link"] if item["relation"] == relation), None)


def local(url: str) -> str:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == "http://127.0.0.1:8000"
    return f"{parts.path}?{parts.query}"


def ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def pages(client: Client, url: str, **params: Any) -> Iterator[dict[str, Any]]:
    bundle = ok(client.get(url, params))
    yield bundle
    while (following := link(bundle, "next")) is not None:
        bundle = ok(client.get(local(following)))
        yield bundle


def stored(patient: Patient, rtype: str) -> Any:
    return Resource.objects.filter(patient=patient, resource_type=rtype, deleted=False)


def reads() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=Action.FHIR_READ).order_by("id"))


def resource_ids(event: AuditEvent) -> list[str]:
    found: list[str] = orjson.loads(event.resource_ids)
    return found


# --- read ------------------------------------------------------------------------------------


def test_every_served_type_of_a_rich_patient_reads_with_version_headers(
    reader: Client, rich: Patient
) -> None:
    rows = Resource.objects.filter(patient=rich, deleted=False).order_by("resource_type", "pk")
    first_of_type = {row.resource_type: row for row in rows}
    assert len(first_of_type) >= 15
    for rtype, row in first_of_type.items():
        response = reader.get(f"/fhir/r4/{rtype}/{row.fhir_id}")
        resource = ok(response)
        assert resource["resourceType"] == rtype and resource["id"] == row.fhir_id
        assert resource["meta"]["versionId"] == str(row.version)
        assert response["ETag"] == f'W/"{row.version}"'
        assert response["Last-Modified"].endswith("GMT")
        stored_resource = row.resource
        stored_resource.pop("meta", None)
        resource.pop("meta")
        assert resource == stored_resource

    patient = ok(reader.get(f"/fhir/r4/Patient/{rich.fhir_id}"))
    assert patient["identifier"][0]["value"] == rich.cpr
    audited = reads()
    assert len(audited) == len(first_of_type) + 1
    assert {event.patient_cpr for event in audited} == {rich.cpr}
    assert audited[-1].section == "Patient"
    assert resource_ids(audited[-1]) == [f"Patient/{rich.fhir_id}"]
    assert audited[-1].details == {"interaction": "read"}
    assert audited[-1].actor_name == f"{CLIENT} (FHIR API)"


def test_a_shared_resource_reads_and_is_audited_without_a_patient(
    reader: Client, rich: Patient
) -> None:
    organisation = Resource.objects.filter(resource_type="Organization").first()
    assert organisation is not None

    ok(reader.get(f"/fhir/r4/Organization/{organisation.fhir_id}"))

    assert reads()[-1].patient_cpr == ""
    assert reads()[-1].section == "Organization"


def test_unknown_is_404_deleted_is_410_and_neither_is_audited(
    reader: Client, rich: Patient
) -> None:
    row = stored(rich, "Encounter").first()
    assert row is not None
    Resource.objects.filter(pk=row.pk).update(deleted=True)

    problem(reader.get("/fhir/r4/Encounter/no-such-encounter"), 404)
    assert "deleted" in problem(reader.get(f"/fhir/r4/Encounter/{row.fhir_id}"), 410)
    problem(reader.get("/fhir/r4/MedicationRequest/x"), 404)
    problem(reader.get("/fhir/r4/NotAType/x"), 404)
    Patient.objects.filter(pk=rich.pk).update(deleted=True)
    other = stored(rich, "Condition").first()
    assert other is not None
    problem(reader.get(f"/fhir/r4/Condition/{other.fhir_id}"), 410)
    problem(reader.get(f"/fhir/r4/Patient/{rich.fhir_id}"), 410)
    assert reads() == []


def test_restricted_and_entered_in_error_resources_are_served(
    reader: Client, rich: Patient
) -> None:
    row = stored(rich, "Observation").first()
    assert row is not None
    resource = row.resource
    resource["status"] = "entered-in-error"
    resource["meta"] = {
        "security": [{"system": fhir.CONFIDENTIALITY_SYSTEM, "code": "R"}],
    }
    assert ingest_resources([resource], source="test", validate=False).ok
    assert Resource.objects.get(pk=row.pk).restricted

    served = ok(reader.get(f"/fhir/r4/Observation/{row.fhir_id}"))
    found = ok(reader.get("/fhir/r4/Observation", {"patient": rich.fhir_id, "_id": row.fhir_id}))

    assert served["status"] == "entered-in-error"
    assert served["meta"]["security"][0]["code"] == "R"
    assert served["meta"]["versionId"] == "2"
    assert ids(found) == [row.fhir_id]


# --- search ----------------------------------------------------------------------------------


def test_every_searchable_type_returns_exactly_the_patients_resources(
    reader: Client, rich: Patient
) -> None:
    # Some types are empty for this citizen: those answer an empty Bundle.
    sizes = Counter(stored(rich, rtype).count() for rtype in searchparams.SEARCHES)
    assert sizes[0] >= 1 and sum(sizes.values()) - sizes[0] >= 15
    for rtype, spec in searchparams.SEARCHES.items():
        found: list[str] = []
        for bundle in pages(
            reader, f"/fhir/r4/{rtype}", **{spec.patient[0]: f"Patient/{rich.fhir_id}"}
        ):
            assert bundle["type"] == "searchset"
            Bundle.model_validate(bundle)
            found += ids(bundle)
            for entry in bundle.get("entry", []):
                resource = entry["resource"]
                assert entry["fullUrl"] == f"{BASE}/{rtype}/{resource['id']}"
        expected = set(stored(rich, rtype).values_list("fhir_id", flat=True))
        assert sorted(found) == sorted(expected), rtype


def test_paging_follows_next_links_to_the_end_without_duplicates_or_gaps(
    reader: Client, rich: Patient
) -> None:
    rows = stored(rich, "Observation")
    newest = rows.order_by(F("date").desc(nulls_last=True), F("pk").desc())
    oldest = rows.order_by(F("date").asc(nulls_last=True), "pk")
    expected = list(newest.values_list("fhir_id", flat=True))
    assert len(expected) > 20

    bundles = list(
        pages(reader, "/fhir/r4/Observation", patient=f"Patient/{rich.fhir_id}", _count="7")
    )
    found = [fhir_id for bundle in bundles for fhir_id in ids(bundle)]
    oldest_first = [
        fhir_id
        for bundle in pages(
            reader, "/fhir/r4/Observation", patient=rich.fhir_id, _sort="date", _count="9"
        )
        for fhir_id in ids(bundle)
    ]

    assert len(bundles) == -(-len(expected) // 7)
    assert found == expected  # newest first, every one once
    assert oldest_first == list(oldest.values_list("fhir_id", flat=True))
    for bundle in bundles:
        for relation in ("self", "next"):
            query = urlsplit(link(bundle, relation) or "?_cursor=x").query
            # Opaque: the search travels inside the cursor, not as parameters.
            assert query.startswith("_cursor=") and "&" not in query
            assert rich.fhir_id not in query


def test_count_is_clipped_at_200_and_defaults_to_50(reader: Client, rich: Patient) -> None:
    bundle = ok(reader.get("/fhir/r4/Observation", {"patient": rich.fhir_id}))
    clipped = ok(reader.get("/fhir/r4/Observation", {"patient": rich.fhir_id, "_count": "100000"}))

    assert len(ids(bundle)) == min(50, stored(rich, "Observation").count())
    assert len(ids(clipped)) == min(200, stored(rich, "Observation").count())


def test_count_zero_answers_how_many_match_and_nothing_else(reader: Client, rich: Patient) -> None:
    # FHIR: _count=0 is _summary=count, the number of matches in Bundle.total, no entries.
    lab = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
    for params, expected in (
        ({"patient": rich.fhir_id}, stored(rich, "Observation").count()),
        (
            {"patient": rich.fhir_id, "category": lab},
            stored(rich, "Observation").filter(category__contains="laboratory").count(),
        ),
        ({"patient": "nobody-here"}, 0),
    ):
        counted = ok(reader.get("/fhir/r4/Observation", {**params, "_count": "0"}))
        assert counted["total"] == expected, params
        assert "entry" not in counted
        assert [link["relation"] for link in counted["link"]] == ["self"]
        event = reads()[-1]
        assert event.details["summary"] == "count"
        assert event.details["matches"] == expected
        assert resource_ids(event) == []  # no resource was disclosed
    assert expected == 0 and event.details["patient"] == "not found"
    assert reads()[0].patient_cpr == rich.cpr
    one = ok(reader.get("/fhir/r4/Patient", {"_id": rich.fhir_id, "_count": "0"}))
    assert one["total"] == 1 and "entry" not in one
    assert reads()[-1].patient_cpr == rich.cpr  # whose record was counted
    assert ok(reader.get("/fhir/r4/Patient", {"_id": "nobody", "_count": "0"}))["total"] == 0
    # Its own link repeats the count, not a page.
    again = ok(reader.get(local(counted["link"][0]["url"])))
    assert again["total"] == 0 and "entry" not in again
    assert "page" not in reads()[-1].details  # counted from the start, not a "next" page


def test_date_prefixes_select_by_the_clinical_date_in_danish_time(
    reader: Client, rich: Patient
) -> None:
    rows = stored(rich, "Observation").exclude(date=None)
    dates = sorted(row.date for row in rows)
    middle = dates[len(dates) // 2].astimezone(dt.UTC)
    day = middle.date().isoformat()

    def found(*conditions: str) -> set[str]:
        params = [("patient", rich.fhir_id), ("_count", "200")]
        params += [("date", condition) for condition in conditions]
        query = "&".join(f"{name}={value.replace('+', '%2B')}" for name, value in params)
        return {
            fid for bundle in pages(reader, f"/fhir/r4/Observation?{query}") for fid in ids(bundle)
        }

    def expected(**lookup: Any) -> set[str]:
        return set(rows.filter(**lookup).values_list("fhir_id", flat=True))

    stamp = middle.isoformat().replace("+00:00", "Z")
    assert found(f"ge{stamp}") == expected(date__gte=middle)
    assert found(f"lt{stamp}") == expected(date__lt=middle)
    assert found(f"gt{stamp}") == expected(date__gte=middle + dt.timedelta(seconds=1))
    assert found(f"ge{day}", f"lt{day}") == set()
    year = str(middle.year)
    start = dt.datetime(middle.year, 1, 1, tzinfo=_copenhagen())
    end = dt.datetime(middle.year + 1, 1, 1, tzinfo=_copenhagen())
    assert found(year) == expected(date__gte=start, date__lt=end)
    assert found(f"le{year}") == expected(date__lt=end)
    assert found(f"eq{day}") == expected(
        date__gte=dt.datetime.fromisoformat(day).replace(tzinfo=_copenhagen()),
        date__lt=dt.datetime.fromisoformat(day).replace(tzinfo=_copenhagen())
        + dt.timedelta(days=1),
    )
    for bad in ("ne2025", "sa2025-01-01", "2025-13-01", "yesterday", "2025-02-30"):
        assert "date" in problem(
            reader.get("/fhir/r4/Observation", {"patient": rich.fhir_id, "date": bad})
        )


def _copenhagen() -> Any:
    return ZoneInfo("Europe/Copenhagen")


def test_token_parameters_match_the_stored_first_category_and_code_with_or(
    reader: Client, rich: Patient
) -> None:
    rows = stored(rich, "Observation")
    categories = Counter(rows.values_list("category", flat=True))
    (first, _), (second, _) = categories.most_common(2)

    def found(**params: str) -> set[str]:
        url = "/fhir/r4/Observation"
        bundles = pages(reader, url, patient=rich.fhir_id, _count=200, **params)
        return {fhir_id for bundle in bundles for fhir_id in ids(bundle)}

    def expected(**lookup: Any) -> set[str]:
        return set(rows.filter(**lookup).values_list("fhir_id", flat=True))

    assert found(category=first) == expected(category=first)
    assert found(category=f"{first},{second}") == expected(category__in=[first, second])
    first_code = first.split("|")[1]
    columns = dict(rows.values_list("fhir_id", "category"))
    assert found(category=first_code) == {
        fid for fid, category in columns.items() if category.endswith(f"|{first_code}")
    }
    assert first_code != first_code.upper()
    assert found(category=first_code.upper()) == set()  # codes are case-sensitive
    system = first.split("|")[0]
    assert found(category=f"{system}|") == {
        fid for fid, category in columns.items() if category.startswith(f"{system}|")
    }
    code = rows.exclude(code="").values_list("code", flat=True)[0]
    assert found(code=code, category=first) == expected(code=code, category=first)
    assert found(status="final") == expected(status="final")
    assert found(status="final,amended") == expected(status__in=["final", "amended"])
    condition = stored(rich, "Condition").first()
    assert condition is not None
    answer = ok(
        reader.get(
            "/fhir/r4/Condition",
            {
                "patient": rich.fhir_id,
                "clinical-status": f"{CONDITION_CLINICAL}|{condition.status}",
            },
        )
    )
    assert condition.fhir_id in ids(answer)


def test_include_follows_literal_references_of_the_same_patient_only(
    reader: Client, rich: Patient
) -> None:
    own = list(stored(rich, "Observation").values_list("fhir_id", flat=True)[:3])
    stranger = Resource.objects.filter(resource_type="Observation").exclude(patient=rich).first()
    assert stranger is not None
    report = {
        "resourceType": "DiagnosticReport",
        "id": "report-with-results",
        "status": "final",
        "code": {"text": "Blodprøver"},
        "subject": {"reference": f"Patient/{rich.fhir_id}"},
        "effectiveDateTime": "2030-01-01T10:00:00+01:00",
        "result": [
            *({"reference": f"Observation/{fhir_id}"} for fhir_id in own),
            {"reference": f"Observation/{stranger.fhir_id}"},
            {"reference": "Observation/does-not-exist"},
            {"display": "no reference"},
        ],
    }
    assert ingest_resources([report], source="test", validate=False).ok

    bundle = ok(
        reader.get(
            "/fhir/r4/DiagnosticReport",
            {"patient": rich.fhir_id, "_include": "DiagnosticReport:result", "_count": "1"},
        )
    )
    devices = ok(
        reader.get(
            "/fhir/r4/DeviceUseStatement",
            {"patient": rich.fhir_id, "_include": "DeviceUseStatement:device"},
        )
    )

    assert ids(bundle) == ["report-with-results"]
    assert sorted(ids(bundle, "include")) == sorted(own)
    assert stranger.fhir_id not in ids(bundle, "include")
    assert ids(devices, "include")
    assert {
        e["resource"]["resourceType"] for e in devices["entry"] if e["search"]["mode"] == "include"
    } == {"Device"}
    audited = reads()[-2]
    assert len(resource_ids(audited)) == 1 + len(own)
    assert audited.details["included"] == len(own)
    refusal = problem(
        reader.get(
            "/fhir/r4/Observation", {"patient": rich.fhir_id, "_include": "Observation:subject"}
        )
    )
    assert "_include" in refusal


def test_a_patient_is_found_by_cpr_identifier_or_id_and_a_miss_is_audited(
    reader: Client, rich: Patient
) -> None:
    assert rich.cpr
    cpr = f"{fhir.CPR_SYSTEM}|{rich.cpr}"

    by_get = ok(reader.get("/fhir/r4/Patient", {"identifier": cpr}))
    by_post = ok(
        reader.post(
            "/fhir/r4/Patient/_search",
            f"identifier={cpr}",
            content_type="application/x-www-form-urlencoded",
        )
    )
    by_id = ok(reader.get("/fhir/r4/Patient", {"_id": rich.fhir_id}))
    nobody = ok(
        reader.post(
            "/fhir/r4/Patient/_search",
            f"identifier={fhir.CPR_SYSTEM}|0101010101",
            content_type="application/x-www-form-urlencoded",
        )
    )

    assert ids(by_get) == ids(by_post) == ids(by_id) == [rich.fhir_id]
    assert ids(nobody) == []
    for bundle in (by_get, by_post, nobody):
        assert rich.cpr not in orjson.dumps(bundle["link"]).decode()
        assert "0101010101" not in orjson.dumps(bundle["link"]).decode()
    audited = reads()
    assert [event.patient_cpr for event in audited] == [rich.cpr, rich.cpr, rich.cpr, "0101010101"]
    assert audited[-1].details["matches"] == 0
    assert audited[-1].details["patient"] == "not found"
    assert resource_ids(audited[-1]) == []
    for event in audited:
        assert rich.cpr not in orjson.dumps(event.details).decode()
        assert "0101010101" not in orjson.dumps(event.details).decode()
        assert event.details["parameters"] in (["identifier"], ["_id"])


@pytest.mark.parametrize(
    "params",
    [
        {"identifier": "urn:oid:1.2.208.176.1.1|123456"},  # another system
        {"identifier": "0101701234"},  # no system
        {"identifier": f"{fhir.CPR_SYSTEM}|0101701234,0202802345"},
        {"identifier": f"{fhir.CPR_SYSTEM}|not-a-cpr"},
        {"_id": "a,b"},
        {"name": "Hansen"},
        {},
    ],
)
def test_a_patient_search_is_one_citizen_by_cpr_or_id_only(
    reader: Client, params: dict[str, str]
) -> None:
    problem(reader.get("/fhir/r4/Patient", params))
    assert reads() == []


def test_a_search_without_the_patient_is_refused(reader: Client, rich: Patient) -> None:
    assert "patient" in problem(reader.get("/fhir/r4/Observation"))
    assert "patient" in problem(reader.get("/fhir/r4/Observation", {"status": "final"}))
    assert "patient" in problem(
        reader.get("/fhir/r4/Observation", {"patient": "Patient/a,Patient/b"})
    )
    assert "different" in problem(
        reader.get("/fhir/r4/Observation", {"patient": "a", "subject": "Patient/b"})
    )
    assert "patient" in problem(reader.get("/fhir/r4/Observation", {"patient": "Group/x"}))
    assert "_id" in problem(reader.get("/fhir/r4/Organization"))
    assert reads() == []


@pytest.mark.parametrize(
    "name",
    [
        "code:text",
        "status:not",
        "_elements",
        "_summary",
        "_total",
        "value-quantity",
        "_has:x",
        "_revinclude",
    ],
)
def test_an_unsupported_parameter_is_refused_by_name(
    reader: Client, rich: Patient, name: str
) -> None:
    response = reader.get("/fhir/r4/Observation", {"patient": rich.fhir_id, name: "x"})
    assert repr(name) in problem(response)


@pytest.mark.parametrize(
    "query",
    [
        "category=%00",
        "code=a%00b|c",
        "patient=Patient/%00",
        "date=gt9999-12-31T23:59:59.999999%2B14:00",
        "date=lt0001-01-01T00:00:00-14:00",
        "date=ge0000",
        "_id=" + ",".join(["x"] * 101),
        "_count=99999999999999999999999999",
        "_count=-1",
        "_sort=-date&_sort=date",
        "category=" + "a" * 5000,
        "_cursor=%00",
    ],
)
def test_hostile_searches_are_answered_400_never_500(
    reader: Client, rich: Patient, query: str
) -> None:
    response = reader.get(f"/fhir/r4/Observation?patient={rich.fhir_id}&{query}")
    assert response.status_code in (200, 400), (query, response.content[:300])


def test_format_and_pretty_are_tolerated_and_xml_is_refused(reader: Client, rich: Patient) -> None:
    ok(
        reader.get(
            "/fhir/r4/Observation", {"patient": rich.fhir_id, "_format": "json", "_pretty": "true"}
        )
    )
    ok(reader.get(f"/fhir/r4/Patient/{rich.fhir_id}", {"_format": "application/fhir+json"}))
    problem(reader.get("/fhir/r4/Observation", {"patient": rich.fhir_id, "_format": "xml"}))
    problem(reader.get(f"/fhir/r4/Patient/{rich.fhir_id}", {"foo": "bar"}))
    problem(reader.get(f"/fhir/r4/Patient/{rich.fhir_id}", {"_format": "xml"}))


def test_sort_accepts_the_date_parameter_only(reader: Client, rich: Patient) -> None:
    ok(reader.get("/fhir/r4/Condition", {"patient": rich.fhir_id, "_sort": "onset-date"}))
    problem(reader.get("/fhir/r4/Condition", {"patient": rich.fhir_id, "_sort": "-date"}))
    assert "_sort" in problem(
        reader.get("/fhir/r4/DeviceUseStatement", {"patient": rich.fhir_id, "_sort": "-date"})
    )


def test_post_search_counts_url_and_body_parameters_together(reader: Client, rich: Patient) -> None:
    response = reader.post(
        f"/fhir/r4/Observation/_search?patient={rich.fhir_id}",
        "_count=3&category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
        content_type="application/x-www-form-urlencoded",
    )
    bundle = ok(response)
    assert len(ids(bundle)) <= 3
    assert reads()[-1].details["parameters"] == ["_count", "category", "patient"]
    problem(
        reader.post("/fhir/r4/Observation/_search", b"{}", content_type="application/json"), 415
    )


def test_a_bad_or_foreign_cursor_is_a_400_not_a_500(
    reader: Client, rich: Patient, key: Any
) -> None:
    bundle = ok(reader.get("/fhir/r4/Observation", {"patient": rich.fhir_id, "_count": "2"}))
    following = local(link(bundle, "next") or "")
    cursor = following.split("_cursor=", 1)[1]

    for bad in ("garbage", cursor[:-3], cursor[:20] + "A" * 10 + cursor[30:], "A" * 5000):
        problem(reader.get("/fhir/r4/Observation", {"_cursor": bad}))
    problem(reader.get(f"/fhir/r4/Condition?_cursor={cursor}"))  # another type
    problem(reader.get(f"{following}&patient={rich.fhir_id}"))  # the link, edited
    other_key = kit.ec_key("other")
    kit.register("third-party", other_key)
    token = kit.access_token(Client(), other_key, "third-party")
    stranger = Client(headers={"Authorization": f"Bearer {token}"})
    assert "client" in problem(stranger.get(following))
    assert ok(reader.get(following))


def test_a_cursor_expires_after_an_hour(reader: Client, rich: Patient) -> None:
    bundle = ok(reader.get("/fhir/r4/Observation", {"patient": rich.fhir_id, "_count": "2"}))
    following = local(link(bundle, "next") or "")
    ok(reader.get(following))
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=61)):
        # A fresh access token (the first would have expired before the cursor).
        feed = Feed.objects.get(name=CLIENT)
        token = auth.issue_credential(
            feed, expires_at=timezone.now() + dt.timedelta(minutes=5), short_lived=True
        ).token
        late = Client(headers={"Authorization": f"Bearer {token}"})
        assert "expired" in problem(late.get(following))


# --- authentication and scope ----------------------------------------------------------------


def test_no_token_is_401_and_an_ingest_or_audit_token_is_403(rich: Patient) -> None:
    url = f"/fhir/r4/Patient/{rich.fhir_id}"
    anonymous = Client().get(url)
    ingest = auth.create_feed("hospital-engine").token
    portal = auth.create_feed("patient-portal", scope=Feed.Scope.AUDIT_READ).token

    assert "token" in problem(anonymous, 401)
    assert anonymous["WWW-Authenticate"].startswith('Bearer realm="indblik"')
    for token in (ingest, portal):
        client = Client(headers={"Authorization": f"Bearer {token}"})
        problem(client.get(url), 403)
        problem(client.get("/fhir/r4/Observation", {"patient": rich.fhir_id}), 403)
    assert reads() == []


def test_ingestion_keeps_its_routes_and_a_reader_cannot_write(reader: Client) -> None:
    patient = orjson.loads(Path("indblik/records/fixtures/patient-dk.json").read_bytes())
    url = f"/fhir/r4/Patient/{patient['id']}"
    ingest = Client(headers={"Authorization": f"Bearer {auth.create_feed('engine').token}"})
    data = orjson.dumps(patient)

    created = ingest.put(url, data, content_type="application/fhir+json")
    written = reader.post("/fhir/r4/Patient", data, content_type="application/fhir+json")
    deleted = reader.delete(url)
    patched = reader.patch(url, b"{}")
    read_by_ingest = ingest.get(url)

    assert created.status_code == 201
    assert "record-read" in problem(written, 403)
    problem(deleted, 403)
    problem(patched, 405)
    assert patched["Allow"] == "GET, PUT, DELETE"
    problem(read_by_ingest, 403)
    assert ok(reader.get(url))["id"] == patient["id"]


# --- audit -----------------------------------------------------------------------------------


def test_every_search_is_audited_with_names_counts_and_ids_never_values(
    reader: Client, rich: Patient
) -> None:
    params = {
        "patient": f"Patient/{rich.fhir_id}",
        "status": "final",
        "_count": "5",
        "date": "ge2000",
    }
    bundle = ok(reader.get("/fhir/r4/Observation", params))
    ok(reader.get(local(link(bundle, "next") or "")))

    first, second = reads()
    assert first.patient_cpr == rich.cpr
    assert first.section == "Observation"
    assert resource_ids(first) == [f"Observation/{fid}" for fid in ids(bundle)]
    assert first.details == {
        "interaction": "search",
        "parameters": ["_count", "date", "patient", "status"],
        "page": "first",
        "matches": 5,
        "included": 0,
        "more": True,
    }
    assert second.details["page"] == "next"
    for event in (first, second):
        text = orjson.dumps(event.details).decode()
        assert rich.cpr not in text and rich.fhir_id not in text and "final" not in text


def test_a_search_for_an_unknown_patient_is_audited_as_an_attempt(reader: Client) -> None:
    bundle = ok(reader.get("/fhir/r4/Observation", {"patient": "Patient/nobody"}))

    assert ids(bundle) == []
    event = reads()[0]
    assert event.patient_cpr == ""
    assert event.details["patient"] == "not found"


def test_a_read_whose_audit_write_fails_answers_503_with_nothing(
    reader: Client, rich: Patient
) -> None:
    assert rich.cpr
    with connection.execute_wrapper(refuse_audit_inserts):
        searched = reader.get("/fhir/r4/Observation", {"patient": rich.fhir_id})
        read = reader.get(f"/fhir/r4/Patient/{rich.fhir_id}")
        found = reader.get("/fhir/r4/Patient", {"identifier": f"{fhir.CPR_SYSTEM}|{rich.cpr}"})

    for response in (searched, read, found):
        assert "logged" in problem(response, 503)
        assert response["Retry-After"] == "30"
        text = response.content.decode()
        assert rich.cpr not in text and rich.fhir_id not in text
    assert reads() == []


# --- cost ------------------------------------------------------------------------------------


def _queries(client: Client, url: str, params: dict[str, str]) -> int:
    with CaptureQueriesContext(connection) as captured:
        ok(client.get(url, params))
    # The test's own transaction makes the audit insert a savepoint; production has none.
    return sum(1 for query in captured.captured_queries if "SAVEPOINT" not in query["sql"].upper())


def test_queries_are_few_and_do_not_grow_with_the_store(reader: Client, rich: Patient) -> None:
    report = stored(rich, "DeviceUseStatement").first()
    assert report is not None
    shapes = [
        ("/fhir/r4/Observation", {"patient": rich.fhir_id, "_count": "200"}),
        (
            "/fhir/r4/DeviceUseStatement",
            {"patient": rich.fhir_id, "_include": "DeviceUseStatement:device"},
        ),
        ("/fhir/r4/Patient", {"identifier": f"{fhir.CPR_SYSTEM}|{rich.cpr}"}),
        (f"/fhir/r4/Patient/{rich.fhir_id}", {}),
        (f"/fhir/r4/DeviceUseStatement/{report.fhir_id}", {}),
    ]
    before = [_queries(reader, url, params) for url, params in shapes]
    # credential, patient, matches, includes, audit insert: at most five
    assert before == [4, 5, 3, 3, 3]

    kit.load_citizens(6, seed=8)  # three times the citizens

    assert [_queries(reader, url, params) for url, params in shapes] == before


def test_a_search_reads_through_the_patient_type_index() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("checked on SQLite here (PostgreSQL's plan: docs/fhir-api.md)")
    search = api_search.parse(
        {"patient": ["p1"], "category": ["a|b"]}, resource_type="Observation", client_id=1
    )

    sql, params = api_search.resource_sql(search, 1)
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = " ".join(str(row[-1]) for row in cursor.fetchall())

    # Not the (resource_type, fhir_id) key: that would walk every Observation of the store.
    assert "USING INDEX resource_patient_type (patient_id=? AND resource_type=?)" in plan


# --- the CapabilityStatement -----------------------------------------------------------------


def test_the_capability_statement_is_public_valid_and_truthful(
    reader: Client, rich: Patient
) -> None:
    response = Client().get("/fhir/r4/metadata")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json"
    statement = orjson.loads(response.content)

    CapabilityStatement.model_validate(statement)
    assert statement["fhirVersion"] == "4.0.1"
    assert statement["kind"] == "instance"
    assert statement["format"] == ["json"]
    assert statement["software"]["name"] == "Indblik"
    assert statement["implementation"]["url"] == BASE
    rest = statement["rest"][0]
    security = rest["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    oauth = security["extension"][0]
    assert oauth["url"] == "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
    assert oauth["extension"] == [{"url": "token", "valueUri": f"{BASE}/auth/token"}]
    assert {item["code"] for item in rest["interaction"]} == {"transaction", "batch"}
    resources = {item["type"]: item for item in rest["resource"]}
    served = {"Patient", "AuditEvent", *searchparams.SEARCHES, *searchparams.SHARED_TYPES}
    assert set(resources) == served
    assert resources["DiagnosticReport"]["searchInclude"] == ["DiagnosticReport:result"]
    assert {i["code"] for i in resources["Observation"]["interaction"]} == {
        "read",
        "search-type",
        "create",
        "update",
        "delete",
    }
    date = {p["name"]: p for p in resources["Observation"]["searchParam"]}["date"]
    assert "clinical date" in date["documentation"]

    # Every advertised parameter is accepted; an unadvertised one is refused.
    sample = {"reference": "Patient/" + rich.fhir_id, "date": "ge2000", "token": "final"}
    for rtype, entry in resources.items():
        if rtype == "AuditEvent":
            continue  # the audit app's search (indblik/audit/tests/test_search_api.py)
        spec = searchparams.SEARCHES.get(rtype)
        advertised = {p["name"]: p["type"] for p in entry["searchParam"]}
        for name, kind in advertised.items():
            params = {name: _sample(name, kind, rich, sample)}
            if spec is not None and name not in spec.patient:
                params[spec.patient[0]] = rich.fhir_id
            ok(reader.get(f"/fhir/r4/{rtype}", params))
        others = {"_lastUpdated", "_tag", "_text", "identifier", "patient", "date", "code"}
        for name in others - set(advertised):
            params = {name: "x"}
            if spec is not None:
                params[spec.patient[0]] = rich.fhir_id
            assert repr(name) in problem(reader.get(f"/fhir/r4/{rtype}", params)), (rtype, name)


def _sample(name: str, kind: str, rich: Patient, sample: dict[str, str]) -> str:
    if name == "identifier":
        return f"{fhir.CPR_SYSTEM}|{rich.cpr}"
    if name == "_id":
        return rich.fhir_id
    return sample[kind]


def test_metadata_refuses_other_modes_and_methods() -> None:
    problem(Client().get("/fhir/r4/metadata", {"mode": "terminology"}))
    problem(Client().post("/fhir/r4/metadata"), 405)


# --- over real HTTP --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_fhir_client_over_http_discovers_gets_a_token_searches_and_pages(
    live_server: Any, settings: Any
) -> None:
    settings.INDBLIK_BASE_URL = live_server.url
    kit.load_citizens(1)
    patient = Patient.objects.get()
    key = kit.rsa_key()
    kit.register(CLIENT, key)
    base = f"{live_server.url}/fhir/r4"

    with httpx.Client(timeout=30) as http:
        config = http.get(f"{base}/.well-known/smart-configuration").json()
        statement = http.get(f"{base}/metadata").json()
        assert (
            statement["rest"][0]["security"]["extension"][0]["extension"][0]["valueUri"]
            == (config["token_endpoint"])
        )
        signed = kit.assertion(key, CLIENT, aud=config["token_endpoint"])
        token = http.post(
            config["token_endpoint"],
            data={
                "grant_type": "client_credentials",
                "scope": "system/Observation.rs system/Patient.rs",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": signed,
            },
        ).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        found = http.post(
            f"{base}/Patient/_search",
            data={"identifier": f"{fhir.CPR_SYSTEM}|{patient.cpr}"},
            headers=headers,
        ).json()
        assert ids(found) == [patient.fhir_id]
        url: str | None = f"{base}/Observation?patient=Patient/{patient.fhir_id}&_count=50"
        seen: list[str] = []
        while url is not None:
            answer = http.get(url, headers=headers)
            assert answer.status_code == 200
            assert answer.headers["content-type"] == "application/fhir+json"
            bundle = answer.json()
            seen += ids(bundle)
            url = link(bundle, "next")
        refused = http.get(f"{base}/Condition?patient={patient.fhir_id}", headers=headers)

    assert sorted(seen) == sorted(stored(patient, "Observation").values_list("fhir_id", flat=True))
    assert refused.status_code == 403  # not among the scopes granted


@pytest.mark.parametrize(
    ("body", "as_text"),
    [
        # The usual stored form: meta third, with tags of its own.
        ('{"resourceType":"Flag","id":"f-1","meta":{"tag":[{"code":"HTEST"}]},"status":"a"}', True),
        ('{"resourceType":"Flag","id":"f-1","meta":{},"status":"active"}', True),  # empty meta
        # Quoted words in a text are not the meta's keys.
        (
            '{"resourceType":"Flag","id":"f-1","meta":{"tag":[]},'
            '"code":{"text":"\\"versionId\\": \\"meta\\":{"}}',
            True,
        ),
        # The sender's own versionId and lastUpdated: ours replace them.
        ('{"resourceType":"Flag","id":"f-1","meta":{"versionId":"9","lastUpdated":"2020"}}', False),
        ('{"resourceType":"Flag","id":"f-1","status":"active"}', False),  # no meta
        ('{"id":"f-1","resourceType":"Flag","meta":{"tag":[]}}', False),  # another key order
        ('{"resourceType":"Flag","id":"f-1","meta":{ },"status":"active"}', False),  # not compact
        ('{"resourceType":"Flag","id":"f-1","code":{"text":"\\"meta\\":{"},"meta":{}}', False),
    ],
)
def test_a_resource_is_served_the_same_whether_stamped_as_text_or_parsed(
    body: str, as_text: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from indblik.records.api import views

    moment = dt.datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=dt.UTC)
    parsed = views.served(body, version=3, last_updated=moment)
    parsings: list[str] = []
    served = views.served

    def parsing(parsed_body: str, **kwargs: Any) -> dict[str, Any]:
        parsings.append(parsed_body)
        return served(parsed_body, **kwargs)

    monkeypatch.setattr(views, "served", parsing)
    embedded = views.served_json(
        body, resource_type="Flag", fhir_id="f-1", version=3, last_updated=moment
    )
    assert parsings == ([] if as_text else [body])
    text = orjson.dumps({"resource": embedded})
    assert orjson.loads(text) == {"resource": parsed}
    assert parsed["meta"]["versionId"] == "3"
    assert parsed["meta"]["lastUpdated"] == "2026-03-04T05:06:07.891Z"
    assert orjson.loads(text)["resource"]["meta"]["versionId"] == "3"


def test_stored_bodies_are_compact_json_as_the_read_api_expects(rich: Patient) -> None:
    # served_json stamps meta into the stored text: it needs orjson's own compact form.
    bodies = Resource.objects.values_list("body", flat=True)
    assert bodies
    for stored_body in bodies:
        assert stored_body == orjson.dumps(orjson.loads(stored_body)).decode()
