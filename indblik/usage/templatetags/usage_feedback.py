"""``{% feedback_prompt %}``: the chart's one-question feedback prompt, when it is due."""

from __future__ import annotations

from typing import Any

from django import template

from indblik.usage import feedback
from indblik.usage.models import COMMENT_MAX_LENGTH, SCORES

register = template.Library()


@register.inclusion_tag("usage/_feedback_prompt.html", takes_context=True)
def feedback_prompt(context: Any) -> dict[str, Any]:
    """Return what the prompt needs: whether to ask (one query a day), or to say thank you."""
    request = context.get("request")
    if request is None:
        return {"show": False}
    thanks = (
        bool(request.session.pop(feedback.THANKS_SESSION_KEY, False))
        if hasattr(request, "session")
        else False
    )
    return {
        "show": not thanks and feedback.is_due_for(request),
        "thanks": thanks,
        "next": request.get_full_path(),
        "scores": SCORES,
        "comment_max": COMMENT_MAX_LENGTH,
        "csrf_token": context.get("csrf_token"),
    }
