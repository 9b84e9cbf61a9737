"""Who a person signed in through OpenID Connect is in the portal.

The person is found by a keyed hash of their identifier (portal.lib.identity.identity_hash with
IDENTITY_HASH_KEY): with HelseID the national identity number (`helseid://claims/identity/pid`), so
that the registry can give a person access before their first sign-in (`manage.py link_identity`),
and the provider's `sub` for providers without it. The number itself is never stored or logged.

A person seen for the first time gets a user without memberships or roles (OIDC_CREATE_USERS): they
see a page that tells them to ask the registry for access, and the registry adds their memberships.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.lib.identity import identity_hash
from portal.models import ExternalIdentity, User
from portal.oidc import OidcError


class ExternalIdentityBackend(ModelBackend):
    """Keeps users signed in through OpenID Connect signed in (and their permissions). It never
    authenticates a password: sign-in happens in portal.views_auth.oidc_callback."""

    def authenticate(self, request: Any, **credentials: Any) -> None:
        return None


def subject_hash(claim: str, value: str) -> str:
    """The stored form of a person's identifier: an HMAC, bound to the claim it came from."""
    return identity_hash(f"{claim}|{value.strip()}", key=settings.IDENTITY_HASH_KEY.encode())


def person_identifier(claims: dict[str, Any]) -> tuple[str, str]:
    """(claim, value) of the first configured identifier claim the ID token carries."""
    for claim in settings.OIDC_IDENTITY_CLAIMS:
        value = claims.get(claim)
        if isinstance(value, str) and value.strip():
            return claim, value
    raise OidcError("identity", "the ID token has none of the identifier claims in OIDC_IDENTITY_CLAIMS")


def check_security_level(claims: dict[str, Any]) -> None:
    required = settings.OIDC_REQUIRED_SECURITY_LEVEL
    if not required:
        return
    try:
        level = int(claims.get(settings.OIDC_SECURITY_LEVEL_CLAIM, 0))
    except (TypeError, ValueError):
        level = 0
    if level < required:
        raise OidcError("security_level", f"security level {level}, {required} required")


def user_for_claims(claims: dict[str, Any], *, issuer: str) -> User:
    """The portal user of the person in the ID token; created without access if new."""
    check_security_level(claims)
    claim, value = person_identifier(claims)
    hashed = subject_hash(claim, value)
    names = {
        "first_name": str(claims.get("given_name", ""))[:150],
        "last_name": str(claims.get("family_name", ""))[:150],
    }
    for _attempt in range(2):
        identity = ExternalIdentity.objects.select_related("user").filter(issuer=issuer, subject_hash=hashed).first()
        if identity is not None:
            break
        if not settings.OIDC_CREATE_USERS:
            raise OidcError("unknown_person", "no portal user for this person and OIDC_CREATE_USERS is off")
        try:
            with transaction.atomic():
                user = User(username=f"helseid-{hashed[:20]}", **names)
                user.set_unusable_password()
                user.save()
                identity = ExternalIdentity.objects.create(user=user, issuer=issuer, subject_hash=hashed)
            break
        except IntegrityError:
            continue  # the same person signed in twice at once: the other request made the user
    else:
        raise OidcError("identity", "could not create the user")
    user = identity.user
    changed = [name for name, new in names.items() if new and getattr(user, name) != new]
    for name in changed:
        setattr(user, name, names[name])
    if changed:
        user.save(update_fields=changed)
    ExternalIdentity.objects.filter(pk=identity.pk).update(last_sign_in_at=timezone.now())
    if not user.is_active:
        raise OidcError("inactive", "the user is deactivated")
    return user


def link_identity(*, user: User, issuer: str, claim: str, value: str) -> ExternalIdentity:
    """Give a person (by identifier, e.g. national identity number) an existing portal user."""
    identity, _created = ExternalIdentity.objects.update_or_create(
        issuer=issuer, subject_hash=subject_hash(claim, value), defaults={"user": user}
    )
    return identity
