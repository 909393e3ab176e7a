"""The synthetic record generator: determinism, Danish identities, a full chart, valid FHIR."""

from __future__ import annotations

import base64
import collections
import datetime as dt
import os
import re
import subprocess
import sys
from typing import Any

import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class

from indblik.records import fhir, sections, synth
from indblik.records.sections import Section
from indblik.records.synth import geography, labs, names, organisations, people

NOW = dt.datetime(2025, 11, 25, tzinfo=dt.UTC)
Resource = dict[str, Any]


def citizens(count: int, *, seed: int = 7) -> list[list[Resource]]:
    return [
        synth.generate_patient(synth.patient_rng(seed, index), index, now=NOW)
        for index in range(count)
    ]


@pytest.fixture(scope="module")
def population() -> list[list[Resource]]:
    return citizens(300)


@pytest.fixture(scope="module")
def shared() -> list[Resource]:
    return synth.shared_resources()


# --- determinism ----------------------------------------------------------------------------------


def test_the_same_seed_and_moment_give_identical_bytes() -> None:
    first = b"\n".join(orjson.dumps(r) for r in synth.generate(12, seed=3, now=NOW))
    second = b"\n".join(orjson.dumps(r) for r in synth.generate(12, seed=3, now=NOW))
    assert first == second


def test_a_different_seed_gives_different_citizens() -> None:
    first = [orjson.dumps(r) for r in synth.generate(5, seed=3, now=NOW)]
    second = [orjson.dumps(r) for r in synth.generate(5, seed=4, now=NOW)]
    assert first != second
    # Shared resources do not depend on the seed: demo organisations keep their identity.
    shared_count = len(synth.shared_resources())
    assert first[:shared_count] == second[:shared_count]


def test_a_citizen_is_the_same_however_many_are_generated() -> None:
    few = list(synth.generate(3, seed=9, now=NOW))
    many = list(synth.generate(6, seed=9, now=NOW))
    assert many[: len(few)] == few


_DIGEST = """
import datetime as dt, hashlib, orjson
from indblik.records import synth
digest = hashlib.sha256()
for resource in synth.generate(15, seed=4, now=dt.datetime(2025, 11, 25, tzinfo=dt.UTC)):
    digest.update(orjson.dumps(resource))
print(digest.hexdigest())
"""


def test_the_output_does_not_depend_on_the_hash_seed_of_the_process() -> None:
    digests = {
        subprocess.run(
            [sys.executable, "-c", _DIGEST],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            check=True,
            text=True,
        ).stdout
        for hash_seed in ("1", "2")
    }
    assert len(digests) == 1


def test_it_refuses_a_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        synth.generate_patient(synth.patient_rng(1, 0), 0, now=dt.datetime(2025, 1, 1))


# --- who the citizens are ----------------------------------------------------------------------


def _official_birth_year(cpr: str) -> int:
    """The CPR office's century table, written out independently of the generator."""
    yy, seventh = int(cpr[4:6]), int(cpr[6])
    if seventh in (0, 1, 2, 3):
        return 1900 + yy
    if seventh in (4, 9):
        return 2000 + yy if yy <= 36 else 1900 + yy
    return 2000 + yy if yy <= 57 else 1800 + yy  # 5-8


def test_cpr_numbers_agree_with_birth_date_century_and_sex(
    population: list[list[Resource]],
) -> None:
    for resources in population:
        patient = resources[0]
        cpr = fhir.identifier_value(patient["identifier"], [fhir.CPR_SYSTEM])
        assert cpr is not None and re.fullmatch(r"\d{10}", cpr)
        assert fhir.normalise_cpr(cpr) == cpr
        birth = dt.date.fromisoformat(patient["birthDate"])
        assert cpr[:6] == birth.strftime("%d%m%y")
        assert _official_birth_year(cpr) == birth.year
        assert (int(cpr[9]) % 2 == 1) == (patient["gender"] == "male")


def test_cpr_numbers_are_unique_across_a_large_population() -> None:
    today = NOW.date()
    seen = set()
    for index in range(0, names.UNIQUE_CITIZENS, 7):  # every 7th index up to 200,000
        drawn = today - dt.timedelta(days=(index * 7919) % 30000 + 6600)
        birth = names.cpr_birth_date(drawn, index, latest=today)
        seen.add(names.cpr_number(birth, male=index % 3 == 0, index=index))
    assert len(seen) == len(range(0, names.UNIQUE_CITIZENS, 7))


def test_cpr_numbers_of_the_2000s_use_their_own_century_digits() -> None:
    cpr = names.cpr_number(dt.date(2004, 5, 17), male=False, index=1234)
    assert cpr.startswith("170504") and int(cpr[6]) in (4, 5, 6, 9)
    assert _official_birth_year(cpr) == 2004 and int(cpr[9]) % 2 == 0


def test_citizens_are_adults_with_danish_names(population: list[list[Resource]]) -> None:
    family_names: collections.Counter[str] = collections.Counter()
    for resources in population:
        patient = resources[0]
        birth = dt.date.fromisoformat(patient["birthDate"])
        assert (NOW.date() - birth).days >= people.MIN_AGE * 365
        name = patient["name"][0]
        family_names[name["family"].split(" ")[-1]] += 1
        assert name["given"] and all(given[0].isupper() for given in name["given"])
    common = {"Jensen", "Nielsen", "Hansen", "Pedersen", "Andersen", "Christensen", "Larsen"}
    assert sum(family_names[n] for n in common) > len(population) * 0.15


def test_citizens_live_mostly_in_copenhagen_and_frederiksberg() -> None:
    rng = synth.patient_rng(5, 0)
    drawn = collections.Counter(geography.pick_municipality(rng).code for _ in range(5000))
    assert 0.37 < drawn["0101"] / 5000 < 0.43
    assert 0.13 < drawn["0147"] / 5000 < 0.17
    assert len(drawn) > 60  # spread across the country too


def test_the_98_municipalities_are_all_there_with_four_digit_codes() -> None:
    codes = [m.code for m in geography.MUNICIPALITIES]
    assert len(codes) == len(set(codes)) == 98
    assert all(re.fullmatch(r"\d{4}", code) for code in codes)
    assert geography.BY_CODE["0101"].official_name == "Københavns Kommune"
    assert geography.BY_CODE["0751"].name == "Aarhus"


def test_the_address_carries_the_dk_core_municipality_code(
    population: list[list[Resource]],
) -> None:
    for resources in population[:50]:
        address = resources[0]["address"][0]
        (extension,) = address["extension"]
        assert extension["url"] == fhir.MUNICIPALITY_EXTENSION
        (coding,) = extension["valueCodeableConcept"]["coding"]
        assert coding["system"] == fhir.MUNICIPALITY_SYSTEM and coding["code"] in geography.BY_CODE
        assert re.fullmatch(r"\d{4}", address["postalCode"]) and address["line"][0]


def test_a_few_citizens_are_deceased_and_some_have_next_of_kin(
    population: list[list[Resource]],
) -> None:
    deceased = [r[0] for r in population if "deceasedDateTime" in r[0]]
    assert 1 <= len(deceased) <= 9  # ~1 %
    for patient in deceased:
        assert fhir.parse_datetime(patient["deceasedDateTime"]) < NOW  # type: ignore[operator]
    related = [r for res in population for r in res if r["resourceType"] == "RelatedPerson"]
    assert 0.2 < len(related) / len(population) < 0.4
    assert all(person["telecom"][0]["value"].startswith("+45 ") for person in related)


# --- the chart ------------------------------------------------------------------------------------


def test_every_page_of_the_chart_gets_resources(population: list[list[Resource]]) -> None:
    filled: collections.Counter[Section] = collections.Counter()
    for resources in population[:50]:
        filled.update({sections.classify(r) for r in resources[1:]})
    wanted = set(sections.PAGES) - {Section.SNAPSHOT, Section.DEMOGRAPHICS}
    assert wanted <= set(filled), wanted - set(filled)
    assert Section.OTHER not in filled


def test_most_citizens_fill_every_page(population: list[list[Resource]]) -> None:
    wanted = set(sections.PAGES) - {Section.SNAPSHOT, Section.DEMOGRAPHICS}
    complete = sum(
        wanted <= {sections.classify(r) for r in resources[1:]} for resources in population
    )
    assert complete / len(population) > 0.5


def test_a_rich_subset_has_many_entries(population: list[list[Resource]]) -> None:
    sizes = sorted(len(resources) for resources in population)
    assert sizes[len(sizes) // 2] > 60
    assert sizes[-len(sizes) // 20] > 2 * sizes[len(sizes) // 2]


def test_every_resource_validates_against_the_r4b_models(
    population: list[list[Resource]], shared: list[Resource]
) -> None:
    for resource in [*shared, *(r for resources in population[:200] for r in resources)]:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)


# fhir.resources checks structure and cardinality but not required value-set bindings.
_STATUSES = {
    "Encounter": {"finished", "in-progress"},
    "Observation": {"final"},
    "ServiceRequest": {"active", "completed", "revoked"},
    "Procedure": {"completed", "in-progress", "not-done"},
    "DeviceUseStatement": {"active", "completed"},
    "Device": {"active", "inactive"},
    "Appointment": {"booked", "cancelled"},
    "CarePlan": {"active", "revoked"},
    "Goal": set(),
    "EpisodeOfCare": {"active", "finished"},
    "DocumentReference": {"current"},
    "Communication": {"completed"},
    "DiagnosticReport": {"final"},
    "Flag": {"active"},
    "Consent": {"active"},
    "Media": {"completed"},
    "ImagingStudy": {"available"},
    "QuestionnaireResponse": {"completed"},
    "FamilyMemberHistory": {"completed"},
}


def test_status_codes_come_from_their_value_sets(population: list[list[Resource]]) -> None:
    for resources in population:
        for resource in resources:
            allowed = _STATUSES.get(resource["resourceType"])
            if allowed:
                assert resource["status"] in allowed, resource["resourceType"]


def test_every_reference_resolves_within_the_generated_set(
    population: list[list[Resource]], shared: list[Resource]
) -> None:
    known = {f"{r['resourceType']}/{r['id']}" for r in shared}
    canonicals = {r["url"] for r in shared if r["resourceType"] == "Questionnaire"}
    ids = [f"{r['resourceType']}/{r['id']}" for r in shared]
    for resources in population[:100]:
        own = {f"{r['resourceType']}/{r['id']}" for r in resources}
        ids.extend(own)
        for resource in resources:
            for reference in fhir.references(resource):
                target = reference.get("reference")
                if isinstance(target, dict):
                    continue  # Consent.provision.actor: its ``reference`` is yielded on its own
                if target is not None:
                    assert target in own or target in known, target
                else:  # a logical reference, by CVR: the organisation must exist
                    value = reference["identifier"]["value"]
                    assert any(
                        fhir.identifier_value(o.get("identifier"), fhir.CVR_SYSTEMS) == value
                        for o in shared
                    )
            if resource["resourceType"] == "QuestionnaireResponse":
                assert resource["questionnaire"] in canonicals
            patient = fhir.patient_reference(resource)
            if resource["resourceType"] != "Patient":
                assert patient == f"Patient/{resources[0]['id']}"
    assert len(ids) == len(set(ids)), "ids must be unique"


def test_times_carry_the_copenhagen_offset(population: list[list[Resource]]) -> None:
    pattern = re.compile(rb'"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)([^"]*)"')
    offsets: collections.Counter[bytes] = collections.Counter()
    for resources in population[:40]:
        for match in pattern.finditer(orjson.dumps(resources)):
            offsets[match.group(2)] += 1
    assert set(offsets) == {b"+01:00", b"+02:00"}


def test_booked_appointments_lie_ahead_and_most_care_happened_before_now(
    population: list[list[Resource]],
) -> None:
    for resources in population:
        for resource in resources:
            when = fhir.clinical_date(resource)
            if resource["resourceType"] == "Appointment":
                if resource["status"] == "booked":
                    assert when is not None and when > NOW
            elif resource["resourceType"] == "ServiceRequest" and resource["status"] != "completed":
                continue  # orders and referrals (and cancelled ones) may be for later
            elif when is not None:
                assert when < NOW, (resource["resourceType"], resource["id"])


def test_lab_results_use_npu_codes_and_flag_abnormal_values(
    population: list[list[Resource]],
) -> None:
    seen: collections.Counter[str] = collections.Counter()
    for resources in population[:100]:
        for r in resources:
            if sections.classify(r) != Section.LAB or r["resourceType"] != "Observation":
                continue
            coding = r["code"]["coding"][0]
            assert coding["system"] == "urn:oid:1.2.208.176.2.1"
            assert r["basedOn"][0]["reference"].startswith("ServiceRequest/")
            quantity = r["valueQuantity"]
            reference = r["referenceRange"][0]
            flags = {c["code"] for i in r.get("interpretation", ()) for c in i["coding"]}
            seen.update(flags)
            if "comparator" in quantity:
                continue
            if "high" in reference and quantity["value"] > reference["high"]["value"]:
                assert flags == {"H"}
            elif "low" in reference and quantity["value"] < reference["low"]["value"]:
                assert flags == {"L"}
            else:
                assert not flags
    assert seen["H"] > 50 and seen["L"] > 10


def test_some_lab_orders_are_pending_and_some_cancelled(population: list[list[Resource]]) -> None:
    orders = collections.Counter(
        r["status"]
        for resources in population
        for r in resources
        if r["resourceType"] == "ServiceRequest" and sections.classify(r) == Section.LAB
    )
    assert orders["completed"] > orders["active"] > 50 and orders["revoked"] > 10


def test_egfr_follows_ckd_epi_2021() -> None:
    assert labs.egfr(88.4, female=False, age=40) == pytest.approx(97.6, abs=0.5)
    assert labs.egfr(88.4, female=True, age=40) == pytest.approx(73.1, abs=0.5)


# --- what the access policy needs --------------------------------------------------------------


def _references_to(resource: Resource, org: organisations.Org) -> bool:
    return any(
        ref.get("reference") == f"Organization/{org.id}" for ref in fhir.references(resource)
    )


def test_most_citizens_have_a_recent_care_event_with_their_municipality(
    population: list[list[Resource]],
) -> None:
    recent = 0
    for resources in population:
        code = resources[0]["address"][0]["extension"][0]["valueCodeableConcept"]["coding"][0]
        municipality = organisations.MUNICIPALITY_ORGS[code["code"]]
        for resource in resources[1:]:
            when = fhir.clinical_date(resource)
            if (
                when
                and NOW - dt.timedelta(days=30) <= when <= NOW
                and _references_to(resource, municipality)
            ):
                recent += 1
                break
    assert recent / len(population) > 0.75


def test_some_citizens_are_referred_to_the_near_clinic_and_the_hospice(
    population: list[list[Resource]],
) -> None:
    citizens_by_org: collections.Counter[str | None] = collections.Counter()
    for resources in population:
        citizens_by_org.update(
            {
                ref.get("reference")
                for r in resources
                if r["resourceType"] in ("ServiceRequest", "Communication", "Encounter")
                for ref in fhir.references(r)
            }
        )
    assert citizens_by_org[f"Organization/{organisations.NEAR_CLINIC.id}"] >= 10
    assert citizens_by_org[f"Organization/{organisations.HOSPICE.id}"] >= 3
    assert citizens_by_org[f"Organization/{organisations.EMERGENCY_LINE.id}"] >= 20


def test_a_few_notes_are_restricted(population: list[list[Resource]]) -> None:
    notes = [r for res in population for r in res if sections.classify(r) == Section.NOTES]
    restricted = [n for n in notes if fhir.is_restricted(n)]
    assert 0.01 < len(restricted) / len(notes) < 0.06
    assert all(n["type"]["text"] == "Psykiatrisk tilsyn" for n in restricted)


def test_a_few_citizens_block_access_by_consent(population: list[list[Resource]]) -> None:
    consents = [r for res in population for r in res if r["resourceType"] == "Consent"]
    assert 2 <= len(consents) <= 15  # ~2 %
    for consent in consents:
        assert consent["status"] == "active" and consent["provision"]["type"] == "deny"
        assert consent["scope"]["coding"][0]["code"] == "patient-privacy"
        for actor in consent["provision"].get("actor", ()):
            assert actor["reference"]["identifier"]["system"] == fhir.CVR_SYSTEMS[0]
    assert any("actor" in c["provision"] for c in consents)
    assert any("actor" not in c["provision"] for c in consents)


def test_the_demo_organisations_carry_their_fixed_identifiers(shared: list[Resource]) -> None:
    def identifiers(org_id: str) -> dict[str, str]:
        (org,) = [r for r in shared if r["resourceType"] == "Organization" and r["id"] == org_id]
        return {i["system"]: i["value"] for i in org["identifier"]}

    copenhagen = identifiers("kommune-0101")
    assert copenhagen == {"urn:oid:1.2.208.176.1.1": "279311000016005", "http://cvr.dk": "64942212"}
    assert identifiers("kommune-0147")["http://cvr.dk"] == "11259979"
    assert identifiers("naerklinik-amager")["http://cvr.dk"] == "29190909"
    assert identifiers("hospice-sjaelland")["http://cvr.dk"] == "30416031"
    assert identifiers("akuttelefonen-1813")["http://cvr.dk"] == "29190925"
    sors = [
        fhir.identifier_value(r["identifier"], [fhir.SOR_SYSTEM])
        for r in shared
        if r["resourceType"] == "Organization"
    ]
    assert all(s and re.fullmatch(r"\d{15}", s) for s in sors) and len(sors) == len(set(sors))
    hospitals = {r["name"] for r in shared if r["resourceType"] == "Organization"}
    for name in (
        "Rigshospitalet",
        "Bispebjerg og Frederiksberg Hospital",
        "Hvidovre Hospital",
        "Herlev og Gentofte Hospital",
    ):
        assert name in hospitals
        assert any(h.endswith(f", {name}") for h in hospitals), f"no departments of {name}"


# --- files inside the record -------------------------------------------------------------------


def _attachments(population: list[list[Resource]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for resources in population[:100]:
        for r in resources:
            if r["resourceType"] == "DocumentReference":
                found.extend(c["attachment"] for c in r["content"])
            elif r["resourceType"] == "Media":
                found.append(r["content"])
    return found


def test_notes_are_danish_plain_text(population: list[list[Resource]]) -> None:
    texts = [
        base64.b64decode(a["data"]).decode("utf-8")
        for a in _attachments(population)
        if a["contentType"].startswith("text/plain")
    ]
    assert any(t.startswith("Epikrise") and "Med venlig hilsen" in t for t in texts)
    assert any("Obj.:" in t and "SAT" in t for t in texts)
    assert sum("æ" in t or "ø" in t or "å" in t for t in texts) > len(texts) * 0.9


def test_uploaded_files_are_real_pdfs_and_images(population: list[list[Resource]]) -> None:
    magic = {
        "application/pdf": b"%PDF-1.4",
        "image/png": b"\x89PNG\r\n\x1a\n",
        "image/jpeg": b"\xff\xd8",
    }
    kinds: collections.Counter[str] = collections.Counter()
    for attachment in _attachments(population):
        kind = attachment["contentType"]
        if kind in magic:
            data = base64.b64decode(attachment["data"])
            assert data.startswith(magic[kind]) and attachment["size"] == len(data)
            kinds[kind] += 1
    assert set(kinds) == set(magic)
