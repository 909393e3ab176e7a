"""The FHIR ingestion endpoint: bearer authentication, FHIR responses, status codes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest
import time_machine
from django.test import Client, override_settings
from django.urls import include, path
from django.utils import timezone

from indblik.records import auth
from indblik.records.models import Feed, IngestionRun, Resource
from indblik.records.tests.test_ingest_helpers import (
    counts,
    fixture_bytes,
    fixture_json,
    ndjson,
    observation,
    patient,
)

# This module is the URLconf of its own tests, mounting the API where indblik.urls does.
urlpatterns = [path("fhir/r4/", include("indblik.records.urls"))]

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.urls("indblik.records.tests.test_ingest_http"),
]
FHIR_JSON = "application/fhir+json"


@pytest.fixture
def token() -> str:
    return auth.create_feed("hospital-engine").token


@pytest.fixture
def api(token: str) -> Client:
    # CSRF checks on, as for a browser: the feed API must not depend on a CSRF token.
    return Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {token}"})


def post(client: Client, data: bytes, url: str = "/fhir/r4/", content_type: str = FHIR_JSON) -> Any:
    return client.post(url, data=data, content_type=content_type)


def issues(response: Any) -> list[dict[str, Any]]:
    document = orjson.loads(response.content)
    assert document["resourceType"] == "OperationOutcome"
    return document["issue"]


def assert_fhir(response: Any) -> None:
    assert response["Content-Type"] == FHIR_JSON
    assert response["Cache-Control"] == "no-store"


# --- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer ibf_wrong", "Basic dXNlcjpwdw=="])
def test_a_request_without_a_valid_token_is_refused(header: str | None) -> None:
    auth.create_feed("hospital-engine")
    client = Client(headers={"Authorization": header} if header else {})

    response = post(client, fixture_bytes("transaction-bundle.json"))

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert_fhir(response)
    assert issues(response)[0]["code"] == "login"
    assert counts() == (0, 0, 0)
    assert not IngestionRun.objects.exists()


def test_a_revoked_token_is_refused(api: Client) -> None:
    auth.revoke(Feed.objects.get())

    assert post(api, fixture_bytes("transaction-bundle.json")).status_code == 401


def test_an_expired_token_is_refused(api: Client) -> None:
    feed = Feed.objects.get()
    auth.rotate(feed, overlap=dt.timedelta(hours=1))

    with time_machine.travel(timezone.now() + dt.timedelta(hours=2)):
        response = post(api, fixture_bytes("transaction-bundle.json"))

    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_the_token_of_an_inactive_feed_is_refused(api: Client) -> None:
    Feed.objects.update(active=False)

    assert post(api, fixture_bytes("transaction-bundle.json")).status_code == 401


# --- POST /fhir/r4/ ---------------------------------------------------------------------------


def test_a_transaction_is_stored_and_answered_with_a_transaction_response(api: Client) -> None:
    response = post(api, fixture_bytes("transaction-bundle.json"))

    assert response.status_code == 200
    assert_fhir(response)
    document = orjson.loads(response.content)
    assert document["type"] == "transaction-response"
    first = document["entry"][0]["response"]
    assert first["status"] == "201 Created"
    assert first["location"] == "Patient/3c0b1f4e-7a52-4c1e-9a70-0f6b1f5e8a01/_history/1"
    assert counts() == (1, 7, 2)
    run = IngestionRun.objects.get()
    assert (run.source, run.channel, run.outcome) == ("hospital-engine", "http", "ok")


def test_a_transaction_with_a_bad_entry_is_a_422_naming_entry_and_path(api: Client) -> None:
    bundle = fixture_json("transaction-bundle.json")
    bundle["entry"][4]["resource"]["valueQuantity"]["value"] = "low"

    response = post(api, orjson.dumps(bundle))

    assert response.status_code == 422
    first = issues(response)[0]
    assert first["expression"] == ["Observation.valueQuantity.value"]
    assert (
        first["diagnostics"] == "entry 4: Observation.valueQuantity.value: not a valid FHIR decimal"
    )
    assert counts() == (0, 0, 0)


def test_a_batch_is_answered_entry_by_entry(api: Client) -> None:
    post(api, fixture_bytes("transaction-bundle.json"))

    response = post(api, fixture_bytes("batch-bundle.json"))

    assert response.status_code == 200
    entries = orjson.loads(response.content)["entry"]
    statuses = [entry["response"]["status"] for entry in entries]
    assert statuses == ["201 Created", "200 OK", "422 Unprocessable Entity"]
    outcome = entries[2]["response"]["outcome"]
    assert outcome["issue"][0]["expression"] == ["Observation.status"]


def test_ndjson_is_accepted_and_a_partial_failure_is_a_422(api: Client) -> None:
    post(api, fixture_bytes("transaction-bundle.json"))
    bad = observation("bad")
    del bad["code"]

    response = post(
        api,
        fixture_bytes("lab-results.ndjson") + ndjson(bad),
        content_type="application/fhir+ndjson",
    )

    assert response.status_code == 422
    found = issues(response)
    assert found[0]["diagnostics"] == "line 7: Observation.code: field required"
    assert found[-1]["diagnostics"] == "6 created, 0 updated, 0 unchanged, 0 deleted, 1 failed"


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data"])
def test_an_unsupported_content_type_is_a_415(api: Client, content_type: str) -> None:
    response = post(api, fixture_bytes("transaction-bundle.json"), content_type=content_type)

    assert response.status_code == 415
    assert_fhir(response)


def test_a_request_without_a_content_type_is_a_415(api: Client) -> None:
    response = api.generic("POST", "/fhir/r4/", data=fixture_bytes("transaction-bundle.json"))

    assert response.status_code == 415


@override_settings(INDBLIK_INGEST_MAX_BYTES=2048)
def test_a_declared_length_over_the_limit_is_a_413_before_the_body_is_read(api: Client) -> None:
    response = post(api, fixture_bytes("transaction-bundle.json"))

    assert response.status_code == 413
    assert issues(response)[0]["code"] == "too-long"
    assert counts() == (0, 0, 0)


def test_malformed_json_is_a_400_and_never_a_500(api: Client) -> None:
    response = post(api, b'{"resourceType": "Bundle", "type": "transaction", "entry": [}')

    assert response.status_code == 400
    assert issues(response)[0]["diagnostics"].startswith("not valid JSON")


def test_only_post_is_allowed_on_the_base(api: Client) -> None:
    response = api.get("/fhir/r4/")

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert_fhir(response)


# --- /fhir/r4/<Type>[/<id>] -------------------------------------------------------------------


def put(client: Client, resource: dict[str, Any]) -> Any:
    url = f"/fhir/r4/{resource['resourceType']}/{resource['id']}"
    return client.put(url, data=orjson.dumps(resource), content_type=FHIR_JSON)


def test_put_creates_then_updates_one_resource(api: Client) -> None:
    put(api, patient("p1", "0101701234"))

    created = put(api, observation("o1", patient="p1", value=7.0))
    updated = put(api, observation("o1", patient="p1", value=7.2))

    assert (created.status_code, updated.status_code) == (201, 200)
    assert created["Location"] == "http://127.0.0.1:8000/fhir/r4/Observation/o1/_history/1"
    assert updated["ETag"] == 'W/"2"'
    assert_fhir(updated)
    assert Resource.objects.get(fhir_id="o1").resource["valueQuantity"]["value"] == 7.2


def test_put_with_another_id_in_the_body_is_refused(api: Client) -> None:
    put(api, patient("p1", "0101701234"))

    response = api.put(
        "/fhir/r4/Observation/o1",
        data=orjson.dumps(observation("o2", patient="p1")),
        content_type=FHIR_JSON,
    )

    assert response.status_code == 422
    assert (
        issues(response)[0]["diagnostics"]
        == "Observation.id: does not match the id in the request URL"
    )


def test_post_to_a_type_creates_with_an_id_derived_from_the_content(api: Client) -> None:
    put(api, patient("p1", "0101701234"))
    resource = observation("ignored", patient="p1")
    del resource["id"]

    first = post(api, orjson.dumps(resource), url="/fhir/r4/Observation")
    second = post(api, orjson.dumps(resource), url="/fhir/r4/Observation")

    assert (first.status_code, second.status_code) == (201, 200)
    assert first["Location"] == second["Location"]
    assert Resource.objects.filter(resource_type="Observation").count() == 1


def test_post_of_another_resource_type_than_the_url_names_is_refused(api: Client) -> None:
    response = post(api, orjson.dumps(patient("p1", "0101701234")), url="/fhir/r4/Observation")

    assert response.status_code == 422
    assert counts() == (0, 0, 0)


def test_delete_hides_a_resource(api: Client) -> None:
    put(api, patient("p1", "0101701234"))
    put(api, observation("o1", patient="p1"))

    response = api.delete("/fhir/r4/Observation/o1")

    assert response.status_code == 200
    assert_fhir(response)
    assert Resource.objects.get(fhir_id="o1").deleted


def test_an_unknown_resource_type_is_a_404(api: Client) -> None:
    response = api.delete("/fhir/r4/Nonsense/o1")

    assert response.status_code == 404
    assert_fhir(response)


def test_an_invalid_id_in_the_url_is_a_400(api: Client) -> None:
    response = api.delete("/fhir/r4/Observation/" + "x" * 65)

    assert response.status_code == 400
