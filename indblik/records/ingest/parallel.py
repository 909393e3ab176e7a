"""Validation in worker processes: ~20-45 µs a resource of CPU that the main process is spared.

The pool uses the ``forkserver`` start method: workers are forked from a small server process
that has imported only :mod:`indblik.records.validation` and loaded the compiled structure
tables (:mod:`indblik.records.structure`, a few milliseconds from their cache file), never from
a Django process holding database connections, locks or threads. The fhir.resources models are
imported only by a worker that meets an invalid resource (for the models' wording of its
problems). One pool serves the whole process and is started on first use; small inputs never
start it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from indblik.records import structure
from indblik.records.validation import Problem, validate_serialised

log = logging.getLogger(__name__)

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


_failures = 0
_MAX_FAILURES = 2


def workers() -> int:
    """Return how many worker processes to use (two on the 2-core reference machine)."""
    return max(1, min(2, os.cpu_count() or 1))


def available() -> bool:
    """Return True when parallel validation can help and its workers have not kept failing."""
    return workers() > 1 and _failures < _MAX_FAILURES


def _executor() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["indblik.records.validation"])
            _pool = ProcessPoolExecutor(
                max_workers=workers(), mp_context=context, initializer=structure.start_worker
            )
        return _pool


def submit(payloads: list[bytes], structural: bool) -> Future[list[list[Problem]]] | None:
    """Validate JSON-serialised resources in a worker; None: validate them in-process instead.

    The future yields the problems of each resource.
    """
    if not available():
        return None
    try:
        return _executor().submit(validate_serialised, payloads, structural)
    except (BrokenProcessPool, RuntimeError, OSError):
        broken()
        return None


def broken() -> None:
    """Drop a pool whose worker died or could not start; after repeated failures, stop trying.

    Workers start by importing the main module, like every ``spawn``/``forkserver`` process:
    a script that calls ingestion without an ``if __name__ == "__main__":`` guard makes them
    fail at once. Ingestion then carries on validating in-process.
    """
    global _pool, _failures
    with _lock:
        _failures += 1
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None
        giving_up = _failures >= _MAX_FAILURES
    log.warning(
        "ingest: validation worker processes failed; %s",
        "validating in this process from now on" if giving_up else "starting new ones",
    )


def shutdown() -> None:
    """Stop the workers (tests and short-lived commands)."""
    global _pool
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=True, cancel_futures=True)
        _pool = None
