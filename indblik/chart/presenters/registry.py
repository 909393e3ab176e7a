"""Which presenter serves which chart page, and the contract between views and section templates.

Every page in :data:`indblik.records.sections.PAGES` has a module
``indblik.chart.presenters.<section value with '-' → '_'>`` (``results-review`` →
``results_review``), found here by name.

The module
----------
``queries(filters: Filters) -> list[SectionQuery]``
    What to read. Every query has a limit: a page costs the same for a small and a huge record.
    Use ``before=filters.before`` (and ``since``/``until``) on the page's own section to get
    keyset paging; see :func:`common.keyset_page`.
``present(page: PageInput) -> dict[str, Any]``
    The template context of the section (small dataclasses and strings; never raw FHIR).
``FILTERS: tuple[str, ...]`` (optional)
    Which filter fields the page layout offers above the section, any of ``"dates"`` (from/to),
    ``"department"``, ``"kind"`` (type) and ``"text"``. Default: none. The view parses them into
    :class:`~indblik.chart.presenters.Filters`; the presenter applies ``department``, ``kind``
    and ``text`` itself (``since``/``until``/``before`` go into its queries).

Keys of the dict ``present`` returns that the page layout reads (all optional):
``resource_ids``
    ``["Type/id", …]`` of what the page shows; it goes into the audit event. Without it, the
    view logs every visible resource it read for the page.
``next_before``
    A ``datetime`` cursor: the layout then shows an "Older" link that repeats the filters with
    ``before=<cursor>`` (from :func:`common.keyset_page`).
``empty``
    True when there is nothing to show; the layout then adds nothing, the template says so.

The section template ``chart/sections/<section value>.html``
-------------------------------------------------------------
It is included inside the chart layout (banner, navigation, the page's ``<h1>`` with the
section title, filter form, "Older" link, print link) and in the print view. It starts at
heading level ``<h2>``. Its context is every key ``present`` returned, plus these reserved
names (``present`` must not use them; they win over its keys):

=================  ============================================================================
``section``        the :class:`~indblik.records.sections.Section` shown
``section_title``  its translated title (the layout already shows it as ``<h1>``)
``handle``         the grant handle, for links: ``{% url 'chart:section' handle 'notes' %}``,
                   ``{% url 'chart:snapshot' handle %}``, and for documents
                   ``{% url 'chart:document' handle link.resource_id %}?{{ link.query }}``
                   (``link`` a :class:`common.DocumentLink`)
``grant``          the :class:`~indblik.access.grants.ActiveGrant` (``grant.patient`` …)
``patient``        the :class:`~indblik.records.source.PatientRecord`
``filters``        the :class:`~indblik.chart.presenters.Filters` in force
``print_view``     True in the print view: no links that lead on, everything expanded
``now``            the request time (aware, UTC)
=================  ============================================================================

Templates escape everything (never ``|safe`` on record text); long text keeps its line breaks
with the ``long-text`` CSS class (``white-space: pre-wrap``). Status badges:
``<span class="status status-{{ row.tone }}">{{ row.status }}</span>`` (``common.status_tone``).
Empty sections say so plainly: ``<p class="empty">…</p>``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any, cast

from indblik.chart.presenters import Filters, PageInput
from indblik.records.sections import PAGES, Section
from indblik.records.source import SectionQuery

RESERVED = frozenset(
    {"section", "section_title", "handle", "grant", "patient", "filters", "print_view", "now"}
)
FILTER_FIELDS = frozenset({"dates", "department", "kind", "text"})


def module_name(section: Section) -> str:
    """``indblik.chart.presenters.results_review`` for ``Section.RESULTS_REVIEW``."""
    return f"{__package__}.{section.value.replace('-', '_')}"


@dataclass(frozen=True)
class Presenter:
    """The presenter module of one chart page."""

    section: Section
    module: ModuleType

    @property
    def template(self) -> str:
        return f"chart/sections/{self.section.value}.html"

    @property
    def filters(self) -> frozenset[str]:
        declared = getattr(self.module, "FILTERS", ())
        return frozenset(declared) & FILTER_FIELDS

    def queries(self, filters: Filters) -> list[SectionQuery]:
        function = cast(Callable[[Filters], list[SectionQuery]], self.module.queries)
        return list(function(filters))

    def present(self, page: PageInput) -> dict[str, Any]:
        function = cast(Callable[[PageInput], dict[str, Any]], self.module.present)
        return dict(function(page))


@cache
def presenter(section: Section) -> Presenter:
    """Return the presenter of a chart page (KeyError for a section that is not a page)."""
    if section not in PAGES:
        raise KeyError(section)
    return Presenter(section, importlib.import_module(module_name(section)))


def all_presenters() -> list[Presenter]:
    """Every page's presenter, in navigation order (imports them all: a start-up check)."""
    return [presenter(section) for section in PAGES]
