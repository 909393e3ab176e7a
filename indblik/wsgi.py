"""WSGI entry point for gunicorn (``indblik serve``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "indblik.settings")
application = get_wsgi_application()
