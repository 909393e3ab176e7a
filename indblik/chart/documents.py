"""Uploaded documents and images: find one in the granted record and serve it safely.

A document is served only from a resource of the granted patient (found through the record
source, never by id alone), with its own content type only when that type is on an allow-list
and the bytes look like it, never as something a browser would run: ``nosniff``, a sandboxing
Content-Security-Policy without scripts, and a size limit.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from indblik.chart.presenters import common
from indblik.records import fhir
from indblik.records.sections import Section
from indblik.records.source import PatientRecord, RecordSource, SectionQuery

MAX_BYTES = 20 * 1024 * 1024
MAX_PARTS = 50
# The sections whose resources may carry attachments the chart links to.
SECTIONS = (
    Section.DOCUMENTS,
    Section.NOTES,
    Section.DISCHARGE_SUMMARIES,
    Section.CORRESPONDENCE,
    Section.RESULTS_REVIEW,
)
TYPES = frozenset({"DocumentReference", "Media", "DiagnosticReport", "Communication"})
# Resources dated at one moment (the link's ``at``): more than this many is not plausible.
SAME_MOMENT_LIMIT = 20
# Without ``at`` (an undated resource), the newest rows of each section are searched.
UNDATED_LIMIT = 20
CONTENT_SECURITY_POLICY = (
    "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
    "plugin-types application/pdf; object-src 'self'; frame-ancestors 'none'"
)
EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "text/plain": ".txt",
}
# The first bytes each allowed type must start with (text/plain: anything that is UTF-8).
SIGNATURES = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}


class TooLarge(Exception):
    """The document is larger than :data:`MAX_BYTES`."""


@dataclass(frozen=True)
class Found:
    """One attachment of one resource of the granted patient."""

    section: Section
    resource: Mapping[str, Any]
    attachment: Mapping[str, Any]

    @property
    def reference(self) -> str:
        return f"{self.resource.get('resourceType')}/{self.resource.get('id')}"


@dataclass(frozen=True)
class Payload:
    """The bytes to send and how to label them."""

    content: bytes
    content_type: str  # what the response says (allow-listed, else application/octet-stream)
    inline: bool  # False: may only be downloaded
    filename: str


def find(
    record_source: RecordSource,
    patient: PatientRecord,
    *,
    resource_id: str,
    part: int,
    at: dt.datetime | None,
) -> Found | None:
    """Return attachment ``part`` of the patient's resource ``resource_id``, or None.

    With ``at`` (the resource's date, from the link) this reads only the rows dated at that
    moment; either way a bounded number of small indexed reads.
    """
    if not 0 <= part < MAX_PARTS:
        return None
    if at is not None:
        queries = [
            SectionQuery(
                section,
                limit=SAME_MOMENT_LIMIT,
                since=at,
                until=at + dt.timedelta(microseconds=1),
            )
            for section in SECTIONS
        ]
    else:
        queries = [SectionQuery(section, limit=UNDATED_LIMIT) for section in SECTIONS]
    results = record_source.sections(patient, queries)
    for section in SECTIONS:
        result = results.get(section)
        for resource in common.visible(result.resources if result else ()):
            if resource.get("id") == resource_id and resource.get("resourceType") in TYPES:
                found = common.attachments(resource)
                if part < len(found):
                    return Found(section, resource, found[part])
                return None
    return None


def payload(found: Found, record_source: RecordSource) -> Payload | None:
    """Decode the attachment's bytes (inline data or a Binary); None if it has none.

    Raises :class:`TooLarge` before decoding anything bigger than :data:`MAX_BYTES`.
    """
    attachment = found.attachment
    declared = common.attachment_size(attachment)
    if declared is not None and declared > MAX_BYTES:
        raise TooLarge
    content_type = common.media_type(attachment.get("contentType"))
    data = attachment.get("data")
    if not isinstance(data, str):
        reference = common.binary_reference(attachment)
        if not reference:
            return None
        binary = record_source.resolve([reference]).get(reference)
        if not binary or binary.get("resourceType") != "Binary" or fhir.is_restricted(binary):
            return None  # a Binary labelled restricted is not served, whatever points to it
        data = binary.get("data")
        content_type = content_type or common.media_type(binary.get("contentType"))
        if not isinstance(data, str):
            return None
    content = _decode(data)
    if content is None:
        return None
    return label(content, content_type, title=_title(found))


def label(content: bytes, content_type: str, *, title: str) -> Payload:
    """Choose the response's content type and file name for ``content``.

    The declared type is kept only if allow-listed *and* the bytes agree; otherwise the
    content is an opaque download (``application/octet-stream``).
    """
    if content_type in common.INLINE_CONTENT_TYPES and _looks_like(content, content_type):
        shown = "text/plain; charset=utf-8" if content_type == "text/plain" else content_type
        return Payload(content, shown, True, safe_filename(title, EXTENSIONS[content_type]))
    return Payload(content, "application/octet-stream", False, safe_filename(title, ".bin"))


def safe_filename(title: str, extension: str) -> str:
    """A file name without path separators, controls or quotes, at most 80 characters."""
    text = unicodedata.normalize("NFC", title)
    text = re.sub(r"[^\w .()-]+", "_", text, flags=re.UNICODE).strip(" ._")
    text = re.sub(r"\s+", " ", text)[:80].strip(" ._") or "dokument"
    return text if text.lower().endswith(extension) else text + extension


def _title(found: Found) -> str:
    for value in (
        found.attachment.get("title"),
        found.resource.get("description"),
        common.concept_text(found.resource.get("type")),
        found.resource.get("id"),
    ):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _decode(data: str) -> bytes | None:
    if len(data) > MAX_BYTES * 4 // 3 + 4:
        raise TooLarge
    try:
        content = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(content) > MAX_BYTES:
        raise TooLarge
    return content


def _looks_like(content: bytes, content_type: str) -> bool:
    if content_type == "text/plain":
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True
    return content.startswith(SIGNATURES.get(content_type, (b"\x00\x00\x00\x00\x00",)))
