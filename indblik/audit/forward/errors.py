"""Errors of the forwarder."""

from __future__ import annotations


class DeliveryError(Exception):
    """A receiver did not (provably) accept a batch: the cursor stays, the batch is resent.

    The message names the failure (connection refused, HTTP 503, certificate not trusted) and
    never an event's content: it is logged and stored on the cursor.
    """
