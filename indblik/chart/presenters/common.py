"""Small readers shared by the presenters: dates in Danish time, concepts, references, status.

All of them accept whatever shape the FHIR JSON has (dicts, lists, None, wrong types) and
return display strings or None; none raises.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from indblik.records import fhir

COPENHAGEN = ZoneInfo("Europe/Copenhagen")
MAX_TEXT_BYTES = 512 * 1024  # inline text attachments larger than this are not decoded
MAX_LONG_TEXT = MAX_TEXT_BYTES  # characters of one note's text shown, all its parts together
TEXT_SHORTENED = _("[The text is shortened here: the rest is longer than Indblik shows.]")


def local(value: Any) -> dt.datetime | None:
    """Parse a FHIR date/dateTime/instant and return it in Europe/Copenhagen time."""
    if isinstance(value, dt.datetime):
        parsed: dt.datetime | None = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    else:
        parsed = fhir.parse_datetime(value) if isinstance(value, str) else None
    return parsed.astimezone(COPENHAGEN) if parsed else None


def precision(value: Any) -> str:
    """``year``, ``month``, ``day`` or ``time``: how much of a FHIR date the source gave."""
    if not isinstance(value, str):
        return "time" if isinstance(value, dt.datetime) else ""
    if len(value) == 4:
        return "year"
    if len(value) == 7:
        return "month"
    if len(value) == 10:
        return "day"
    return "time"


def date_text(value: Any) -> str:
    """A FHIR date or dateTime in Danish format: ``24.01.2026 09:05``, ``24.01.2026``, ``2026``.

    A partial date shows only what is known; a time is shown in Danish local time.
    """
    kind = precision(value)
    if kind == "year":
        return str(value)
    if kind == "month":
        return f"{value[5:7]}.{value[0:4]}"
    moment = local(value)
    if moment is None:
        return ""
    if kind == "day":
        return (
            moment.strftime("%d.%m.%Y")
            if not isinstance(value, str)
            else (f"{value[8:10]}.{value[5:7]}.{value[0:4]}")
        )
    return moment.strftime("%d.%m.%Y %H:%M")


def day_text(value: Any) -> str:
    """Only the date part, Danish format."""
    kind = precision(value)
    if kind in ("year", "month", "day"):
        return date_text(value)
    moment = local(value)
    return moment.strftime("%d.%m.%Y") if moment else ""


def concept_text(concept: Any) -> str:
    """Human text of a CodeableConcept (or list): ``text``, else the first coding's display/code."""
    if isinstance(concept, list):
        texts = [concept_text(item) for item in concept]
        return ", ".join(text for text in texts if text)
    if not isinstance(concept, Mapping):
        return ""
    text = concept.get("text")
    if isinstance(text, str) and text.strip():
        return text.strip()
    for coding in _items(concept.get("coding")):
        text = coding_text(coding)
        if text:
            return text
    return ""


def coding_text(coding: Any) -> str:
    """Display (or code) of a single Coding."""
    if not isinstance(coding, Mapping):
        return ""
    for key in ("display", "code"):
        value = coding.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def reference_text(reference: Any) -> str:
    """Display of a Reference: ``display``, else the identifier's value, else ''."""
    if isinstance(reference, list):
        texts = [reference_text(item) for item in reference]
        return ", ".join(text for text in texts if text)
    if not isinstance(reference, Mapping):
        return ""
    display = reference.get("display")
    if isinstance(display, str) and display.strip():
        return display.strip()
    identifier = reference.get("identifier")
    if isinstance(identifier, Mapping) and identifier.get("value"):
        return str(identifier["value"])
    return ""


def references_of_type(references: Any, rtype: str) -> list[Mapping[str, Any]]:
    """The references in a list whose literal reference or ``type`` names ``rtype``."""
    found = []
    for reference in references if isinstance(references, list) else [references]:
        if not isinstance(reference, Mapping):
            continue
        literal = reference.get("reference")
        if reference.get("type") == rtype or (
            isinstance(literal, str) and literal.split("/")[-2:-1] == [rtype]
        ):
            found.append(reference)
    return found


def visible(resources: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Drop resources entered in error (and anything that is not a dict)."""
    return [
        resource
        for resource in resources
        if isinstance(resource, Mapping)
        and resource.get("status") != "entered-in-error"
        and status_code(resource) != "entered-in-error"
        and not fhir.is_restricted(dict(resource))
    ]


# The element the chart labels a resource by: the stored status column's (fhir.STATUS_PATHS:
# clinicalStatus of conditions and allergies, lifecycleStatus of goals), except that a
# DocumentReference is labelled by its content's state (docStatus: preliminary, amended…) and
# not by the reference's (status: current, superseded), which the API's status parameter reads.
SHOWN_STATUS_PATHS: dict[str, str] = {**fhir.STATUS_PATHS, "DocumentReference": "docStatus"}


def status_code(resource: Mapping[str, Any]) -> str:
    """The resource's status code as the chart labels it (:data:`SHOWN_STATUS_PATHS`)."""
    path = SHOWN_STATUS_PATHS.get(str(resource.get("resourceType", "")), "status")
    value = resource.get(path)
    if isinstance(value, Mapping):
        for coding in _items(value.get("coding")):
            if isinstance(coding, Mapping) and coding.get("code"):
                return str(coding["code"])
        return ""
    return str(value) if isinstance(value, str) else ""


def document_status(resource: Mapping[str, Any]) -> str:
    """A note's or document's status code: ``superseded`` where a newer one replaced it (a
    DocumentReference's ``status``), else :func:`status_code` (its docStatus, or the status of
    a Composition or Media)."""
    if resource.get("status") == "superseded":
        return "superseded"
    return status_code(resource)


# Status codes in Danish (via gettext), grouped by the tone the page shows them in.
STATUS_LABELS: dict[str, Any] = {
    "draft": _("draft"),
    "requested": _("ordered"),
    "proposed": _("proposed"),
    "planned": _("planned"),
    "booked": _("booked"),
    "pending": _("pending"),
    "arrived": _("arrived"),
    "checked-in": _("checked in"),
    "registered": _("registered"),
    "preliminary": _("preliminary"),
    "partial": _("partial"),
    "active": pgettext_lazy("status", "active"),
    "in-progress": _("in progress"),
    "on-hold": _("on hold"),
    "preparation": _("preparation"),
    "final": _("final"),
    "amended": _("amended"),
    "corrected": _("corrected"),
    "appended": _("appended"),
    "completed": _("done"),
    "finished": _("finished"),
    "fulfilled": _("done"),
    "current": _("current"),
    "resolved": _("resolved"),
    "inactive": _("inactive"),
    "remission": _("remission"),
    "recurrence": _("recurrence"),
    "relapse": _("relapse"),
    "cancelled": _("cancelled"),
    "revoked": _("cancelled"),
    "stopped": _("stopped"),
    "not-done": _("not done"),
    "noshow": _("did not attend"),
    "superseded": _("superseded"),
    "unknown": _("unknown"),
    "waitlist": _("waiting list"),
    "onleave": _("on leave"),
    "triaged": _("triaged"),
}
TONES = {
    "requested": "pending",
    "proposed": "pending",
    "planned": "pending",
    "booked": "pending",
    "pending": "pending",
    "draft": "pending",
    "preliminary": "pending",
    "registered": "pending",
    "waitlist": "pending",
    "active": "active",
    "in-progress": "active",
    "arrived": "active",
    "checked-in": "active",
    "recurrence": "active",
    "relapse": "active",
    "on-hold": "pending",
    "cancelled": "cancelled",
    "revoked": "cancelled",
    "stopped": "cancelled",
    "not-done": "cancelled",
    "noshow": "cancelled",
    "superseded": "cancelled",
}


def status_label(code: str) -> str:
    """The Danish (or English) label of a status code; unknown codes are shown as they are."""
    label = STATUS_LABELS.get(code)
    return str(label) if label is not None else code


def status_tone(code: str) -> str:
    """``active``, ``pending``, ``cancelled`` or ``done``: the colour class of a status badge."""
    return TONES.get(code, "done")


def attachment_text(attachment: Any) -> str | None:
    """Decode an inline ``text/*`` attachment (base64 ``data``); None if not text or too big."""
    if not isinstance(attachment, Mapping):
        return None
    content_type = str(attachment.get("contentType", ""))
    data = attachment.get("data")
    if not content_type.startswith("text/") or not isinstance(data, str):
        return None
    if len(data) > MAX_TEXT_BYTES * 4 // 3 + 4:
        return None
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.decode("utf-8", errors="replace")


def age(birth_date: dt.date | None, today: dt.date) -> int | None:
    """Age in whole years on ``today``."""
    if birth_date is None:
        return None
    years = today.year - birth_date.year
    if (today.month, today.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def quantity_text(quantity: Any) -> str:
    """``7,9 mmol/L``: a Quantity with a Danish decimal comma."""
    if not isinstance(quantity, Mapping):
        return ""
    value = quantity.get("value")
    unit = quantity.get("unit") or quantity.get("code") or ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(unit)
    comparator = quantity.get("comparator") or ""
    return f"{comparator}{number_text(value)} {unit}".strip()


def number_text(value: float | int) -> str:
    """A number with a Danish decimal comma and no float noise (``7.9`` → ``7,9``)."""
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    return text.replace(".", ",")


# --- Added for the chart pages (documents, long text, paging) ---------------------------------

# What the document endpoint will ever serve with its own content type; anything else is
# offered as an opaque download.
INLINE_CONTENT_TYPES = frozenset(
    {"application/pdf", "image/png", "image/jpeg", "image/gif", "text/plain"}
)


@dataclass(frozen=True)
class DocumentLink:
    """One attachment of a resource, as a link to the chart's document endpoint.

    Templates build the URL with ``{% url 'chart:document' handle link.resource_id %}`` and
    append ``?{{ link.query }}`` (it names the part and the resource's date, so the endpoint
    finds the resource with one small indexed read).
    """

    resource_id: str
    part: int
    title: str
    content_type: str
    size: int | None
    query: str

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")

    @property
    def is_pdf(self) -> bool:
        return self.content_type == "application/pdf"

    @property
    def kind(self) -> str:
        """A short human name of the format: ``PDF``, ``JPEG``, ``Tekst`` …"""
        if self.content_type == "text/plain":
            return str(_("Text"))
        if "/" in self.content_type:
            return self.content_type.split("/", 1)[1].upper()
        return str(_("File"))

    @property
    def size_text(self) -> str:
        return size_text(self.size)


def media_type(value: Any) -> str:
    """The bare, lower-case media type of a contentType (``text/plain; charset=utf-8`` → …)."""
    if not isinstance(value, str):
        return ""
    return value.split(";", 1)[0].strip().lower()


def attachments(resource: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The attachments of a DocumentReference, Media, DiagnosticReport or Communication."""
    rtype = resource.get("resourceType")
    found: list[Any] = []
    if rtype == "DocumentReference":
        found = [
            item.get("attachment")
            for item in resource.get("content") or ()
            if isinstance(item, Mapping)
        ]
    elif rtype == "Media":
        found = [resource.get("content")]
    elif rtype == "DiagnosticReport":
        found = list(resource.get("presentedForm") or ())
    elif rtype == "Communication":
        found = [
            item.get("contentAttachment")
            for item in resource.get("payload") or ()
            if isinstance(item, Mapping)
        ]
    return [item for item in found if isinstance(item, Mapping)]


def attachment_size(attachment: Mapping[str, Any]) -> int | None:
    """The attachment's size in bytes: its ``size``, else what its base64 data decodes to."""
    size = attachment.get("size")
    if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
        return size
    data = attachment.get("data")
    if isinstance(data, str):
        return len(data) * 3 // 4 - data[-2:].count("=")
    return None


def size_text(size: int | None) -> str:
    """``1,2 MB``, ``830 kB``, ``120 B`` (Danish decimal comma)."""
    if size is None:
        return ""
    if size >= 1_000_000:
        return f"{number_text(round(size / 1_000_000, 1))} MB"
    if size >= 1_000:
        return f"{round(size / 1_000)} kB"
    return f"{size} B"


def document_links(resource: Mapping[str, Any]) -> list[DocumentLink]:
    """Links to every attachment of ``resource`` that holds data or a Binary reference."""
    from urllib.parse import urlencode

    resource_id = resource.get("id")
    if not isinstance(resource_id, str) or not resource_id:
        return []
    moment = fhir.clinical_date(dict(resource))
    links = []
    for part, attachment in enumerate(attachments(resource)):
        if not isinstance(attachment.get("data"), str) and not binary_reference(attachment):
            continue
        params = {"part": str(part)}
        if moment is not None:
            params["at"] = moment.isoformat()
        title = attachment.get("title")
        links.append(
            DocumentLink(
                resource_id=resource_id,
                part=part,
                title=title.strip() if isinstance(title, str) and title.strip() else "",
                content_type=media_type(attachment.get("contentType")),
                size=attachment_size(attachment),
                query=urlencode(params),
            )
        )
    return links


def binary_reference(attachment: Mapping[str, Any]) -> str:
    """``Binary/<id>`` when the attachment's url points at a Binary in this record, else ''.

    Absolute URLs are never followed: the document endpoint must not fetch from elsewhere.
    """
    url = attachment.get("url")
    if not isinstance(url, str):
        return ""
    parts = url.strip().split("/")
    if len(parts) == 2 and parts[0] == "Binary" and parts[1] and parts[1].isascii():
        ok = all(char.isalnum() or char in "-." for char in parts[1])
        return url.strip() if ok and len(parts[1]) <= 64 else ""
    return ""


def narrative_text(value: Any) -> str:
    """The plain text of a FHIR narrative ``div`` (XHTML): tags dropped, entities decoded.

    The result is text, to be escaped by the template like any other string; the narrative's
    markup never reaches the page.
    """
    if not isinstance(value, str) or not value:
        return ""
    from html.parser import HTMLParser

    class _Text(HTMLParser):
        BREAKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"})
        SKIP = frozenset({"script", "style"})

        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.parts: list[str] = []
            self.skipping = 0

        def handle_starttag(self, tag: str, attrs: Any) -> None:
            if tag in self.SKIP:
                self.skipping += 1
            elif tag in self.BREAKS:
                self.parts.append("\n")

        def handle_endtag(self, tag: str) -> None:
            if tag in self.SKIP:
                self.skipping = max(0, self.skipping - 1)
            elif tag in self.BREAKS:
                self.parts.append("\n")

        def handle_data(self, data: str) -> None:
            if not self.skipping:
                self.parts.append(data)

    parser = _Text()
    try:
        parser.feed(value[:MAX_TEXT_BYTES])
        parser.close()
    except Exception:  # an odd narrative is shown as nothing rather than failing the page
        return ""
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip()


def long_text(resource: Mapping[str, Any]) -> str:
    """The readable text of a note or letter: inline text attachments, else its narrative.

    At most :data:`MAX_LONG_TEXT` characters in all (each attachment is bounded on its own,
    their number is not): what is left out is said at the end.
    """
    texts: list[str] = []
    size = 0

    def add(text: str) -> bool:
        """Keep ``text``; False once the budget is spent (read no more)."""
        nonlocal size
        if text:
            texts.append(text)
            size += len(text) + 2
        return size < MAX_LONG_TEXT

    for attachment in attachments(resource):
        kind = media_type(attachment.get("contentType"))
        if kind in ("text/plain", "text/markdown"):
            decoded = attachment_text(attachment)
            if decoded and not add(decoded.replace("\r\n", "\n").strip()):
                break
        elif kind in ("text/html", "application/xhtml+xml"):
            decoded = attachment_text(attachment)
            if decoded and not add(narrative_text(decoded)):
                break
    if not texts and resource.get("resourceType") == "Composition":
        for part in resource.get("section") or ():
            if isinstance(part, Mapping):
                title = part.get("title")
                body = narrative_text(fhir.get_path(dict(part), "text.div"))
                piece = "\n".join(x for x in (title if isinstance(title, str) else "", body) if x)
                if piece and not add(piece):
                    break
    if not texts:
        add(narrative_text(fhir.get_path(dict(resource), "text.div")))
    text = "\n\n".join(texts)
    if len(text) > MAX_LONG_TEXT:
        text = text[:MAX_LONG_TEXT].rstrip() + "\n\n" + str(TEXT_SHORTENED)
    return text


def moment(resource: Mapping[str, Any]) -> dt.datetime | None:
    """The resource's clinical date as the store orders it (UTC), for paging cursors."""
    return fhir.clinical_date(dict(resource))


def keyset_page(
    resources: list[Mapping[str, Any]], has_more: bool
) -> tuple[list[Mapping[str, Any]], dt.datetime | None]:
    """Cut a newest-first page so that ``SectionQuery(before=cursor)`` continues it exactly.

    Rows sharing the last row's date move to the next page (unless the whole page shares it),
    and the cursor is one microsecond after that date, so the next page starts with them:
    nothing is skipped and nothing shown twice. Returns the rows to show and the cursor (None
    when there is nothing older).
    """
    if not has_more or not resources:
        return resources, None
    last = moment(resources[-1])
    if last is None:
        return resources, None
    kept = list(resources)
    while kept and moment(kept[-1]) == last:
        kept.pop()
    if not kept:  # every row has the same date: show them and move past that moment
        return resources, last
    return kept, last + dt.timedelta(microseconds=1)


def organisation_text(resource: Mapping[str, Any]) -> str:
    """The department a resource comes from: the organisation among its authors/performers."""
    for path in ("serviceProvider", "custodian", "performer", "author", "requester", "sender"):
        value = resource.get(path)
        for reference in value if isinstance(value, list) else [value]:
            if isinstance(reference, Mapping) and (
                reference.get("type") == "Organization"
                or str(reference.get("reference", "")).startswith("Organization/")
            ):
                text = reference_text(reference)
                if text:
                    return text
    return ""


def person_text(resource: Mapping[str, Any]) -> str:
    """The people who wrote or performed a resource (practitioners, not organisations)."""
    names: list[str] = []
    for path in ("author", "performer", "operator", "requester", "recorder", "asserter"):
        value = resource.get(path)
        for reference in value if isinstance(value, list) else [value]:
            if not isinstance(reference, Mapping):
                continue
            literal = str(reference.get("reference", ""))
            if reference.get("type") == "Organization" or literal.startswith("Organization/"):
                continue
            text = reference_text(reference)
            if text and text not in names:
                names.append(text)
    return ", ".join(names)


def matches(needle: str, *haystack: str) -> bool:
    """Case-insensitive substring match of a free-text filter (empty needle matches all)."""
    wanted = needle.strip().casefold()
    return not wanted or any(wanted in (text or "").casefold() for text in haystack)


def _items(value: Any) -> list[Any]:
    """A FHIR array as a list; anything else (a number, a dict, None) as an empty list."""
    return value if isinstance(value, list) else []


def display_text(concept: Any) -> str:
    """Like :func:`concept_text`, but a display in any coding beats a bare code in the first.

    For names a reader should understand (a diagnosis, an analysis) when a source lists a
    bare code system first (``J18.9``) and the human display in a later coding.
    """
    if isinstance(concept, list):
        texts = [display_text(item) for item in concept]
        return ", ".join(text for text in texts if text)
    if not isinstance(concept, Mapping):
        return ""
    text = concept.get("text")
    if isinstance(text, str) and text.strip():
        return text.strip()
    codings = concept.get("coding")
    for coding in codings if isinstance(codings, list) else ():
        if isinstance(coding, Mapping):
            display = coding.get("display")
            if isinstance(display, str) and display.strip():
                return display.strip()
    return concept_text(concept)
