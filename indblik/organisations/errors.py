"""What the registry raises when it refuses a change.

Every error is a Django ``ValidationError`` so an admin form can show it beside the field,
and carries a message an administrator can act on; the command prints it and exits non-zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


class RegistryError(ValidationError):
    """A change to the organisation registry was refused; nothing was written."""


class UnknownOrganisation(RegistryError):
    """No organisation has this CVR number."""

    def __init__(self, cvr: str) -> None:
        super().__init__(
            _("No organisation with CVR number %(cvr)s is registered."),
            code="unknown_organisation",
            params={"cvr": cvr[:20]},
        )
        self.cvr = cvr


class InvalidKey(RegistryError):
    """A care-system key (or key set) was refused."""


class TransitionRefused(RegistryError):
    """The status change is not allowed from the organisation's current status."""


class GoLiveRefused(TransitionRefused):
    """The organisation cannot go live (or resume) yet: steps are open or setup is missing."""

    def __init__(self, *, open_steps: Sequence[str], missing: Sequence[str] = ()) -> None:
        parts: list[Any] = []
        if open_steps:
            parts.append(
                ValidationError(
                    _("Go-live refused: these onboarding steps are still open: %(steps)s."),
                    code="steps_open",
                    params={"steps": ", ".join(open_steps)},
                )
            )
        if missing:
            parts.append(
                ValidationError(
                    _("Also missing: %(missing)s.")
                    if open_steps
                    else _("Go-live refused: still missing: %(missing)s."),
                    code="setup_missing",
                    params={"missing": ", ".join(missing)},
                )
            )
        super().__init__(parts)
        self.open_steps = list(open_steps)
        self.missing = list(missing)
