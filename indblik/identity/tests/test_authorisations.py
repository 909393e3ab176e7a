"""The register of authorised health personnel: import, and its effect at login."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from indblik import audit
from indblik.identity import authorisations
from indblik.identity.models import Authorisation, User
from indblik.identity.tests.conftest import NURSE, Broker, assert_refused

pytestmark = pytest.mark.django_db

DANISH = (
    "Autorisations-ID;Erhverv;Autorisationsstatus\n"
    "5D2K9;Sygeplejerske;Autoriseret\n"
    "7H3T1;Fysioterapeut;Frataget\n"
    "2b8n4;Sygeplejerske;Begrænset\n"
)


def write(tmp_path: Path, text: str, encoding: str = "utf-8-sig") -> Path:
    path = tmp_path / "register.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_a_danish_register_is_imported(tmp_path: Path) -> None:
    out = StringIO()
    call_command("authorisations", "import", str(write(tmp_path, DANISH)), stdout=out)
    assert "3 authorisations imported (1 authorised, 1 restricted, 1 revoked)." in out.getvalue()
    assert dict(Authorisation.objects.values_list("authorisation_id", "status")) == {
        "5D2K9": "authorised",
        "7H3T1": "revoked",
        "2B8N4": "restricted",
    }
    assert audit.AuditEvent.objects.get(action=audit.Action.ADMIN_CHANGE).details["rows"] == 3


def test_an_english_comma_separated_windows_1252_register_is_imported(tmp_path: Path) -> None:
    text = "authorisation_id,status,profession\nAB123,authorised,Læge\n"
    call_command(
        "authorisations", "import", str(write(tmp_path, text, "cp1252")), stdout=StringIO()
    )
    assert Authorisation.objects.get().profession == "Læge"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Navn;Erhverv\nX;Y\n", "no column for authorisation_id, status"),
        ("aut_id;status\n5D2K9;måske\n", "line 2: unknown status"),
        ("aut_id;status\n5D2-K9;aktiv\n", "line 2: '5D2-K9' is not an authorisation id"),
        ("aut_id;status\n5D2K9;aktiv\n5d2k9;aktiv\n", "line 3: authorisation id 5D2K9 twice"),
        ("", "the file is empty"),
    ],
)
def test_a_bad_file_imports_nothing(tmp_path: Path, text: str, message: str) -> None:
    call_command("authorisations", "import", str(write(tmp_path, DANISH)), stdout=StringIO())
    with pytest.raises(CommandError, match=message):
        call_command("authorisations", "import", str(write(tmp_path, text)), stdout=StringIO())
    assert Authorisation.objects.count() == 3  # the previous register is untouched


def test_a_dry_run_changes_nothing(tmp_path: Path) -> None:
    out = StringIO()
    call_command("authorisations", "import", str(write(tmp_path, DANISH)), "--dry-run", stdout=out)
    assert "3 authorisations would be imported" in out.getvalue()
    assert not Authorisation.objects.exists()


def load(text: str) -> None:
    authorisations.replace_register(authorisations.parse(text))


@pytest.mark.parametrize(
    ("status", "reason"), [("Frataget", "revoked"), ("Begrænset", "restricted")]
)
def test_a_revoked_or_restricted_authorisation_is_refused_at_login(
    broker: Broker, status: str, reason: str
) -> None:
    load(f"aut_id;status\n{NURSE.authorisation_id};{status}\n")
    response = broker.login()
    assert_refused(response, f"authorisation-{reason}")
    assert "autorisation" in response.content.decode().lower()
    assert not User.objects.exists()


def test_the_user_shows_profession_and_status_from_the_register(broker: Broker) -> None:
    load(DANISH)
    assert broker.login().status_code == 302
    user = User.objects.get()
    assert (user.profession, user.authorisation_status) == ("Sygeplejerske", "authorised")


def test_without_the_register_or_an_unknown_id_the_assertion_stands(broker: Broker) -> None:
    assert broker.login().status_code == 302
    assert User.objects.get().authorisation_status == ""
    load("aut_id;status\nZZZ99;Frataget\n")
    assert broker.login(client=broker.client.__class__()).status_code == 302
