"""Identity: single sign-on through the federation broker (SAML 2.0, OIOSAML 3), users,
sessions, and the demo identity provider.

Public API for the other apps:

- ``indblik.identity.models.User`` (``AUTH_USER_MODEL``): ``persistent_id``, ``kind``,
  ``organisation_cvr``/``organisation_name``, ``roles``, ``access_role``, ``holds(role)``,
  ``authorisation_id``, ``delegated``, ``loa``, ``cpr`` (citizens only).
- ``indblik.identity.users.deactivate(user, reason=...)`` ends all of a user's sessions.
- ``indblik.identity.audit_actor.actor_for_request`` (setting ``INDBLIK_AUDIT_ACTOR_RESOLVER``).
- ``indblik.identity.saml.sp_metadata_xml()`` / ``keys.fingerprint(...)`` for ``keys show``.
- ``indblik.identity.authorisations.lookup(authorisation_id)``: the imported register.
- URLs under ``/saml2/`` (namespace ``identity``): ``login``, ``acs``, ``logout``, ``ls``,
  ``metadata``, ``session``, ``logged-out``, ``session-expired``; ``/scim/v2/`` (``scim``).
- State that must survive the trip to the broker goes in ``request.saml_session`` (its cookie
  is sent on the broker's cross-site POST; the main session's SameSite=Lax cookie is not).
"""
