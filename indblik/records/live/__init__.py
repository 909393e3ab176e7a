"""Live reads from a hospital's FHIR R4 server (``INDBLIK_RECORD_SOURCE=<base URL>``).

- :mod:`config`: the settings, checked at start-up.
- :mod:`smart`: SMART Backend Services (client credentials with a signed JWT assertion).
- :mod:`client`: the HTTP client: timeouts, bounded retries, a circuit breaker, size limits.
- :mod:`wire`: one deadline for a whole request (every socket wait), and the byte cap.
- :mod:`source`: :class:`~indblik.records.live.source.FhirServerSource`, the ``RecordSource``.

Nothing read from the server is stored: results live for one request at most.
"""
