"""Benchmark of the assertion consumer service: how long the ACS takes for a valid response.

Only the ACS request is timed: the AuthnRequest (through the real login view) and the
IdP's signed, encrypted answer are prepared outside the clock. Each run is a complete sign-in
of an existing user (the common case): raw checks, xmlsec1 signature checks and decryption,
the acceptance rules, the replay cache insert, the user update, the audit row, the session.

Run it on a fresh database with ``python -m indblik.identity.bench --runs 50``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


def acs_time(n: int) -> dict[str, Any]:
    """Time ``n`` ACS requests with valid signed, encrypted responses; return ms statistics.

    Needs ``INDBLIK_MODE=test`` and a migrated (throw-away) database: it registers a demo
    organisation and signs the same person in ``n + 1`` times (the first, which builds the
    cached SAML configuration and creates the user, is reported apart as ``first_ms``).
    """
    import saml2
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import override_settings
    from django.utils import timezone

    from indblik.identity import keys, saml
    from indblik.identity.demo_idp import personas
    from indblik.identity.demo_idp import server as demo_server
    from indblik.organisations.models import NetworkRange, Organisation

    if settings.INDBLIK_MODE != "test":
        raise RuntimeError("acs_time runs only with INDBLIK_MODE=test (it writes demo rows)")
    if n < 1:
        raise ValueError("n must be at least 1")
    directory = Path(tempfile.mkdtemp(prefix="indblik-acs-bench-"))
    key, cert = directory / "idp-key.pem", directory / "idp-cert.pem"
    keys.ensure_key_pair(key, cert, common_name="bench broker")
    entity = "https://broker.bench.example/idp"
    idp_settings = demo_server.idp_settings(
        entity=entity, sso=f"{entity}/sso", slo=f"{entity}/slo", key_file=key, cert_file=cert
    )
    metadata = directory / "idp-metadata.xml"
    metadata.write_text(
        str(saml2.metadata.entity_descriptor(demo_server.load_config(idp_settings))),
        encoding="utf-8",
    )
    nurse = personas.persona("nurse-kk")
    assert nurse is not None
    organisation, _ = Organisation.objects.get_or_create(
        cvr=nurse.organisation[0],
        defaults={
            "name": nurse.organisation[1],
            "type": "municipality",
            "municipality_code": "0101",
            "role_uri": personas.DEMO_ROLE,
        },
    )
    Organisation.objects.filter(pk=organisation.pk).update(status="live")
    NetworkRange.objects.get_or_create(
        organisation=organisation, cidr="127.0.0.0/8", defaults={"added_at": timezone.now()}
    )
    with override_settings(
        INDBLIK_SAML_IDP_METADATA=[str(metadata)],
        INDBLIK_SAML_DEMO_IDP=False,
        INDBLIK_SAML_REQUIRE_ENCRYPTION=True,
    ):
        saml.reset_cache()
        idp = demo_server.IdentityProvider(
            config=demo_server.load_config(
                {**idp_settings, "metadata": {"inline": [saml.sp_metadata_xml()]}}
            )
        )
        timings: list[float] = []
        for _ in range(n + 1):
            client = Client()
            location = client.get("/saml2/login/")["Location"]
            query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
            request = idp.parse_authn_request(
                query["SAMLRequest"],
                saml2.BINDING_HTTP_REDIRECT,
                sigalg=query["SigAlg"],
                signature=query["Signature"],
            )
            answer = demo_server.issue(
                idp, request, name_id=nurse.name_id, attribute_values=nurse.attribute_values()
            )
            started = time.perf_counter()
            response = client.post("/saml2/acs/", {"SAMLResponse": answer.saml_response})
            timings.append((time.perf_counter() - started) * 1000)
            if response.status_code != 302:
                raise RuntimeError(f"the ACS refused a valid response ({response.status_code})")
        saml.reset_cache()
    first, runs = timings[0], sorted(timings[1:])
    return {
        "n": n,
        "database": connection.vendor,
        "first_ms": round(first, 1),
        "median_ms": round(statistics.median(runs), 1),
        "p95_ms": round(runs[max(0, round(0.95 * len(runs)) - 1)], 1),
        "min_ms": round(runs[0], 1),
        "max_ms": round(runs[-1], 1),
    }


def main(argv: list[str] | None = None) -> None:
    """Run :func:`acs_time` on a throw-away test database and print the result as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--runs", type=int, default=50)
    arguments = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "indblik.settings_test")
    import django

    django.setup()
    import orjson

    from indblik.core.bench import throwaway_database

    with throwaway_database():
        result = acs_time(arguments.runs)
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
