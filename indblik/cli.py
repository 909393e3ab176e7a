"""The ``indblik`` command: Django's management commands under the product's own name."""

from __future__ import annotations

import os
import sys

# Command names with a hyphen (a module name cannot have one): documented name → module.
ALIASES = {"launch-token": "launch_token"}


def main(argv: list[str] | None = None) -> None:
    """Run ``indblik <command> …`` (the same as ``python -m indblik``)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "indblik.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    args = ["indblik", *(sys.argv[1:] if argv is None else argv)]
    # The command's name, or the name after `help`.
    position = 2 if len(args) > 2 and args[1] == "help" else 1
    if len(args) > position:
        args[position] = ALIASES.get(args[position], args[position])
    try:
        execute_from_command_line(args)
    except ImproperlyConfigured as exc:
        # A configuration error is the operator's to fix: say what, without a traceback.
        sys.stderr.write(f"indblik: configuration error: {exc}\n")
        sys.exit(2)
