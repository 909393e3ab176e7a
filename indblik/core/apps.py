from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Project-wide commands (demo, serve, bench) that belong to no single app."""

    name = "indblik.core"
    label = "core"
