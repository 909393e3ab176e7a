"""Indblik's FHIR R4 read API over the local store (``/fhir/r4/``), for machine clients.

- :mod:`.search` parses a search (strictly: an unknown parameter is a 400) and runs it as one
  indexed query, with keyset paging through an opaque, encrypted cursor;
- :mod:`.views` answers read, search, ``metadata``, SMART discovery and the token endpoint,
  and audits every read before data leaves;
- :mod:`.capability` builds the CapabilityStatement from :mod:`indblik.records.searchparams`.

Which parameters each type answers is :mod:`indblik.records.searchparams`; the token endpoint
and client keys are :mod:`indblik.records.smart`. See docs/fhir-api.md.
"""
