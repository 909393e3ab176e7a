"""Every chart page has its presenter module and its section template."""

from __future__ import annotations

from django.template.loader import get_template

from indblik.chart.presenters import Filters, registry
from indblik.records.sections import PAGES, Section


def test_every_page_has_a_presenter_and_a_template() -> None:
    presenters = registry.all_presenters()
    assert [p.section for p in presenters] == list(PAGES)
    for presenter in presenters:
        assert presenter.module.__name__ == registry.module_name(presenter.section)
        get_template(presenter.template)
        assert presenter.filters <= registry.FILTER_FIELDS


def test_module_names_follow_the_section_values() -> None:
    assert registry.module_name(Section.RESULTS_REVIEW).endswith(".results_review")
    assert registry.module_name(Section.CARE_PLANS).endswith(".care_plans")


def test_every_query_of_every_page_is_bounded() -> None:
    for presenter in registry.all_presenters():
        for query in presenter.queries(Filters()):
            assert 0 < query.limit <= 200, (presenter.section, query)
