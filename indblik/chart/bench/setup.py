"""Prepare a benchmark database: a signed-in nurse with a grant for the richest citizen.

``python -m indblik.chart.bench.setup [--filler N]`` against ``DATABASE_URL``; prints JSON
with the session cookie and the chart URL. With ``--filler N`` it first adds N citizens by
copying the generated citizens' records in SQL (PostgreSQL), so the store holds many more
citizens than the generator could write in the time (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import sys
import time

import django

FILLER_RESOURCES = 30


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--filler", type=int, default=0)
    parser.add_argument(
        "--filler-resources",
        type=int,
        default=FILLER_RESOURCES,
        help="resources copied per filler citizen (the template's first N)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "indblik.chart.bench.settings")
    django.setup()

    from importlib import import_module

    import orjson
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.db.models import Count
    from django.utils import timezone

    from indblik.access.models import Grant
    from indblik.access.testing import professional
    from indblik.identity.sessions import LAST_SEEN, LOGIN_AT
    from indblik.organisations.demo import ensure_demo_organisations
    from indblik.organisations.models import Organisation
    from indblik.records.models import Patient

    filler_seconds = 0.0
    if args.filler:
        started = time.monotonic()
        add_filler_citizens(args.filler, args.filler_resources)
        filler_seconds = time.monotonic() - started

    ensure_demo_organisations()
    organisation = Organisation.objects.get(cvr="64942212")
    user = professional(organisation, full_name="Bench Sygeplejerske")
    richest = (
        Patient.objects.filter(deleted=False, cpr__isnull=False)
        .annotate(n=Count("resources"))
        .order_by("-n")
        .first()
    )
    if richest is None:
        sys.exit("no patients in the store: generate some first")
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    now = time.time()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store[LOGIN_AT] = now
    store[LAST_SEEN] = now
    store.create()
    grant = Grant.objects.create(
        handle=secrets.token_urlsafe(24),
        user=user,
        session_key=store.session_key,
        organisation=organisation,
        patient_cpr=richest.cpr or "",
        patient_key=str(richest.pk),
        decision_reasons=["contextual:benchmark"],
        expires_at=timezone.now() + dt.timedelta(hours=2),
    )
    from indblik.records.models import Resource

    print(
        orjson.dumps(
            {
                "cookie": f"{settings.SESSION_COOKIE_NAME}={store.session_key}",
                "chart": f"/chart/{grant.handle}/",
                "patients": Patient.objects.count(),
                "resources": Resource.objects.count(),
                "richest_resources": richest.n,
                "filler_seconds": round(filler_seconds, 1),
            }
        ).decode()
    )


def add_filler_citizens(count: int, per_citizen: int = 30) -> None:
    """Add ``count`` citizens to a PostgreSQL store, each a copy of part of a generated record.

    Copies rows in SQL (the ingestion path would take hours for 100,000 full records): new
    Patient rows with fresh CPR-shaped numbers and ids, and for each a copy of the first
    ``per_citizen`` resources of one generated citizen (round robin), with the derived columns
    (section, date…) as they are. The measured citizen is a generated one with its whole record.
    """
    from django.db import connection, transaction

    if connection.vendor != "postgresql":
        raise SystemExit("--filler needs PostgreSQL")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT id FROM records_patient WHERE cpr IS NOT NULL ORDER BY id")
        templates = [row[0] for row in cursor.fetchall()]
        if not templates:
            raise SystemExit("no generated citizens to copy")
        cursor.execute("CREATE TEMP TABLE filler_map (n bigint, template bigint, new_id bigint)")
        cursor.execute(
            """
            INSERT INTO filler_map (n, template)
            SELECT n, (%s::bigint[])[1 + (n %% %s)] FROM generate_series(1, %s) AS n
            """,
            [templates, len(templates), count],
        )
        # New patients: the template's columns, a new FHIR id and a CPR number from 9xxxxxxxxx
        # (not a valid date: can never collide with a generated one).
        cursor.execute(
            """
            WITH inserted AS (
              INSERT INTO records_patient (fhir_id, cpr, family, given, birth_date, gender,
                municipality_code, address, gp_identifier, deceased, deceased_at, version,
                last_updated, deleted, digest, body, source)
              SELECT 'filler-' || m.n, '9' || lpad(m.n::text, 9, '0'), p.family, p.given,
                p.birth_date, p.gender, p.municipality_code, p.address, p.gp_identifier,
                p.deceased, p.deceased_at, p.version, p.last_updated, p.deleted, p.digest,
                p.body, 'bench-filler'
              FROM filler_map m JOIN records_patient p ON p.id = m.template
              ORDER BY m.n
              RETURNING id, fhir_id
            )
            UPDATE filler_map m SET new_id = inserted.id
            FROM inserted WHERE inserted.fhir_id = 'filler-' || m.n
            """
        )
        cursor.execute(
            """
            INSERT INTO records_resource (resource_type, fhir_id, patient_id, section, category,
              code, status, date, restricted, security, version, last_updated, deleted, digest,
              body, source)
            SELECT r.resource_type, 'f' || m.n || '-' || r.id, m.new_id, r.section, r.category,
              r.code, r.status, r.date, r.restricted, r.security, r.version, r.last_updated,
              r.deleted, r.digest, r.body, 'bench-filler'
            FROM filler_map m JOIN (
              SELECT *, ROW_NUMBER() OVER (PARTITION BY patient_id ORDER BY id) AS nth
              FROM records_resource WHERE patient_id IS NOT NULL
            ) r ON r.patient_id = m.template AND r.nth <= %s
            """,
            [per_citizen],
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE records_patient")
        cursor.execute("ANALYZE records_resource")


if __name__ == "__main__":
    main()
