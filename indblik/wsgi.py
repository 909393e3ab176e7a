"""WSGI entry point for gunicorn (``indblik serve``)."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "indblik.settings")
application = get_wsgi_application()

# What is loaded by now (Django, the apps, their modules: most of the heap) lives as long as
# the worker. Keep it out of the garbage collector's passes, which would otherwise walk all of
# it again and again while a chart page decodes its FHIR resources (docs/benchmarks.md,
# "Chart pages under load": about 1 ms of a snapshot's 10).
gc.freeze()
