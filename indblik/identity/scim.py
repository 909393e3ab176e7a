"""SCIM 2.0 deprovisioning: an organisation's identity system deactivates or deletes its users.

``/scim/v2/Users`` (RFC 7643/7644, wire format by scim2-models). Users are created at their
first sign-in, never through SCIM; what an organisation can do here is find its users, switch
``active`` off (or on again after its own deactivation), and delete them. Each request carries
a bearer credential issued to one organisation (``indblik scim issue CVR``, stored hashed) and
sees only the users whose ``organisation_cvr`` is that organisation's: another organisation's
user is a 404, exactly like a user that does not exist.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from typing import Any

import orjson
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_exempt
from pydantic import ValidationError
from scim2_models import Context, Email, Error, ListResponse, Meta, PatchOp
from scim2_models import User as ScimUser

from indblik import audit
from indblik.audit.net import client_certificate_allows
from indblik.identity import users
from indblik.identity.models import ScimCredential, User, UserKind

logger = logging.getLogger("indblik.identity.scim")

CONTENT_TYPE = "application/scim+json"
MAX_BODY_BYTES = 64 * 1024
MAX_PAGE = 100
# When INDBLIK_CLIENT_CERT_SUBJECTS names the organisation's SCIM client (mutual TLS at nginx).
CERTIFICATE_MISMATCH = "The client certificate is not the one registered for this organisation."
_FILTER = re.compile(r'^\s*(userName|externalId)\s+eq\s+"([^"\\]{1,255})"\s*$', re.IGNORECASE)


def issue_credential(organisation_cvr: str, name: str) -> str:
    """Create a credential for ``organisation_cvr``; return the token (shown this once).

    A name is never reused within an organisation, even after revocation (IntegrityError).
    """
    token = secrets.token_urlsafe(32)
    with transaction.atomic():  # a taken name fails alone, not the caller's transaction
        ScimCredential.objects.create(
            organisation_cvr=organisation_cvr, name=name, token_hash=_hash(token)
        )
    return token


def revoke_credential(organisation_cvr: str, name: str) -> bool:
    """Revoke the named credential; return False if there was no active one."""
    return bool(
        ScimCredential.objects.filter(
            organisation_cvr=organisation_cvr, name=name, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
    )


def _hash(token: str) -> str:
    # The token carries 256 random bits: a fast hash is enough, no password hashing needed.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _credential(request: HttpRequest) -> ScimCredential | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return ScimCredential.objects.filter(
        token_hash=_hash(token.strip()), revoked_at__isnull=True
    ).first()


def _response(payload: dict[str, Any] | None, status: int = 200) -> HttpResponse:
    body = orjson.dumps(payload) if payload is not None else b""
    response = HttpResponse(body, status=status, content_type=CONTENT_TYPE)
    add_never_cache_headers(response)
    return response


def _error(status: int, detail: str, scim_type: str | None = None) -> HttpResponse:
    error = Error(status=status, detail=detail, scim_type=scim_type)
    response = _response(error.model_dump(), status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="indblik-scim"'
    return response


def _users(credential: ScimCredential) -> QuerySet[User]:
    """The only users this credential may ever see: its organisation's professionals."""
    return User.objects.filter(
        organisation_cvr=credential.organisation_cvr,
        kind=UserKind.PROFESSIONAL,
        persistent_id__isnull=False,
    )


def _resource(request: HttpRequest, user: User) -> dict[str, Any]:
    location = request.build_absolute_uri(f"/scim/v2/Users/{user.pk}")
    resource: Any = ScimUser(
        id=str(user.pk),
        external_id=user.persistent_id,
        user_name=user.persistent_id,
        display_name=user.get_full_name() or None,
        active=user.is_active,
        emails=[Email(value=user.email, primary=True)] if user.email else None,
        meta=Meta(
            resource_type="User",
            created=user.date_joined,
            last_modified=user.last_saml_login or user.date_joined,
            location=location,
        ),
    )
    result: dict[str, Any] = resource.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    return result


def _actor(credential: ScimCredential) -> audit.Actor:
    return audit.Actor(
        name=f"SCIM {credential.name}"[:200], organisation_cvr=credential.organisation_cvr
    )


@csrf_exempt
def users_endpoint(request: HttpRequest) -> HttpResponse:
    """``/scim/v2/Users``: GET lists (``filter=userName eq "…"`` or ``externalId eq "…"``)."""
    credential = _credential(request)
    if credential is None:
        return _error(401, "A valid bearer credential is required.")
    if not client_certificate_allows(request, f"scim:{credential.organisation_cvr}"):
        return _error(403, CERTIFICATE_MISMATCH)
    if request.method == "POST":
        return _error(501, "Users are created at their first sign-in, not through SCIM.")
    if request.method != "GET":
        return _error(405, "Method not allowed.")
    queryset = _users(credential).order_by("pk")
    raw_filter = request.GET.get("filter")
    if raw_filter is not None:
        match = _FILTER.match(raw_filter)
        if match is None:
            return _error(
                400, 'Only userName eq "…" and externalId eq "…" are supported.', "invalidFilter"
            )
        queryset = queryset.filter(persistent_id=match.group(2))
    try:
        start = max(1, int(request.GET.get("startIndex", "1")))
        count = min(MAX_PAGE, max(0, int(request.GET.get("count", str(MAX_PAGE)))))
    except ValueError:
        return _error(400, "startIndex and count must be numbers.", "invalidValue")
    total = queryset.count()
    page = list(queryset[start - 1 : start - 1 + count])
    listing = ListResponse[ScimUser](
        total_results=total,
        start_index=start,
        items_per_page=len(page),
        resources=[ScimUser.model_validate(_resource(request, user)) for user in page] or None,
    )
    return _response(listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE))


@csrf_exempt
def user_endpoint(request: HttpRequest, user_id: str) -> HttpResponse:
    """``/scim/v2/Users/<id>``: GET, PATCH (``active`` only), DELETE."""
    credential = _credential(request)
    if credential is None:
        return _error(401, "A valid bearer credential is required.")
    if not client_certificate_allows(request, f"scim:{credential.organisation_cvr}"):
        return _error(403, CERTIFICATE_MISMATCH)
    valid_id = user_id.isascii() and user_id.isdigit() and len(user_id) <= 18  # fits a BIGINT
    user = _users(credential).filter(pk=int(user_id)).first() if valid_id else None
    if user is None:
        # Another organisation's user looks exactly like no user at all.
        return _error(404, "No such user.")
    if request.method == "GET":
        return _response(_resource(request, user))
    if request.method == "PATCH":
        return _patch(request, credential, user)
    if request.method == "DELETE":
        _delete(request, credential, user)
        return _response(None, 204)
    if request.method == "PUT":
        return _error(501, "Replace is not supported; PATCH active instead.")
    return _error(405, "Method not allowed.")


def _patch(request: HttpRequest, credential: ScimCredential, user: User) -> HttpResponse:
    if len(request.body) > MAX_BODY_BYTES:
        return _error(413, "The request is too large.")
    try:
        patch = PatchOp[ScimUser].model_validate(
            orjson.loads(request.body), scim_ctx=Context.RESOURCE_PATCH_REQUEST
        )
    except (orjson.JSONDecodeError, ValidationError, ValueError):
        return _error(400, "Not a SCIM PatchOp.", "invalidSyntax")
    wanted = None
    for operation in patch.operations or []:
        value = operation.value
        path = (operation.path or "").strip()
        if operation.op.value not in ("replace", "add"):
            return _error(400, "Only replace of active is supported.", "mutability")
        this = None  # each operation on its own: one of another attribute refuses the request
        if path.lower() == "active" and isinstance(value, bool):
            this = value
        elif not path and isinstance(value, dict) and set(value) == {"active"}:
            this = value["active"] if isinstance(value["active"], bool) else None
        if this is None:
            return _error(400, "Only active can be changed.", "mutability")
        wanted = this
    if wanted is None:
        return _error(400, "No operation.", "invalidSyntax")
    if wanted is False and user.is_active:
        users.deactivate(user, reason="scim", request=request, actor=_actor(credential))
    elif wanted is True and not user.is_active and user.deactivation_reason == "scim":
        # The organisation may undo its own deactivation; not one made for another reason.
        User.objects.filter(pk=user.pk).update(
            is_active=True, deactivated_at=None, deactivation_reason=""
        )
    user.refresh_from_db()
    return _response(_resource(request, user))


def _delete(request: HttpRequest, credential: ScimCredential, user: User) -> None:
    users.delete(user, reason="scim", request=request, actor=_actor(credential))
