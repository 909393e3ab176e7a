"""No sequence of launches, URL edits or handle swaps shows one user another's grant (IDOR).

A hypothesis state machine drives several nurses (each a browser with its own session) who
get grants, sign out and in again, have grants expire, and request chart pages with their own
handles, other nurses' handles and edited handles. Invariants after every step: a page is
shown only for a current grant of that very user in that very session, and a shown page never
carries another citizen's name.
"""

from __future__ import annotations

import datetime as dt
import string
from dataclasses import dataclass, field

import pytest
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from indblik.access.models import Grant
from indblik.access.testing import grant_client, professional
from indblik.access.tests.factories import citizen
from indblik.organisations.models import Organisation
from indblik.records.models import Patient

SECTIONS = ["", "notes", "lab", "demographics", "appointments"]
FAMILIES = ["Idorsen", "Sporhund", "Kigaard", "Naboe"]


@dataclass
class Nurse:
    client: Client
    user: object
    grants: list[str] = field(default_factory=list)  # handles opened in the current session


class ChartAccess(RuleBasedStateMachine):
    # What the runs saw, so the test can tell that both branches were exercised.
    seen: dict[str, int] = {"shown": 0, "refused": 0, "refused-real-handle": 0}

    def __init__(self) -> None:
        super().__init__()
        self.nurses: list[Nurse] = []
        self.patients: list[Patient] = []
        self.all_handles: list[str] = []

    @initialize()
    def setup(self) -> None:
        self.patients = [citizen(municipality="0101", family=family) for family in FAMILIES]
        first = grant_client(self.patients[0])
        organisation = first.organisation
        self.nurses = [Nurse(first.client, first.user, [first.handle])]
        self.all_handles.append(first.handle)
        for _ in range(2):
            user = professional(organisation)
            client = Client()
            client.force_login(user)
            self.nurses.append(Nurse(client, user))

    @rule(nurse=st.integers(0, 2), patient=st.integers(0, 3))
    def open_grant(self, nurse: int, patient: int) -> None:
        who = self.nurses[nurse]
        granted = grant_client(self.patients[patient], client=who.client, user=who.user)  # type: ignore[arg-type]
        who.grants.append(granted.handle)
        self.all_handles.append(granted.handle)

    @rule(nurse=st.integers(0, 2))
    def sign_out_and_in(self, nurse: int) -> None:
        who = self.nurses[nurse]
        who.client.logout()
        who.client.force_login(who.user)  # type: ignore[arg-type]
        who.grants = []  # grants belong to the old session

    @precondition(lambda self: bool(self.all_handles))
    @rule(data=st.data())
    def expire_a_grant(self, data: st.DataObject) -> None:
        handle = data.draw(st.sampled_from(self.all_handles))
        Grant.objects.filter(handle=handle).update(
            expires_at=timezone.now() - dt.timedelta(seconds=1)
        )
        for who in self.nurses:
            if handle in who.grants:
                who.grants.remove(handle)

    @precondition(lambda self: bool(self.all_handles))
    @rule(nurse=st.integers(0, 2), data=st.data(), section=st.sampled_from(SECTIONS))
    def request_page(self, nurse: int, data: st.DataObject, section: str) -> None:
        who = self.nurses[nurse]
        handle = data.draw(
            st.one_of(
                st.sampled_from(self.all_handles),
                st.sampled_from(self.all_handles).map(_edit),
                st.text(string.ascii_letters + string.digits + "-_", min_size=0, max_size=40),
            )
        )
        if not handle or "/" in handle:
            return
        self._request(who, handle, section)

    @precondition(lambda self: any(who.grants for who in self.nurses))
    @rule(data=st.data(), section=st.sampled_from(SECTIONS))
    def request_own_page(self, data: st.DataObject, section: str) -> None:
        """A nurse opens one of her own current grants (so both branches are always tried)."""
        who = data.draw(st.sampled_from([who for who in self.nurses if who.grants]))
        self._request(who, data.draw(st.sampled_from(who.grants)), section)

    def _request(self, who: Nurse, handle: str, section: str) -> None:
        url = f"/chart/{handle}/" + (f"{section}/" if section else "")
        response = who.client.get(url)
        body = response.content.decode(errors="replace")
        if handle in who.grants:
            grant = Grant.objects.get(handle=handle)
            assert response.status_code == 200, (url, response.status_code)
            self.seen["shown"] += 1
            own = Patient.objects.get(cpr=grant.patient_cpr).family
            assert own in body
            for other in self.patients:
                if other.family != own:
                    assert other.family not in body
        else:
            assert response.status_code == 404, (url, response.status_code)
            self.seen["refused"] += 1
            if handle in self.all_handles:
                self.seen["refused-real-handle"] += 1
            for other in self.patients:
                assert other.family not in body

    @invariant()
    def grants_stay_bound(self) -> None:
        for grant in Grant.objects.all():
            assert grant.user_id is not None and grant.session_key


def _edit(handle: str) -> str:
    """Change one character of a handle (a URL edit)."""
    if not handle:
        return "x"
    replacement = "A" if handle[-1] != "A" else "B"
    return handle[:-1] + replacement


@pytest.mark.django_db
def test_no_sequence_of_actions_shows_another_users_grant() -> None:
    from hypothesis.stateful import run_state_machine_as_test

    ChartAccess.TestCase.settings = settings(
        max_examples=40,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    ChartAccess.seen = {"shown": 0, "refused": 0, "refused-real-handle": 0}
    run_state_machine_as_test(ChartAccess, settings=ChartAccess.TestCase.settings)
    assert Organisation.objects.exists()
    # Both sides were exercised: own pages shown, and real handles of others refused.
    assert ChartAccess.seen["shown"] > 0, ChartAccess.seen
    assert ChartAccess.seen["refused-real-handle"] > 0, ChartAccess.seen
