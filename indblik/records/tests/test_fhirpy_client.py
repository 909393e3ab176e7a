"""Indblik's FHIR read API through a FHIR client that is not ours: fhirpy.

The ``hospital`` fixture is a real second Indblik process (gunicorn) with the synthetic story
in its store. Only the access token comes from Indblik's own SMART Backend Services client;
everything after it — building searches, paging through ``next`` links, ``_include``, reads,
error answers — is fhirpy's, as it would be for a hospital's or a region's own tooling.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import AuthorizationError, ResourceNotFound

from indblik.records.live.smart import TokenProvider
from indblik.records.tests.hospital import CLIENT_ID, HospitalServer


@pytest.fixture
def token(hospital: HospitalServer) -> str:
    tokens = TokenProvider(
        hospital.fhir_base,
        CLIENT_ID,
        "system/*.read",
        "",
        key_file=str(hospital.client_key),
    )
    with httpx.Client() as http:
        return tokens.token(http, timeout=httpx.Timeout(10))


@pytest.fixture
def client(hospital: HospitalServer, token: str) -> Iterator[SyncFHIRClient]:
    yield SyncFHIRClient(
        hospital.fhir_base,
        authorization=f"Bearer {token}",
        extra_headers={"Accept": "application/fhir+json"},
    )


def richest(hospital: HospitalServer) -> str:
    """The hospital's id of the citizen with the most resources."""
    rows = hospital.sql(
        "SELECT p.fhir_id FROM records_patient p JOIN records_resource r ON r.patient_id = p.id"
        " GROUP BY p.fhir_id ORDER BY count(*) DESC, p.fhir_id LIMIT 1"
    )
    return str(rows[0][0])


def stored_ids(hospital: HospitalServer, patient_id: str, resource_type: str) -> set[str]:
    rows = hospital.sql(
        "SELECT r.fhir_id FROM records_resource r JOIN records_patient p ON r.patient_id = p.id"
        " WHERE p.fhir_id = ? AND r.resource_type = ? AND NOT r.deleted",
        patient_id,
        resource_type,
    )
    return {str(row[0]) for row in rows}


def test_fhirpy_pages_through_a_search_to_exactly_what_the_store_holds(
    hospital: HospitalServer, client: SyncFHIRClient
) -> None:
    patient = richest(hospital)
    search = client.resources("Observation").search(patient=f"Patient/{patient}")
    found = list(search.sort("-date").limit(7).fetch_all())  # 7 a page: many next links
    ids = [resource["id"] for resource in found]
    assert len(ids) == len(set(ids)), "a resource came twice while paging"
    assert set(ids) == stored_ids(hospital, patient, "Observation")
    assert len(ids) > 7
    # Newest first across the pages, as asked.
    dates = [r.get("effectiveDateTime") or r.get("issued") or "" for r in found]
    dated = [date[:10] for date in dates if date]
    assert dated == sorted(dated, reverse=True)
    # The number of matches alone: FHIR's _count=0. (fhirpy's own count() adds Aidbox's
    # _totalMethod, which Indblik, refusing parameters it does not know, declines.)
    counted = search.limit(0).fetch_raw()
    assert counted["total"] == len(ids) and "entry" not in counted


def test_fhirpy_reads_a_resource_with_its_version(
    hospital: HospitalServer, client: SyncFHIRClient
) -> None:
    patient = client.reference("Patient", richest(hospital)).to_resource()
    assert patient["resourceType"] == "Patient"
    assert patient["meta"]["versionId"] == "1"
    assert patient["meta"]["lastUpdated"].endswith("Z")
    with pytest.raises(ResourceNotFound):
        client.reference("Patient", "nobody-here").to_resource()


def test_fhirpy_gets_included_resources_with_their_search_mode(
    hospital: HospitalServer, client: SyncFHIRClient
) -> None:
    patient = richest(hospital)
    bundle: dict[str, Any] = (
        client.resources("DeviceUseStatement")
        .search(patient=f"Patient/{patient}")
        .include("DeviceUseStatement", "device")
        .fetch_raw()
    )
    modes = {
        entry["resource"]["resourceType"]: entry["search"]["mode"] for entry in bundle["entry"]
    }
    assert modes == {"DeviceUseStatement": "match", "Device": "include"}


def test_fhirpy_is_refused_without_a_valid_token(hospital: HospitalServer) -> None:
    stranger = SyncFHIRClient(hospital.fhir_base, authorization="Bearer ibf_not-a-token")
    with pytest.raises(AuthorizationError) as refused:
        stranger.resources("Patient").search(_id="anyone").fetch()
    assert "bearer token" in str(refused.value)
