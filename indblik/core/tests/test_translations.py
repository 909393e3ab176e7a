"""The Danish catalogue is complete, and the compiled .mo files say what the .po files say.

Danish is the default language: an empty or fuzzy Danish entry would show English (or a wrong
guess) to a Danish nurse. The .po is parsed with the standard library only; the .mo is read
with ``gettext`` and checked entry by entry, so a .po edited without ``compilemessages`` fails.
"""

from __future__ import annotations

import ast
import gettext
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.utils import translation

LOCALE = Path(__file__).resolve().parents[2] / "locale"
DANISH_PO = LOCALE / "da" / "LC_MESSAGES" / "django.po"
DANISH_MO = LOCALE / "da" / "LC_MESSAGES" / "django.mo"
ENGLISH_PO = LOCALE / "en" / "LC_MESSAGES" / "django.po"
ENGLISH_MO = LOCALE / "en" / "LC_MESSAGES" / "django.mo"


@dataclass
class Entry:
    """One message of a .po file."""

    line: int
    flags: set[str] = field(default_factory=set)
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def msgid(self) -> str:
        return self.fields.get("msgid", "")

    @property
    def context(self) -> str | None:
        return self.fields.get("msgctxt")

    @property
    def plural(self) -> str | None:
        return self.fields.get("msgid_plural")

    @property
    def translations(self) -> list[str]:
        if self.plural is None:
            return [self.fields.get("msgstr", "")]
        forms = sorted(key for key in self.fields if key.startswith("msgstr["))
        return [self.fields[key] for key in forms]


def parse_po(path: Path) -> list[Entry]:
    """Return the entries of a .po file (the header included, obsolete ``#~`` ones left out)."""
    entries: list[Entry] = []
    current: Entry | None = None
    keyword = ""
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#~"):
            current, keyword = (None, "") if not line else (current, keyword)
            continue
        if line.startswith("#"):
            if current is None or current.fields:
                current = Entry(line=number)
                entries.append(current)
            if line.startswith("#,"):
                current.flags.update(flag.strip() for flag in line[2:].split(","))
            continue
        if line.startswith('"'):
            assert current is not None and keyword, f"{path}:{number}: stray string"
            current.fields[keyword] += ast.literal_eval(line)
            continue
        keyword, _, literal = line.partition(" ")
        if current is None or (keyword in ("msgctxt", "msgid") and "msgid" in current.fields):
            current = Entry(line=number)
            entries.append(current)
        current.fields[keyword] = ast.literal_eval(literal)
    return entries


def messages(path: Path) -> list[Entry]:
    """Return the entries of a .po file without its header."""
    return [entry for entry in parse_po(path) if entry.msgid or entry.context is not None]


def describe(entry: Entry) -> str:
    return f"line {entry.line}: {entry.msgid!r}"


def test_the_parser_sees_the_whole_danish_catalogue() -> None:
    entries = messages(DANISH_PO)
    assert len(entries) > 200
    msgid_lines = sum(raw.startswith("msgid ") for raw in DANISH_PO.read_text().splitlines())
    assert msgid_lines == len(entries) + 1  # + the header


def test_the_danish_header_is_set() -> None:
    header = parse_po(DANISH_PO)[0]
    assert header.msgid == ""
    assert "fuzzy" not in header.flags
    text = header.fields["msgstr"]
    assert "Language: da\n" in text
    assert "charset=UTF-8" in text
    assert "Project-Id-Version: Indblik" in text
    assert "Plural-Forms: nplurals=2; plural=(n != 1);" in text


def test_every_danish_message_is_translated() -> None:
    empty = [describe(e) for e in messages(DANISH_PO) if not all(e.translations)]
    assert not empty, "untranslated Danish messages:\n" + "\n".join(empty)


def test_no_danish_message_is_fuzzy() -> None:
    fuzzy = [describe(e) for e in parse_po(DANISH_PO) if "fuzzy" in e.flags]
    assert not fuzzy, "fuzzy Danish messages (check them, then drop the flag):\n" + "\n".join(fuzzy)


def test_no_english_message_is_fuzzy() -> None:
    # English msgstr may be empty (the msgid is shown), but never a fuzzy guess.
    fuzzy = [describe(e) for e in parse_po(ENGLISH_PO) if "fuzzy" in e.flags]
    assert not fuzzy


@pytest.mark.parametrize(("po", "mo"), [(DANISH_PO, DANISH_MO), (ENGLISH_PO, ENGLISH_MO)])
def test_the_compiled_catalogue_matches_the_po(po: Path, mo: Path) -> None:
    assert mo.exists(), f"{mo} is missing: run compilemessages"
    with mo.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = []
    for entry in messages(po):
        if not all(entry.translations):
            continue  # not compiled: the msgid itself is shown
        if entry.plural is None:
            got = (
                compiled.pgettext(entry.context, entry.msgid)
                if entry.context is not None
                else compiled.gettext(entry.msgid)
            )
            if got != entry.translations[0]:
                stale.append(describe(entry))
        else:
            for n, expected in ((1, entry.translations[0]), (2, entry.translations[1])):
                got = (
                    compiled.npgettext(entry.context, entry.msgid, entry.plural, n)
                    if entry.context is not None
                    else compiled.ngettext(entry.msgid, entry.plural, n)
                )
                if got != expected:
                    stale.append(describe(entry))
    assert not stale, f"{mo} is out of date with {po}: run compilemessages\n" + "\n".join(stale)


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="needs GNU gettext's msgfmt")
@pytest.mark.parametrize("po", [DANISH_PO, ENGLISH_PO])
def test_msgfmt_accepts_the_catalogue(po: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        ["msgfmt", "--check-format", "--check-header", "-o", str(tmp_path / "out.mo"), str(po)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("english", "danish"),
    [
        ("Insight into the hospital record", "Indblik i hospitalets journal"),
        ("Clinical record", "Klinisk journal"),
        ("Audit log", "Adgangslog"),
        ("Drains, catheters and lines", "Dræn, kateter, adgange"),
        ("Framework agreement signed", "Rammeaftale underskrevet"),
    ],
)
def test_django_shows_danish_by_default_and_english_on_request(english: str, danish: str) -> None:
    with translation.override("da"):
        assert translation.gettext(english) == danish
    with translation.override("en"):
        assert translation.gettext(english) == english
