"""Forwarding the audit log to central logging: syslog (IHE ATNA) and FHIR (IHE BALP).

The audit table is the outbox: :class:`~indblik.audit.forward.runner.Forwarder` reads it in
id order and moves one :class:`~indblik.audit.models.ForwardingCursor` per receiver after each
accepted batch. The same formats serve `indblik audit export`. See docs/audit.md, "Forwarding".
"""
