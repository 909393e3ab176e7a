"""The chart page benchmark (``indblik bench chart``): gunicorn under wrk, against the floor.

:mod:`indblik.core.bench` orchestrates: a fresh database, generated records, then
``python -m indblik.chart.bench.setup`` (a signed-in nurse with a grant for the richest
citizen), then gunicorn with :mod:`indblik.chart.bench.settings` — the product's settings plus
two extra URLs (:mod:`indblik.chart.bench.urls`), pages of the same size as the snapshot:
``/bench/floor/<bytes>`` goes through the same middleware (session, user, organisation
allowlist) and does nothing else, the framework floor; ``/bench/guarded/<handle>/<bytes>``
adds what every chart page must do before it answers (the grant's re-check and the audit
row). wrk measures them, a bare Django page and the snapshot, alternating, on the same
server.
"""
