"""The national register of authorised health personnel, as imported from a CSV file.

Health Act §42: only authorised health professionals, and people acting on their delegation,
may look into the record. The organisation's management vouches for that through the role at
the broker; when the register is loaded, a professional whose asserted authorisation id the
register lists as restricted or revoked is refused at login even if the role is still there.

The CSV file (``indblik authorisations import FILE``): a header row, then one row per
authorisation; ``;`` or ``,`` separated; UTF-8 (with or without BOM) or Windows-1252. Column
names are matched without regard to case, spaces, hyphens and underscores:

- authorisation id (required): ``authorisation_id``, ``autorisations-id``,
  ``autorisationsid``, ``aut_id``
- status (required): ``status``, ``autorisationsstatus``, ``authorisation_status``
- profession (optional): ``profession``, ``erhverv``, ``faggruppe``

Status words (case-insensitive): *authorised* = ``autoriseret``, ``aktiv``, ``gyldig``,
``authorised``, ``authorized``, ``active``; *restricted* = ``begrænset``, ``indskrænket``,
``betinget``, ``skærpet tilsyn``, ``restricted``; *revoked* = ``frataget``, ``frakendt``,
``fratagelse``, ``suspenderet``, ``ophørt``, ``revoked``, ``suspended``. Any other value, an
empty or malformed id, or an id twice refuses the whole file: nothing is half-imported.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.db.models.functions import Upper
from django.utils import timezone

from indblik.identity.models import Authorisation, AuthorisationStatus, User

__all__ = [
    "AuthorisationStatus",
    "Entry",
    "RegisterError",
    "lookup",
    "parse",
    "read",
    "replace_register",
]

logger = logging.getLogger("indblik.identity")

MAX_BYTES = 256 * 1024 * 1024
_ID = re.compile(r"[A-Za-z0-9]{1,16}")
COLUMNS = {
    "authorisation_id": ("authorisationid", "autorisationsid", "autid", "autorisationid"),
    "status": ("status", "autorisationsstatus", "authorisationstatus"),
    "profession": ("profession", "erhverv", "faggruppe"),
}
STATUS_WORDS = {
    AuthorisationStatus.AUTHORISED: (
        "autoriseret",
        "aktiv",
        "gyldig",
        "authorised",
        "authorized",
        "active",
    ),
    AuthorisationStatus.RESTRICTED: (
        "begrænset",
        "indskrænket",
        "betinget",
        "skærpet tilsyn",
        "restricted",
    ),
    AuthorisationStatus.REVOKED: (
        "frataget",
        "frakendt",
        "fratagelse",
        "suspenderet",
        "ophørt",
        "revoked",
        "suspended",
    ),
}
_STATUS = {word: status for status, words in STATUS_WORDS.items() for word in words}


class RegisterError(ValueError):
    """The register file cannot be imported; the message names the line."""


@dataclass(frozen=True)
class Entry:
    """One row of the register."""

    authorisation_id: str
    status: str
    profession: str


def read(path: Path) -> list[Entry]:
    """Return every entry of the CSV file at ``path``, or raise RegisterError."""
    data = path.read_bytes()
    if len(data) > MAX_BYTES:
        raise RegisterError(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252")
    return parse(text)


def parse(text: str) -> list[Entry]:
    """Return every entry of a register in CSV text, or raise RegisterError."""
    header_line = text.split("\n", 1)[0]
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(rows)
    except StopIteration:
        raise RegisterError("the file is empty") from None
    positions = _columns(header)
    entries: list[Entry] = []
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        entry = _entry(row, positions, line)
        if entry.authorisation_id in seen:
            raise RegisterError(f"line {line}: authorisation id {entry.authorisation_id} twice")
        seen.add(entry.authorisation_id)
        entries.append(entry)
    return entries


def replace_register(entries: list[Entry]) -> int:
    """Replace the whole register with ``entries`` in one transaction; return the count.

    A user whose authorisation the new register no longer lists as authorised (revoked,
    restricted…) loses their sessions and open grants at once, as if signed out: sign-in
    checks the register, and nobody may keep reading on a session opened before.
    """
    now = timezone.now()
    withdrawn = sorted(
        {
            entry.authorisation_id
            for entry in entries
            if entry.status != AuthorisationStatus.AUTHORISED
        }
    )
    with transaction.atomic():
        Authorisation.objects.all().delete()
        Authorisation.objects.bulk_create(
            [
                Authorisation(
                    authorisation_id=entry.authorisation_id,
                    status=entry.status,
                    profession=entry.profession,
                    imported_at=now,
                )
                for entry in entries
            ],
            batch_size=5000,
        )
        ended = _end_access_of(withdrawn)
    if ended:
        logger.warning(
            "authorisation register: %d user(s) no longer authorised; sessions and grants ended",
            ended,
        )
    return len(entries)


def _end_access_of(authorisation_ids: list[str]) -> int:
    """End the sessions and open grants of the active users holding ``authorisation_ids``;
    return how many users there are."""
    if not authorisation_ids:
        return 0
    from indblik.access.grants import revoke_open_grants
    from indblik.identity.users import end_sessions_of

    users = User.objects.annotate(upper_id=Upper("authorisation_id")).filter(
        is_active=True, upper_id__in=authorisation_ids
    )
    revoke_open_grants("authorisation-withdrawn", users=users)
    end_sessions_of(users)
    return users.count()


def lookup(authorisation_id: str) -> Authorisation | None:
    """Return the register's entry for ``authorisation_id`` (case-insensitive), if any."""
    if not authorisation_id:
        return None
    return Authorisation.objects.filter(authorisation_id=authorisation_id.upper()).first()


def _columns(header: list[str]) -> dict[str, int]:
    normalised = [re.sub(r"[\s_\-]", "", name).lower() for name in header]
    positions: dict[str, int] = {}
    for column, names in COLUMNS.items():
        for index, name in enumerate(normalised):
            if name in names:
                positions[column] = index
                break
    missing = [column for column in ("authorisation_id", "status") if column not in positions]
    if missing:
        raise RegisterError(f"line 1: no column for {', '.join(missing)} (see docs/identity.md)")
    return positions


def _entry(row: list[str], positions: dict[str, int], line: int) -> Entry:
    def cell(column: str) -> str:
        index = positions.get(column)
        return row[index].strip() if index is not None and index < len(row) else ""

    authorisation_id = cell("authorisation_id").upper()
    if not _ID.fullmatch(authorisation_id):
        raise RegisterError(f"line {line}: {authorisation_id[:20]!r} is not an authorisation id")
    word = cell("status").lower()
    status = _STATUS.get(word)
    if status is None:
        raise RegisterError(f"line {line}: unknown status {word[:40]!r}")
    return Entry(
        authorisation_id=authorisation_id, status=status, profession=cell("profession")[:100]
    )
