"""The chart page benchmark (``indblik bench chart``): gunicorn under wrk, against the floor.

:mod:`indblik.core.bench` orchestrates: a fresh database, generated records, then
``python -m indblik.chart.bench.setup`` (a signed-in nurse with a grant for the richest
citizen), then gunicorn with :mod:`indblik.chart.bench.settings` — the product's settings plus
one extra URL, ``/bench/floor/<bytes>``, a page of the same size as the snapshot that goes
through the same middleware (session, user, organisation allowlist) and does nothing else:
the framework floor. wrk measures both, alternating, on the same server.
"""
