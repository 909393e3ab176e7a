"""The citizen's own log ("Min log") and the organisation's log follow-up (docs/followup.md)."""
