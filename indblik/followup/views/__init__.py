"""Views of Min log (:mod:`.citizen`) and of the organisation's log follow-up (:mod:`.reviewer`)."""
