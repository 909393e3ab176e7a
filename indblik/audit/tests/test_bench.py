"""The verify benchmark runs, verifies what it wrote, and refuses to touch a real log."""

from __future__ import annotations

from typing import Any

import pytest

from indblik.audit import Action, bench, record
from indblik.audit.writer import bulk_record_for_benchmark

pytestmark = pytest.mark.django_db


def test_verify_rate_seals_and_verifies_the_synthetic_rows() -> None:
    result = bench.verify_rate(300)
    assert result["rows"] == result["sealed_rows"] == 300
    assert result["ok"] is True
    assert result["verify_rows_per_second"] > 0


def test_the_benchmark_refuses_a_log_that_already_has_rows() -> None:
    record(None, Action.LOGIN)
    with pytest.raises(RuntimeError, match="empty audit table"):
        bench.verify_rate(10)


def test_the_bulk_path_refuses_to_run_outside_test_mode(settings: Any) -> None:
    settings.INDBLIK_MODE = "demo"
    with pytest.raises(RuntimeError, match="INDBLIK_MODE=test"):
        bulk_record_for_benchmark([])


def test_write_cost_times_record_beside_the_bare_insert_floor() -> None:
    from indblik.audit.models import AuditEvent

    result = bench.write_cost(20, warmup=2)

    assert result["events"] == 20
    assert result["record"]["median_us"] > 0 and result["insert"]["median_us"] > 0
    # One template row, then a page read and a floor insert per round: the same row twice.
    rows = list(AuditEvent.objects.order_by("id"))
    assert len(rows) == 1 + 2 * 22
    assert all(row.patient_cpr == "0101701234" and row.client_ip == "10.20.0.7" for row in rows)


def test_write_cost_refuses_to_run_outside_test_mode(settings: Any) -> None:
    settings.INDBLIK_MODE = "demo"
    with pytest.raises(RuntimeError, match="INDBLIK_MODE=test"):
        bench.write_cost(1)
