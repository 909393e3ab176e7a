"""The document endpoint: only the granted citizen's documents, never executable, audited."""

from __future__ import annotations

import base64
import itertools
from typing import Any
from urllib.parse import urlencode

import pytest

from indblik import audit
from indblik.access.testing import Granted
from indblik.audit.models import AuditEvent
from indblik.chart import documents
from indblik.chart.presenters.common import document_links
from indblik.chart.tests.conftest import smallest_patient
from indblik.records.ingest import ingest_resources
from indblik.records.models import Patient, Resource

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
HTML = b"<html><script>alert(document.cookie)</script></html>"
_serial = itertools.count(1)
UPLOADED = {
    "coding": [{"system": "https://indblik.dk/fhir/CodeSystem/record-category", "code": "uploaded"}]
}


def add_document(patient: Patient, *, status: str = "current", **attachment: Any) -> dict[str, Any]:
    """Store an uploaded DocumentReference for ``patient``; return the resource."""
    resource = {
        "resourceType": "DocumentReference",
        "id": f"doc-test-{next(_serial)}",
        "status": status,
        "category": [UPLOADED],
        "type": {"text": "Scannet dokument"},
        "subject": {"reference": f"Patient/{patient.fhir_id}"},
        "date": "2026-01-10T10:00:00+01:00",
        "content": [{"attachment": {"title": "Scanning ../../etc/passwd", **attachment}}],
    }
    ingest_resources([resource], source="test", validate=False)
    return resource


def data(content: bytes) -> str:
    return base64.b64encode(content).decode()


def link(granted: Granted, resource: dict[str, Any], **extra: str) -> str:
    [first] = document_links(resource)
    query = first.query + ("&" + urlencode(extra) if extra else "")
    return f"/chart/{granted.handle}/documents/{resource['id']}/?{query}"


def test_a_pdf_is_shown_inline_sandboxed_and_audited(granted: Granted, rich: Patient) -> None:
    resource = add_document(rich, contentType="application/pdf", data=data(PDF))
    response = granted.client.get(link(granted, resource))
    assert response.status_code == 200
    assert response.content == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("inline")
    assert "/" not in response["Content-Disposition"].split("filename", 1)[1]
    assert response["X-Content-Type-Options"] == "nosniff"
    policy = response["Content-Security-Policy"]
    assert policy.startswith("sandbox") and "default-src 'none'" in policy
    assert "script-src" not in policy
    assert "no-store" in response["Cache-Control"]
    [event] = AuditEvent.objects.filter(action__startswith="chart:")
    assert event.action == audit.Action.DOCUMENT_VIEW
    assert event.resource_ids == f'["DocumentReference/{resource["id"]}"]'
    assert event.patient_cpr == rich.cpr


def test_download_is_an_attachment_and_audited_as_a_download(
    granted: Granted, rich: Patient
) -> None:
    resource = add_document(rich, contentType="image/png", data=data(PNG))
    response = granted.client.get(link(granted, resource, download="1"))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("attachment")
    assert response["Content-Disposition"].endswith('.png"')
    [event] = AuditEvent.objects.filter(action__startswith="chart:")
    assert event.action == audit.Action.DOCUMENT_DOWNLOAD


@pytest.mark.parametrize(
    "content_type, content",
    [
        ("text/html", HTML),  # not on the allow-list
        ("image/svg+xml", b"<svg onload='alert(1)'/>"),  # scriptable image
        ("image/png", HTML),  # claims to be an image, is HTML
        ("application/pdf", PNG),  # claims PDF, is not
    ],
)
def test_anything_not_plainly_allowed_is_an_opaque_download(
    granted: Granted, rich: Patient, content_type: str, content: bytes
) -> None:
    resource = add_document(rich, contentType=content_type, data=data(content))
    response = granted.client.get(link(granted, resource))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment")
    assert response["X-Content-Type-Options"] == "nosniff"
    [event] = AuditEvent.objects.filter(action__startswith="chart:")
    assert event.action == audit.Action.DOCUMENT_DOWNLOAD


def test_plain_text_gets_a_charset(granted: Granted, rich: Patient) -> None:
    resource = add_document(rich, contentType="text/plain", data=data("Æblegrød".encode()))
    response = granted.client.get(link(granted, resource))
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == "Æblegrød"


def test_a_document_of_another_citizen_is_a_404(granted: Granted, rich: Patient) -> None:
    other = smallest_patient()
    assert other.pk != rich.pk
    resource = add_document(other, contentType="application/pdf", data=data(PDF))
    response = granted.client.get(link(granted, resource))
    assert response.status_code == 404
    assert PDF not in response.content
    # Without the date hint too.
    response = granted.client.get(f"/chart/{granted.handle}/documents/{resource['id']}/")
    assert response.status_code == 404
    assert not AuditEvent.objects.filter(action__startswith="chart:document").exists()


def test_a_synthetic_document_of_another_citizen_is_a_404(granted: Granted, rich: Patient) -> None:
    theirs = (
        Resource.objects.filter(section="documents", deleted=False).exclude(patient=rich).first()
    )
    assert theirs is not None
    body = Resource.objects.get(pk=theirs.pk).body
    import orjson

    resource = orjson.loads(body)
    response = granted.client.get(link(granted, resource))
    assert response.status_code == 404


def test_entered_in_error_and_missing_parts_are_404(granted: Granted, rich: Patient) -> None:
    wrong = add_document(
        rich, status="entered-in-error", contentType="application/pdf", data=data(PDF)
    )
    assert granted.client.get(link(granted, wrong)).status_code == 404
    good = add_document(rich, contentType="application/pdf", data=data(PDF))
    assert granted.client.get(link(granted, good, part="7")).status_code in (404, 200)
    url = f"/chart/{granted.handle}/documents/{good['id']}/?part=7"
    assert granted.client.get(url).status_code == 404


def test_a_binary_reference_is_resolved_in_the_store(granted: Granted, rich: Patient) -> None:
    ingest_resources(
        [
            {
                "resourceType": "Binary",
                "id": "scan-binary-1",
                "contentType": "application/pdf",
                "data": data(PDF),
            }
        ],
        source="test",
        validate=False,
    )
    resource = add_document(rich, contentType="application/pdf", url="Binary/scan-binary-1")
    response = granted.client.get(link(granted, resource))
    assert response.status_code == 200
    assert response.content == PDF


def test_an_external_url_is_never_fetched(granted: Granted, rich: Patient) -> None:
    resource = add_document(
        rich, contentType="application/pdf", url="https://attacker.example/Binary/x"
    )
    assert document_links(resource) == []
    response = granted.client.get(f"/chart/{granted.handle}/documents/{resource['id']}/")
    assert response.status_code == 404


def test_a_document_over_the_size_limit_is_refused(
    granted: Granted, rich: Patient, monkeypatch: Any
) -> None:
    monkeypatch.setattr(documents, "MAX_BYTES", 64)
    resource = add_document(rich, contentType="application/pdf", data=data(PDF + b"x" * 200))
    response = granted.client.get(link(granted, resource))
    assert response.status_code == 413
    assert PDF[:8] not in response.content
    assert not AuditEvent.objects.filter(action__startswith="chart:document").exists()


def test_safe_filenames() -> None:
    assert documents.safe_filename("../../etc/passwd", ".pdf") == "etc_passwd.pdf"
    assert documents.safe_filename('a"b\r\nc', ".txt") == "a_b_c.txt"
    assert documents.safe_filename("", ".png") == "dokument.png"
    assert documents.safe_filename("Sår på hæl", ".jpg") == "Sår på hæl.jpg"
