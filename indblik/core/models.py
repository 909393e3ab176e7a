"""Project-wide state that belongs to no single app: the shared rate-limit counters."""

from __future__ import annotations

from django.db import models


class RateCounter(models.Model):
    """Requests of one client address to one rate-limited group of URLs in one time window.

    Kept in the database so that every app server counts together (no state in process
    memory); rows of past windows are deleted as new windows start (indblik.core.ratelimit).
    """

    bucket = models.CharField(max_length=20)
    client = models.CharField(max_length=45)
    window_start = models.BigIntegerField(help_text="seconds since the epoch")
    hits = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["bucket", "client", "window_start"], name="core_ratecounter_unique"
            )
        ]
        indexes = [models.Index(fields=["window_start"], name="core_ratecounter_window")]

    def __str__(self) -> str:
        return f"{self.bucket} {self.client} @{self.window_start}: {self.hits}"
