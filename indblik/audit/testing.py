"""Test support only: act like an attacker who owns the database, and clean up after tests.

Nothing in the product imports this module. It is also a pytest plugin: with
``pytest_plugins = ["indblik.audit.testing"]`` in the root conftest, every transactional test
(``django_db(transaction=True)``, ``transactional_db``, ``live_server``) empties the audit tables
before Django flushes the database - which the append-only triggers would otherwise refuse.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import DEFAULT_DB_ALIAS, connections

from indblik.audit.integrity import TABLES


@contextmanager
def append_only_triggers_disabled(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Switch the append-only triggers off for the block, as a database owner could.

    PostgreSQL: ``ALTER TABLE … DISABLE TRIGGER USER``; SQLite: drop the triggers and re-create
    them from their stored SQL afterwards. Tests of ``verify`` tamper inside this block.
    """
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in TABLES:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            saved: list[tuple[str, str]] = []
        else:
            cursor.execute(
                "SELECT name, sql FROM sqlite_master "
                "WHERE type = 'trigger' AND tbl_name IN (%s, %s)",
                list(TABLES),
            )
            saved = list(cursor.fetchall())
            for name, _sql in saved:
                cursor.execute(f'DROP TRIGGER "{name}"')
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                for table in TABLES:
                    cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
            for _name, sql in saved:
                cursor.execute(sql, None)


def purge_audit_log(using: str = DEFAULT_DB_ALIAS) -> None:
    """Delete every audit row and checkpoint (a transactional test's teardown, never the product).

    Django flushes the database after a transactional test; the triggers refuse that for
    non-empty audit tables. :func:`pytest_runtest_teardown` calls this first.
    """
    with append_only_triggers_disabled(using), connections[using].cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - our two table names


def _is_transactional(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("django_db")
    if marker is not None and (marker.kwargs.get("transaction") or marker.args[:1] == (True,)):
        return True
    names = getattr(item, "fixturenames", ())
    return "transactional_db" in names or "live_server" in names


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Empty the audit tables after a transactional test, before its fixtures flush the rest."""
    # No fixtures set up (the test was skipped): there is no database to clean, nor access to it.
    if _is_transactional(item) and getattr(item, "funcargs", None):
        purge_audit_log()
