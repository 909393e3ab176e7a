"""Every chart page against every persona; read-only; audited once; bounded queries."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from indblik import audit
from indblik.access.models import Grant
from indblik.access.testing import Granted, grant_client, professional
from indblik.audit.models import AuditEvent
from indblik.chart import rules
from indblik.chart.models import RulesAcknowledgement
from indblik.chart.tests.conftest import load_citizens, richest_patient, smallest_patient
from indblik.records.models import Patient
from indblik.records.sections import PAGES, Section

pytestmark = pytest.mark.django_db

PATHS = ["" if section == Section.SNAPSHOT else f"{section.value}/" for section in PAGES]
PRINT_PATHS = [f"{section.value}/print/" for section in PAGES]


def url(granted: Granted, path: str) -> str:
    return f"/chart/{granted.handle}/{path}"


def events(**filters: Any) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(**filters).order_by("pk"))


@pytest.mark.parametrize("path", PATHS + PRINT_PATHS)
def test_a_granted_nurse_sees_the_page_and_it_is_audited_exactly_once(
    granted: Granted, rich: Patient, path: str
) -> None:
    before = AuditEvent.objects.count()
    response = granted.client.get(url(granted, path))
    assert response.status_code == 200
    body = response.content.decode()
    assert rich.name in body
    assert "no-store" in response["Cache-Control"]
    new = list(AuditEvent.objects.order_by("pk")[before:])
    assert len(new) == 1
    event = new[0]
    expected = audit.Action.PAGE_PRINT if path.endswith("print/") else audit.Action.PATIENT_READ
    assert event.action == expected
    assert event.patient_cpr == rich.cpr
    assert event.organisation_cvr == granted.organisation.cvr
    assert event.user_id == granted.user.pk


@pytest.mark.parametrize("path", PATHS + PRINT_PATHS)
def test_without_a_grant_every_page_is_a_plain_404(rich: Patient, path: str) -> None:
    other = grant_client(rich)
    stranger = grant_client(rich)  # signed in, granted something else
    response = stranger.client.get(f"/chart/{'x' * 32}/{path}")
    assert response.status_code == 404
    # Another user's handle is the same 404, and shows nothing of the citizen.
    response = stranger.client.get(url(other, path))
    assert response.status_code == 404
    assert rich.name not in response.content.decode()
    assert not AuditEvent.objects.filter(action=audit.Action.PATIENT_READ).exists()


@pytest.mark.parametrize("path", PATHS)
def test_an_expired_grant_is_a_404(rich: Patient, path: str) -> None:
    granted = grant_client(rich)
    Grant.objects.filter(pk=granted.grant.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    response = granted.client.get(url(granted, path))
    assert response.status_code == 404
    assert rich.name not in response.content.decode()


@pytest.mark.parametrize("path", PATHS)
def test_an_anonymous_visitor_gets_nothing(rich: Patient, path: str) -> None:
    granted = grant_client(rich)
    response = Client().get(url(granted, path))
    assert response.status_code == 404
    assert rich.name not in response.content.decode()


@pytest.mark.parametrize("path", ["", "notes/", "lab/print/"])
def test_head_works_and_is_audited(granted: Granted, path: str) -> None:
    response = granted.client.head(url(granted, path))
    assert response.status_code == 200
    assert response.content == b""
    assert (
        len(events(action=audit.Action.PATIENT_READ)) + len(events(action=audit.Action.PAGE_PRINT))
        == 1
    )


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("path", PATHS + PRINT_PATHS + ["documents/synth-0-1/"])
def test_chart_pages_answer_nothing_but_get_and_head(
    granted: Granted, path: str, method: str
) -> None:
    response = getattr(granted.client, method)(url(granted, path))
    assert response.status_code == 405
    assert not AuditEvent.objects.filter(action__startswith="chart:").exists()


def test_every_chart_url_is_read_only_except_the_rules_acknowledgement() -> None:
    """Walk the resolver: every chart view but the rules page refuses POST by construction."""
    from indblik.chart import urls

    def walk(patterns: list[Any]) -> list[URLPattern]:
        found: list[URLPattern] = []
        for item in patterns:
            if isinstance(item, URLResolver):
                found.extend(walk(item.url_patterns))
            else:
                found.append(item)
        return found

    chart_patterns = walk(urls.urlpatterns)
    assert {pattern.name for pattern in chart_patterns} == {
        "rules",
        "language",
        "snapshot",
        "print",
        "document",
        "section",
    }
    for pattern in chart_patterns:
        assert not getattr(pattern.callback, "csrf_exempt", False), pattern.name
    assert any(isinstance(p, URLResolver) for p in get_resolver().url_patterns)
    # The language switch is a GET that only sets a preference cookie.
    assert Client().post("/chart/language/?lang=en").status_code == 405


def test_a_failed_audit_write_shows_no_data(granted: Granted, rich: Patient) -> None:
    def refuse(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.lstrip().upper().startswith("INSERT") and "audit_auditevent" in sql:
            raise OperationalError("could not extend file: No space left on device")
        return execute(sql, params, many, context)

    for path in ["", "lab/", "notes/", "demographics/", "snapshot/print/"]:
        with connection.execute_wrapper(refuse):
            response = granted.client.get(url(granted, path))
        body = response.content.decode()
        assert response.status_code == 503
        assert rich.name not in body
        assert rich.cpr and rich.cpr[:6] not in body
        assert "no-store" in response["Cache-Control"]
    assert not AuditEvent.objects.filter(action__startswith="chart:").exists()


def test_the_cpr_number_is_masked_everywhere_but_on_demographics(
    granted: Granted, rich: Patient
) -> None:
    cpr = rich.cpr or ""
    full = f"{cpr[:6]}-{cpr[6:]}"
    for path in PATHS:
        body = granted.client.get(url(granted, path)).content.decode()
        if path == "demographics/":
            assert full in body
        else:
            assert full not in body and cpr not in body, path
            assert f"{cpr[:6]}-xxxx" in body


def test_the_banner_says_read_only_logged_organisation_and_end_time(granted: Granted) -> None:
    body = granted.client.get(url(granted, ""), HTTP_ACCEPT_LANGUAGE="da").content.decode()
    assert "Kun læseadgang" in body
    assert "Borgeren kan se" in body or "borgeren kan se" in body
    assert granted.organisation.name in body
    ends = timezone.localtime(granted.grant.expires_at).strftime("%H:%M")
    assert ends in body
    assert 'aria-current="page"' in body


def test_the_interface_is_danish_by_default_and_english_on_request(granted: Granted) -> None:
    danish = granted.client.get(url(granted, "lab/")).content.decode()
    assert "Laboratorieprøver" in danish and 'lang="da"' in danish
    response = granted.client.get(f"/chart/language/?lang=en&next={url(granted, 'lab/')}")
    assert response.status_code == 302 and response["Location"] == url(granted, "lab/")
    english = granted.client.get(url(granted, "lab/")).content.decode()
    assert "Lab tests" in english and 'lang="en"' in english
    # The language switch never redirects to another site.
    response = granted.client.get("/chart/language/?lang=en&next=https://evil.example/")
    assert response["Location"] == "/"


def test_searching_a_section_is_audited_as_a_search_without_the_search_text(
    granted: Granted,
) -> None:
    response = granted.client.get(url(granted, "notes/"), {"text": "0101501234 secret"})
    assert response.status_code == 200
    [event] = events(action=audit.Action.SECTION_SEARCH)
    assert event.section == "notes"
    assert event.details["filters"] == ["text"]
    assert "secret" not in str(event.details)


def test_the_notes_page_pages_back_with_older_links_without_gaps_or_repeats(
    granted: Granted, rich: Patient
) -> None:
    from indblik.records.models import Resource

    expected = list(
        Resource.objects.filter(patient=rich, section="notes", deleted=False, restricted=False)
        .order_by("-date", "-id")
        .values_list("fhir_id", flat=True)
    )
    seen: list[str] = []
    next_url = url(granted, "notes/")
    for _page in range(20):
        response = granted.client.get(next_url)
        event = AuditEvent.objects.order_by("-pk").first()
        assert event is not None
        seen.extend(ref.split("/", 1)[1] for ref in json.loads(event.resource_ids))
        older = response.context["chart"]["older_url"]
        if not older:
            break
        next_url = url(granted, "notes/") + older
    assert sorted(seen) == sorted(expected)
    assert len(seen) == len(set(seen))


def test_filters_by_date_and_department_narrow_the_list(granted: Granted) -> None:
    everything = granted.client.get(url(granted, "encounters/")).context["contacts"]
    assert everything
    department = everything[0].department
    narrowed = granted.client.get(
        url(granted, "encounters/"), {"department": department[:12].lower()}
    ).context["contacts"]
    assert narrowed and all(department[:12] in row.department for row in narrowed)
    none = granted.client.get(
        url(granted, "encounters/"), {"since": "1900-01-01", "until": "1900-01-02"}
    )
    assert none.context["contacts"] == []
    assert "Ingen kontakter matcher" in none.content.decode()


def test_the_chart_redirects_to_the_rules_until_they_are_acknowledged(rich: Patient) -> None:
    granted = grant_client(rich, user=None)
    RulesAcknowledgement.objects.filter(user=granted.user).delete()
    response = granted.client.get(url(granted, "lab/"))
    assert response.status_code == 302
    assert response["Location"].startswith("/chart/rules/?next=")
    assert not AuditEvent.objects.filter(action__startswith="chart:").exists()
    page = granted.client.get(response["Location"])
    assert page.status_code == 200
    assert "§ 42 a" in page.content.decode() or "42 a" in page.content.decode()
    answer = granted.client.post("/chart/rules/", {"next": url(granted, "lab/")})
    assert answer.status_code == 302 and answer["Location"] == url(granted, "lab/")
    assert granted.client.get(url(granted, "lab/")).status_code == 200
    row = RulesAcknowledgement.objects.get(user=granted.user)
    assert row.version == rules.VERSION


def test_a_new_version_of_the_rules_is_shown_again(rich: Patient, monkeypatch: Any) -> None:
    granted = grant_client(rich)
    assert granted.client.get(url(granted, "")).status_code == 200
    monkeypatch.setattr(rules, "VERSION", "2099-1")
    assert granted.client.get(url(granted, "")).status_code == 302
    granted.client.post("/chart/rules/", {"next": "https://evil.example/"})
    assert granted.client.get(url(granted, "")).status_code == 200
    assert set(
        RulesAcknowledgement.objects.filter(user=granted.user).values_list("version", flat=True)
    ) == {"2026-1", "2099-1"}


def test_the_acknowledgement_is_remembered_in_the_session_for_its_user_and_version(
    rich: Patient,
) -> None:
    from django.test.utils import CaptureQueriesContext

    granted = grant_client(rich)

    def rules_queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = granted.client.get(url(granted, ""))
        assert response.status_code in (200, 302)
        return sum("chart_rulesacknowledgement" in q["sql"] for q in captured.captured_queries)

    assert rules_queries() == 1
    assert rules_queries() == 0
    # A memo of another user (or another version) is not believed: the database is asked.
    RulesAcknowledgement.objects.filter(user=granted.user).delete()
    session = granted.client.session
    session[rules.SESSION_KEY] = [granted.user.pk + 1, rules.VERSION]
    session.save()
    assert granted.client.get(url(granted, "")).status_code == 302
    session = granted.client.session
    session[rules.SESSION_KEY] = [granted.user.pk, "2000-1"]
    session.save()
    assert granted.client.get(url(granted, "")).status_code == 302


def test_the_rules_page_needs_a_signed_in_user_and_csrf() -> None:
    assert Client().get("/chart/rules/").status_code == 302
    from indblik.access.testing import KOBENHAVN
    from indblik.organisations.demo import ensure_demo_organisations
    from indblik.organisations.models import Organisation

    ensure_demo_organisations()
    user = professional(Organisation.objects.get(cvr=KOBENHAVN), rules_acknowledged=False)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post("/chart/rules/").status_code == 403
    assert not RulesAcknowledgement.objects.filter(user=user).exists()


def _queries(granted: Granted, path: str) -> list[str]:
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert granted.client.get(url(granted, path)).status_code == 200
    return _tables(captured)


@pytest.mark.parametrize("path", [*PATHS, "snapshot/print/"])
def test_a_page_costs_the_same_queries_for_a_small_and_a_big_record(path: str) -> None:
    load_citizens(6)
    small = grant_client(smallest_patient())
    big = grant_client(richest_patient())
    assert small.grant.patient_cpr != big.grant.patient_cpr
    # The first page of a session also checks the rules acknowledgement and the feedback
    # prompt and remembers them in the session; later pages do not ask again.
    for most in (11, 8):
        small_tables = _queries(small, path)
        big_tables = _queries(big, path)
        assert small_tables == big_tables, (path, small_tables, big_tables)
        assert len(big_tables) <= most, big_tables


def _tables(captured: Any) -> list[str]:
    """The table each statement of a request reads or writes (the test's savepoints left out)."""
    import re

    found = []
    for query in captured.captured_queries:
        sql = query["sql"]
        if sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT")):
            continue
        match = re.search(r'(?:FROM|INTO|UPDATE)\s+"(\w+)"', sql)
        found.append(match.group(1) if match else sql[:40])
    return found


@pytest.mark.parametrize("path", ["", "lab/", "snapshot/print/"])
def test_a_page_reads_in_seven_statements_once_the_session_knows_the_user(
    granted: Granted, path: str
) -> None:
    from django.test.utils import CaptureQueriesContext

    # The first page of a session also checks the rules acknowledgement and the feedback
    # prompt, and remembers both in the session.
    assert granted.client.get(url(granted, path)).status_code == 200
    with CaptureQueriesContext(connection) as captured:
        assert granted.client.get(url(granted, path)).status_code == 200
    assert _tables(captured) == [
        "django_session",
        "identity_user",
        "organisations_networkrange",  # joined to its organisation
        "access_grant",
        "records_patient",
        "records_resource",  # the citizen's blocks and the page's sections, one statement
        "audit_auditevent",
    ]


def test_the_page_urls_are_the_urls_reverse_gives() -> None:
    from django.urls import reverse

    from indblik.chart.views import page_urls

    handle = "h" * 32
    urls = page_urls(handle)
    assert set(urls) == set(PAGES)
    for section, found in urls.items():
        if section == Section.SNAPSHOT:
            assert found == reverse("chart:snapshot", args=[handle])
        else:
            assert found == reverse("chart:section", args=[handle, section.value])
