"""Who may see which citizen: the access policy, patient-scoped grants and review alerts.

The rules live only here (:mod:`indblik.access.policy`). A grant (:mod:`indblik.access.grants`)
is for one user, one patient, one session, with an expiry; the chart finds it by an opaque
handle and re-checks it on every request.
"""
