"""Database triggers that make the audit tables append-only for anyone who bypasses the ORM.

PostgreSQL: a row-level BEFORE UPDATE OR DELETE trigger raises, and a statement-level BEFORE
TRUNCATE trigger raises unless the table is already empty (truncating nothing loses nothing,
and it lets the test runner's flush of other apps' tables go through).
SQLite: BEFORE UPDATE and BEFORE DELETE triggers abort (SQLite has no TRUNCATE).

Both raise an integrity error ("audit log is append-only"). A database owner can still disable
or drop the triggers; that is what the signed checkpoints and `indblik audit verify` are for.

Caution for later migrations on SQLite: altering these tables rebuilds them (create, copy,
drop, rename), which drops the triggers. Such a migration must re-create them; the test
`test_append_only` fails if it does not.
"""

from django.db import migrations

TABLES = ("audit_auditevent", "audit_auditcheckpoint")

POSTGRESQL_FORWARDS = [
    """
    CREATE OR REPLACE FUNCTION indblik_audit_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION indblik_audit_refuse_truncate() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        has_rows boolean;
    BEGIN
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I)', TG_TABLE_SCHEMA, TG_TABLE_NAME)
            INTO has_rows;
        IF has_rows THEN
            RAISE EXCEPTION 'audit log is append-only: TRUNCATE on % refused', TG_TABLE_NAME
                USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN NULL;
    END
    $$
    """,
]
for _table in TABLES:
    POSTGRESQL_FORWARDS += [
        f"""
        CREATE TRIGGER {_table}_append_only
        BEFORE UPDATE OR DELETE ON {_table}
        FOR EACH ROW EXECUTE FUNCTION indblik_audit_refuse_change()
        """,
        f"""
        CREATE TRIGGER {_table}_no_truncate
        BEFORE TRUNCATE ON {_table}
        FOR EACH STATEMENT EXECUTE FUNCTION indblik_audit_refuse_truncate()
        """,
    ]
POSTGRESQL_BACKWARDS = [
    *(f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}" for t in TABLES),
    *(f"DROP TRIGGER IF EXISTS {t}_no_truncate ON {t}" for t in TABLES),
    "DROP FUNCTION IF EXISTS indblik_audit_refuse_change()",
    "DROP FUNCTION IF EXISTS indblik_audit_refuse_truncate()",
]

SQLITE_FORWARDS = [
    f"""
    CREATE TRIGGER {table}_no_{verb}
    BEFORE {verb.upper()} ON {table}
    BEGIN
        SELECT RAISE(ABORT, 'audit log is append-only');
    END
    """
    for table in TABLES
    for verb in ("update", "delete")
]
SQLITE_BACKWARDS = [
    f"DROP TRIGGER IF EXISTS {table}_no_{verb}" for table in TABLES for verb in ("update", "delete")
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor)
        if statements is None:
            raise RuntimeError(
                f"audit triggers: unsupported database {schema_editor.connection.vendor!r}"
            )
        for statement in statements:
            # params=None: the SQL holds literal % signs (plpgsql RAISE, format()).
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRESQL_FORWARDS, "sqlite": SQLITE_FORWARDS}),
            _run({"postgresql": POSTGRESQL_BACKWARDS, "sqlite": SQLITE_BACKWARDS}),
            elidable=False,
        ),
    ]
