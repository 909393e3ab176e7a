"""The product's settings, plus the floor page's URL (benchmarks only; never in production)."""

from indblik.settings import *  # noqa: F403

ROOT_URLCONF = "indblik.chart.bench.urls"
