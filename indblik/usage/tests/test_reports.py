"""The rollout report and its CSV exports: staff only, charts with a text alternative, safe CSV."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.test import Client
from django.urls import reverse

from indblik import audit
from indblik.identity.models import User
from indblik.organisations import registry
from indblik.organisations.models import Organisation
from indblik.usage import feedback
from indblik.usage.tests.conftest import FRB, KK, lookup, signed_in

pytestmark = pytest.mark.django_db
REPORTS = reverse("usage:reports")
ROLLOUT = reverse("usage:rollout-csv")
FEEDBACK = reverse("usage:feedback-csv")


def rows(response: object) -> list[dict[str, str]]:
    text = b"".join(response.streaming_content if response.streaming else [response.content])  # type: ignore[attr-defined]
    return list(csv.DictReader(io.StringIO(text.decode("utf-8"))))


@pytest.fixture
def onboarding(orgs: dict[str, Organisation]) -> Organisation:
    return registry.add_organisation(
        cvr="25052943",
        name='=HYPERLINK("http://evil.example")',
        type="hospice",
        by=audit.Actor(name="test"),
    )


def test_the_report_shows_organisations_users_lookups_sections_and_feedback(
    staff: Client, nurse: User, other_nurse: User, reviewer: User, onboarding: Organisation
) -> None:
    lookup(nurse, sections=("snapshot", "lab"))
    lookup(other_nurse, sections=("lab",))
    feedback.submit(nurse, score=5, comment="Saved a phone call")
    feedback.submit(other_nurse, score=2)
    feedback.submit(reviewer, score=None)  # not now
    response = staff.get(REPORTS)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    # Every chart is an image with a title, and its numbers are in a table too.
    assert body.count('role="img"') == 5
    assert body.count("<title id=") == 5
    for table in ("types", "organisations", "weeks", "sections", "scores", "feedback-weeks"):
        assert f'id="usage-{table}-table"' in body, table
    types = {row.type: row for row in response.context["types"]}
    assert types["municipality"].live == 2
    assert types["hospice"].live == 1 and types["hospice"].onboarding == 1
    assert response.context["weeks"][-1].lookups == 2
    assert {use.section: use.count for use in response.context["sections"]} == {
        "lab": 2,
        "snapshot": 1,
    }
    summary = response.context["feedback"]
    assert (summary.answers, summary.declined, summary.mean) == (2, 1, 3.5)
    assert summary.high_share == 50
    by_cvr = {row["organisation"].cvr: row for row in response.context["organisations"]}
    assert by_cvr[KK]["lookups"] == 1 and by_cvr[KK]["users"].active == 2
    assert by_cvr[KK]["feedback"].answers == 1 and by_cvr[KK]["feedback"].declined == 1
    assert by_cvr[FRB]["feedback"].mean == 2
    assert by_cvr["25052943"]["steps_done"] == 0 and by_cvr["25052943"]["live_since"] is None
    # No chart library and no CDN: the only scripts are the admin's own.
    scripts = re.findall(r"<script[^>]*src=\"([^\"]+)\"", body)
    assert scripts and all(src.startswith("/static/admin/") for src in scripts)


@pytest.mark.parametrize("url", [REPORTS, ROLLOUT, FEEDBACK])
def test_only_hospital_administrators_get_the_report(
    url: str, nurse: User, reviewer: User, client: Client
) -> None:
    assert signed_in(nurse).get(url).status_code == 403
    assert signed_in(reviewer).get(url).status_code == 403
    assert client.get(url)["Location"].startswith("/saml2/login/")
    assert not audit.AuditEvent.objects.filter(action=audit.Action.USAGE_EXPORT).exists()


def test_the_rollout_csv_has_one_row_per_organisation_and_is_audited(
    staff: Client, nurse: User, onboarding: Organisation
) -> None:
    lookup(nurse)
    response = staff.get(ROLLOUT, {"weeks": "4"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="indblik-rollout-')
    table = {row["cvr"]: row for row in rows(response)}
    assert len(table) == 6
    assert table[KK]["status"] == "live" and table[KK]["lookups_in_period"] == "1"
    assert table[KK]["steps_done"] == "6" and table[KK]["live_since"]
    assert table[KK]["weeks"] == "4"
    event = audit.AuditEvent.objects.get(action=audit.Action.USAGE_EXPORT)
    assert event.details == {"report": "rollout", "rows": 6}


def test_csv_cells_cannot_run_as_formulas(
    staff: Client, nurse: User, onboarding: Organisation
) -> None:
    feedback.submit(nurse, score=4, comment="=cmd|' /C calc'!A0")
    rollout = {row["cvr"]: row for row in rows(staff.get(ROLLOUT))}
    assert rollout["25052943"]["name"] == '\'=HYPERLINK("http://evil.example")'
    (answer,) = rows(staff.get(FEEDBACK))
    assert answer["comment"] == "'=cmd|' /C calc'!A0"
    assert answer["score"] == "4"


def test_the_feedback_csv_holds_answers_but_not_who_gave_them(
    staff: Client, nurse: User, other_nurse: User
) -> None:
    feedback.submit(nurse, score=5, comment="Fint")
    feedback.submit(other_nurse, score=None)
    response = staff.get(FEEDBACK)
    answers = rows(response)
    assert [row["score"] for row in answers] == ["5", ""]
    assert set(answers[0]) == {
        "date",
        "week",
        "organisation_cvr",
        "organisation_name",
        "score",
        "comment",
    }
    assert "Mette Holm" not in response.content.decode()
    event = audit.AuditEvent.objects.get(action=audit.Action.USAGE_EXPORT)
    assert event.details == {"report": "feedback", "rows": 2}
