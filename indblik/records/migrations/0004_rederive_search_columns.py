"""Re-derive the stored search columns that read the wrong element before this release.

Until now ingestion stored

- an AllergyIntolerance's ``category`` as if its categories were CodeableConcepts; they are
  plain codes (``["food"]``), so the column stayed empty and ``category=food`` never matched;
- a Goal's ``status`` from ``status``, an element Goal does not have (its status is
  ``lifecycleStatus``), so the column stayed empty and ``lifecycle-status=…`` never matched;
- a DocumentReference's ``status`` from ``docStatus`` (preliminary | final | amended) instead of
  ``status`` (current | superseded | entered-in-error), which is what FHIR R4's
  DocumentReference-status parameter searches.

This recomputes those columns from the stored JSON, for the rows of those three types only
(deleted ones too), walking the table in ranges of primary keys and writing only the rows whose
value changes. The derivation is written out here as ``indblik.records.fhir.first_category`` and
``fhir.status`` have it at this release, so that later changes there cannot change what this
migration does.

The migration is not atomic: each batch commits on its own, so a large store is never one long
transaction, and a run that stops half-way is simply run again (it is idempotent). A resource of
these types that the previous version's code ingests between ``migrate`` and the reload of the
app servers is stored the old way; docs/operations.md (Upgrades) says how to re-run this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from django.db import migrations
from django.db.models import Max, Min

BATCH = 2000  # primary keys per range
ALLERGY_CATEGORY = "http://hl7.org/fhir/allergy-intolerance-category"


def _clip(value: Any, length: int) -> str:
    # As indblik.records.ingest.derive.clip: no NUL (PostgreSQL refuses it), at most ``length``.
    return value.replace("\x00", "")[:length] if isinstance(value, str) else ""


def _allergy_category(resource: dict[str, Any]) -> str:
    categories = resource.get("category")
    for code in categories if isinstance(categories, list) else ():
        if isinstance(code, str) and code:
            return _clip(f"{ALLERGY_CATEGORY}|{code}", 200)
    return ""


def _code_of(element: str) -> Callable[[dict[str, Any]], str]:
    def derive(resource: dict[str, Any]) -> str:
        return _clip(resource.get(element), 32)

    return derive


# resource type -> (the column, how it is derived from the resource)
DERIVATIONS: dict[str, tuple[str, Callable[[dict[str, Any]], str]]] = {
    "AllergyIntolerance": ("category", _allergy_category),
    "Goal": ("status", _code_of("lifecycleStatus")),
    "DocumentReference": ("status", _code_of("status")),
}


def rederive_columns(resource_model: Any, using: str = "default", batch: int = BATCH) -> int:
    """Recompute the columns of :data:`DERIVATIONS`; return the number of rows changed."""
    rows = resource_model.objects.using(using)
    bounds = rows.aggregate(low=Min("pk"), high=Max("pk"))
    if bounds["low"] is None:
        return 0
    changed_count = 0
    for start in range(bounds["low"], bounds["high"] + 1, batch):
        found = rows.filter(
            pk__gte=start, pk__lt=start + batch, resource_type__in=list(DERIVATIONS)
        ).values_list("pk", "resource_type", "body", "category", "status")
        changed: dict[str, list[Any]] = {}
        for pk, rtype, body, category, status in found:
            column, derive = DERIVATIONS[rtype]
            try:
                resource = orjson.loads(body)
            except orjson.JSONDecodeError:
                continue  # never stored by ingestion; left as it is
            if not isinstance(resource, dict):
                continue
            value = derive(resource)
            if value != (category if column == "category" else status):
                changed.setdefault(column, []).append(resource_model(pk=pk, **{column: value}))
        for column, objects in changed.items():
            rows.bulk_update(objects, [column])
            changed_count += len(objects)
    return changed_count


def forwards(apps: Any, schema_editor: Any) -> None:
    rederive_columns(apps.get_model("records", "Resource"), schema_editor.connection.alias)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("records", "0003_feed_keys_and_read_api"),
    ]

    operations = [
        # Backwards: nothing to undo (the previous release reads these columns only in the
        # FHIR API's searches it got wrong, and in the admin's list); migrating back to 0003
        # and forward again re-runs this.
        migrations.RunPython(forwards, migrations.RunPython.noop, elidable=True),
    ]
