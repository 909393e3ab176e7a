"""The benchmark's pages (indblik.chart.bench.urls) do what docs/benchmarks.md says they do.

``indblik bench chart`` compares the snapshot with a floor page and a guarded floor page; the
comparison means something only if the guarded page really does a chart page's checks and
audit row (and the floor none of them).
"""

from __future__ import annotations

import pytest

from indblik import audit
from indblik.access.testing import Granted
from indblik.audit.models import AuditEvent
from indblik.chart.models import RulesAcknowledgement
from indblik.records.models import Patient

pytestmark = [pytest.mark.django_db, pytest.mark.urls("indblik.chart.bench.urls")]


def test_the_floor_page_reads_no_grant_and_writes_no_audit_row(granted: Granted) -> None:
    before = AuditEvent.objects.count()
    response = granted.client.get("/bench/floor/2000")
    assert response.status_code == 200
    assert len(response.content) == 2000
    assert AuditEvent.objects.count() == before


def test_the_guarded_page_rechecks_the_grant_and_audits_the_lookup(
    granted: Granted, rich: Patient
) -> None:
    before = AuditEvent.objects.count()
    response = granted.client.get(f"/bench/guarded/{granted.handle}/2000")
    assert response.status_code == 200
    assert len(response.content) == 2000
    assert "no-store" in response["Cache-Control"]
    new = list(AuditEvent.objects.order_by("pk")[before:])
    assert [(event.action, event.patient_cpr) for event in new] == [
        (audit.Action.PATIENT_READ, rich.cpr)
    ]


def test_the_guarded_page_refuses_what_a_chart_page_refuses(granted: Granted) -> None:
    assert granted.client.get("/bench/guarded/no-such-handle-at-all-here/2000").status_code == 404
    granted.grant.revoked_at = granted.grant.created_at
    granted.grant.save(update_fields=["revoked_at"])
    assert granted.client.get(f"/bench/guarded/{granted.handle}/2000").status_code == 404


def test_the_guarded_page_wants_the_rules_acknowledged(granted: Granted) -> None:
    RulesAcknowledgement.objects.filter(user=granted.user).delete()
    assert granted.client.get(f"/bench/guarded/{granted.handle}/2000").status_code == 404
