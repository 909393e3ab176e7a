"""A page for the middleware tests: says who is asking, so a test sees what got through."""

from django.http import HttpRequest, HttpResponse
from django.urls import path


def whoami(request: HttpRequest) -> HttpResponse:
    org = getattr(request, "indblik_organisation", None)
    return HttpResponse(
        f"user={request.user.get_username() or '-'} org={org.cvr if org else '-'}",
        content_type="text/plain",
    )


urlpatterns = [path("whoami", whoami), path("saml2/logout/", whoami)]
