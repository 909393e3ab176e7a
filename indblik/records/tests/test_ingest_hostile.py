"""Hostile payloads are refused early, with a clear reason, and store nothing."""

from __future__ import annotations

import io
from collections.abc import Sequence

import orjson
import pytest
from django.test import override_settings

from indblik.records.ingest import ingest_payload
from indblik.records.ingest.payload import deeper_than
from indblik.records.models import IngestionRun
from indblik.records.tests.test_ingest_helpers import (
    counts,
    fixture_bytes,
    fixture_json,
    ingest_bytes,
    ingest_json,
    ndjson,
    observation,
    patient,
    run_of,
)

pytestmark = pytest.mark.django_db


class EndlessStream:
    """A stream that never ends (a client that keeps sending), counting what was read."""

    def __init__(self, pattern: bytes) -> None:
        self.pattern = pattern
        self.read_bytes = 0

    def read(self, size: int = -1, /) -> bytes:
        assert size > 0, "an unbounded read would exhaust memory"
        self.read_bytes += size
        return (self.pattern * (size // len(self.pattern) + 1))[:size]

    def readline(self, size: int = -1, /) -> bytes:
        assert size > 0, "an unbounded readline would exhaust memory"
        return self.read(size)


def refused(result_errors: Sequence[object]) -> list[str]:
    return [str(error) for error in result_errors]


def test_a_body_over_the_byte_limit_is_refused_without_reading_it_all() -> None:
    stream = EndlessStream(b'{"resourceType": "Bundle", "entry": [')

    result = ingest_payload(
        stream, source="test", channel="http", content_type="application/fhir+json", max_bytes=4096
    )

    assert result.refused_status == 413
    assert refused(result.errors) == ["the payload is larger than 4096 bytes"]
    assert stream.read_bytes <= 4097
    assert run_of(result).outcome == IngestionRun.Outcome.FAILED


def test_a_file_over_the_configured_limit_is_refused() -> None:
    with override_settings(INDBLIK_INGEST_MAX_BYTES=2048):
        result = ingest_bytes(fixture_bytes("transaction-bundle.json"))

    assert result.refused_status == 413
    assert counts() == (0, 0, 0)


@override_settings(INDBLIK_INGEST_MAX_LINE_BYTES=1024)
def test_an_ndjson_line_over_the_line_limit_is_refused_and_nothing_is_stored() -> None:
    long_note = observation("o2", note=[{"text": "x" * 2000}])
    data = ndjson(patient("p1", "0101701234"), long_note)

    result = ingest_bytes(data, content_type="application/fhir+ndjson")

    assert result.refused_status == 413
    assert refused(result.errors) == ["line 2: longer than 1024 bytes"]
    assert counts() == (0, 0, 0)


@override_settings(INDBLIK_INGEST_MAX_LINE_BYTES=1024)
def test_an_endless_ndjson_line_is_not_read_to_its_end() -> None:
    stream = EndlessStream(b"x")

    result = ingest_payload(
        stream, source="test", channel="http", content_type="application/x-ndjson"
    )

    assert refused(result.errors) == ["line 1: longer than 1024 bytes"]
    assert stream.read_bytes <= 1025


def deep(levels: int) -> bytes:
    return b'{"resourceType": "Basic", "extension": ' + b"[" * levels + b"]" * levels + b"}"


def test_json_nested_deeper_than_the_limit_is_refused_with_a_clear_reason() -> None:
    result = ingest_bytes(deep(40))

    assert result.refused_status == 400
    assert refused(result.errors) == ["JSON nested deeper than 32 levels"]


def test_nesting_beyond_orjsons_own_limit_gets_the_same_clear_reason() -> None:
    result = ingest_bytes(deep(5000))

    assert refused(result.errors) == ["JSON nested deeper than 32 levels"]


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = '"[[[[{{{{' * 20 + '\\"]]]"'
    assert not deeper_than(orjson.dumps({"a": text, "b": [[1]]}), 4)
    assert deeper_than(b'{"a": [[[[1]]]]}', 4)
    assert not deeper_than(b'{"a": [[[1]]]}', 4)


def test_an_unclosed_string_full_of_escaped_quotes_is_scanned_in_linear_time() -> None:
    # Quadratic scanning took 5 s at 32 KB and would take minutes here; linear takes ~0.1 s.
    import time

    hostile = b"[" * 40 + b'"' + b'\\"' * 128_000
    started = time.perf_counter()
    deeper_than(hostile, 32)
    assert time.perf_counter() - started < 10
    result = ingest_bytes(hostile)
    assert result.refused_status == 400


@override_settings(INDBLIK_INGEST_MAX_DEPTH=8)
def test_a_deep_ndjson_line_refuses_the_whole_file() -> None:
    data = ndjson(patient("p1", "0101701234")) + deep(10) + b"\n"

    result = ingest_bytes(data, content_type="application/fhir+ndjson")

    assert refused(result.errors) == ["line 2: JSON nested deeper than 8 levels"]
    assert counts() == (0, 0, 0)


def test_invalid_utf8_is_refused() -> None:
    data = b'{"resourceType": "Patient", "id": "p1", "name": [{"family": "Hans\xffen"}]}'

    result = ingest_bytes(data)

    assert (result.refused_status, refused(result.errors)) == (400, ["not valid UTF-8"])


def test_invalid_utf8_in_an_ndjson_line_is_refused_with_the_line_number() -> None:
    data = ndjson(patient("p1", "0101701234")) + b'{"resourceType": "Patient", "id": "\xc3("}\n'

    result = ingest_bytes(data, content_type="application/fhir+ndjson")

    assert refused(result.errors) == ["line 2: not valid UTF-8"]
    assert counts() == (0, 0, 0)


def test_text_that_is_not_json_is_refused() -> None:
    result = ingest_bytes(b"<Bundle xmlns='http://hl7.org/fhir'/>")

    assert result.refused_status == 400
    assert refused(result.errors)[0].startswith("not valid JSON")


def test_a_json_value_that_is_not_a_resource_is_refused() -> None:
    result = ingest_bytes(b"[1, 2, 3]")

    assert refused(result.errors) == [
        "the payload must be a FHIR resource or Bundle (a JSON object)"
    ]


def test_duplicate_full_urls_are_refused() -> None:
    bundle = fixture_json("transaction-bundle.json")
    bundle["entry"][3]["fullUrl"] = bundle["entry"][0]["fullUrl"]

    result = ingest_json(bundle)

    assert result.refused_status == 400
    assert refused(result.errors) == [
        "entry 3: Bundle.entry[3].fullUrl: the same fullUrl as entry 0"
    ]
    assert counts() == (0, 0, 0)


def test_an_unsupported_content_type_is_refused() -> None:
    result = ingest_bytes(fixture_bytes("transaction-bundle.json"), content_type="text/plain")

    assert result.refused_status == 415


def test_a_charset_other_than_utf8_is_refused() -> None:
    result = ingest_bytes(
        fixture_bytes("transaction-bundle.json"),
        content_type="application/fhir+json; charset=latin1",
    )

    assert result.refused_status == 415


@pytest.mark.parametrize("bundle_type", ["document", "message", "searchset", None])
def test_bundle_types_other_than_transaction_batch_and_collection_are_refused(
    bundle_type: str | None,
) -> None:
    result = ingest_json({"resourceType": "Bundle", "type": bundle_type, "entry": []})

    assert result.refused_status == 400
    assert refused(result.errors) == [
        "Bundle.type: only transaction, batch and collection Bundles are accepted"
    ]


def test_a_bundle_entry_with_an_unsupported_method_fails_that_entry() -> None:
    bundle = fixture_json("batch-bundle.json")
    bundle["entry"][0]["request"]["method"] = "PATCH"

    result = ingest_json(bundle)

    assert refused(result.entries[0].errors) == [
        "entry 0: Bundle.entry[0].request.method: only POST, PUT and DELETE are accepted"
    ]


def test_entries_referencing_patients_that_do_not_exist_store_nothing() -> None:
    lines = fixture_bytes("lab-results.ndjson")

    result = ingest_bytes(lines, content_type="application/fhir+ndjson")

    assert result.failed == 6 and result.created == 0
    assert all("the patient is neither stored nor in this Bundle" in str(e) for e in result.errors)
    assert counts() == (0, 0, 0)


def test_a_stored_value_too_long_or_with_nul_characters_does_not_break_the_database() -> None:
    ingest_json(patient("p1", "0101701234", name=[{"family": "A\u0000" + "b" * 500}]))
    lab = observation("o1", patient="p1")
    lab["code"] = {"coding": [{"system": "urn:x:" + "s" * 300, "code": "c"}]}

    result = ingest_json(lab)

    assert result.ok, result.errors
    assert counts()[:2] == (1, 1)


def test_a_nested_bundle_is_not_stored_as_a_resource() -> None:
    inner = {"resourceType": "Bundle", "type": "collection"}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": inner}]}

    result = ingest_json(bundle)

    assert refused(result.errors) == ["entry 0: Bundle: a Bundle cannot be stored as a resource"]


def test_a_stream_is_read_in_bounded_pieces() -> None:
    data = fixture_bytes("transaction-bundle.json")
    stream = io.BytesIO(data)

    result = ingest_payload(
        stream, source="test", channel="cli", content_type=None, max_bytes=len(data)
    )

    assert result.ok, result.errors


def test_a_bundle_with_too_many_entries_is_refused() -> None:
    entry = {"request": {"method": "DELETE", "url": "Observation/x"}}
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [entry] * 50_001}

    result = ingest_json(bundle)

    assert result.refused_status == 413
    assert refused(result.errors) == [
        "Bundle.entry: more than 50000 entries: split the Bundle or send NDJSON"
    ]


def test_a_large_refused_resource_is_not_expanded_into_a_model_tree() -> None:
    # 3.8 MB, far under the size limit: 500,000 items with an unknown element each. The
    # fhir.resources models would build the whole tree and half a million errors (hundreds of
    # MB); past MODEL_CHECK_MAX_BYTES the compiled check's problem is the answer.
    import tracemalloc

    from indblik.records import validation

    data = (
        b'{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},'
        b'"subject":{"reference":"Patient/p1"},"category":['
        + b",".join([b'{"x":1}'] * 500_000)
        + b"]}"
    )
    decoded = orjson.loads(data)
    tracemalloc.start()
    try:
        problems = validation.validate_resource(decoded)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [(p.path, p.code) for p in problems] == [("Observation.category[0].x", "structure")]
    # What the check itself allocates, beyond the decoded resource: a few times its size,
    # not hundreds of times (the models took ~770 MB for these 3.8 MB).
    assert peak < 5 * len(data), f"{peak / 2**20:.0f} MB traced for {len(data) / 2**20:.1f} MB"
    # Small refused resources still get the models' complete wording.
    small = validation.validate_resource(
        {
            "resourceType": "Observation",
            "id": "o2",
            "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": "Patient/p1"},
            "category": [{"x": 1}, {"y": 2}],
        }
    )
    assert len(small) >= 1


def test_an_unknown_element_named_like_a_cpr_number_is_not_quoted() -> None:
    cpr = "0101701234"
    resource = patient("p1", "0202701234")
    resource[cpr] = "x"  # a mis-mapped feed
    result = ingest_json(resource)
    assert not result.ok
    text = "\n".join(str(error) for error in result.errors)
    assert "Patient.<unknown element>" in text and cpr not in text
    assert cpr not in (run_of(result).error or "")
    assert cpr not in orjson.dumps(result.to_fhir()).decode()
