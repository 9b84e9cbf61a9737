"""Sign-in with HelseID, end to end against a real OpenID Connect provider on 127.0.0.1.

The test client plays the browser: it asks the portal to start, follows the redirect to the
provider over HTTP, and brings the provider's answer back. The portal talks to the provider's
discovery, JWKS, PAR and token endpoints over HTTP itself.
"""

from __future__ import annotations

import urllib.parse

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from portal.lib.identity import with_check_digits
from portal.models import AuditEvent, ExternalIdentity, User
from tests.conftest import PASSWORD
from tests.oidc_provider import CLIENT_ID, person

pytestmark = pytest.mark.django_db


def identity_number(first_nine: str) -> str:
    for last in range(1000):
        number = with_check_digits(f"{first_nine[:6]}{last:03d}")
        if number:
            return number
    raise ValueError(first_nine)


KARI = identity_number("150575")
OLA = identity_number("020288")


def start(client: Client, provider, **params) -> str:
    """Ask the portal to start a sign-in; the provider URL it sends the browser to."""
    response = client.get(reverse("portal:oidc_start"), params)
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(provider.issuer + "/connect/authorize?")
    return location


def back(client: Client, provider_redirect: str):
    """The browser arrives back at the portal with the provider's answer."""
    parts = urllib.parse.urlsplit(provider_redirect)
    assert parts.path == reverse("portal:oidc_callback")
    return client.get(parts.path, dict(urllib.parse.parse_qsl(parts.query)))


def sign_in(client: Client, provider, claims, **params):
    provider.person = claims
    return back(client, provider.visit(start(client, provider, **params)))


def last_event(kind: str) -> AuditEvent:
    return AuditEvent.objects.filter(kind=kind).order_by("-id").first()


# -- the happy path ---------------------------------------------------------------------------------


def test_first_sign_in_makes_a_user_without_access_who_sees_a_clear_page(helseid):
    client = Client()
    response = sign_in(client, helseid, person(KARI))
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")
    home = client.get(reverse("portal:home"))
    assert home.status_code == 200
    assert home.templates[0].name == "portal/no_access.html"
    content = home.content.decode()
    assert "Du har ikke tilgang ennå" in content
    user = User.objects.get(external_identities__issuer=helseid.issuer)
    assert user.username in content  # to quote to the registry
    assert (user.first_name, user.last_name) == ("Kari", "Nordmann")
    assert not user.has_usable_password()
    # Pushed authorization request (HelseID requires it), private_key_jwt at PAR and token endpoints.
    assert helseid.seen.par_requests == 1
    assert helseid.seen.client_auth_methods == ["private_key_jwt", "private_key_jwt"]
    event = last_event("sign_in")
    assert (event.user_id, event.details["method"]) == (user.pk, "oidc")


def test_the_national_identity_number_is_stored_only_as_a_keyed_hash(helseid):
    sign_in(Client(), helseid, person(KARI))
    identity = ExternalIdentity.objects.get()
    assert KARI not in identity.subject_hash
    assert len(identity.subject_hash) == 64
    with connection.cursor() as cursor:
        for table in ("portal_externalidentity", "portal_user", "portal_auditevent", "django_session"):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 (fixed table names)
            assert KARI not in repr(cursor.fetchall()), table


def test_the_same_person_signs_in_as_the_same_user_and_a_linked_person_gets_their_memberships(helseid, world):
    from portal.backends import link_identity

    link_identity(user=world.municipality_user, issuer=helseid.issuer, claim="helseid://claims/identity/pid", value=OLA)
    client = Client()
    assert sign_in(client, helseid, person(OLA, given_name="Ola")).status_code == 302
    home = client.get(reverse("portal:home")).content.decode()
    assert "Oslo kommune" in home
    assert client.session["_auth_user_id"] == str(world.municipality_user.pk)
    second = Client()
    sign_in(second, helseid, person(OLA, given_name="Ola"))
    assert second.session["_auth_user_id"] == str(world.municipality_user.pk)
    assert ExternalIdentity.objects.count() == 1
    world.municipality_user.refresh_from_db()
    assert world.municipality_user.first_name == "Ola"


def test_next_is_kept_through_the_provider_but_only_to_this_site(helseid, world):
    from tests.factories import MembershipFactory

    client = Client()
    target = reverse("portal:submitter_detail", args=[world.municipality.pk])
    response = sign_in(client, helseid, person(KARI), next=target)
    assert response["Location"] == target
    user = User.objects.get(external_identities__isnull=False)
    MembershipFactory(user=user, submitter=world.municipality)
    assert client.get(target).status_code == 200
    response = sign_in(Client(), helseid, person(KARI), next="https://evil.example/")
    assert response["Location"] == reverse("portal:home")


def test_without_par_the_parameters_go_to_the_authorize_endpoint(helseid):
    helseid.advertise_par = False
    client = Client()
    location = start(client, helseid)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    assert query["code_challenge_method"] == "S256"
    assert query["client_id"] == CLIENT_ID
    assert {"state", "nonce", "code_challenge"} <= set(query)
    helseid.person = person(KARI)
    assert back(client, helseid.visit(location)).status_code == 302
    assert helseid.seen.par_requests == 0


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_other_providers_with_a_client_secret(helseid, settings, method):
    helseid.register_client(
        "other-client", redirect_uris=["http://testserver/logg-inn/helseid/tilbake/"], secret="s3cret:&/+ value"
    )
    settings.OIDC_CLIENT_ID = "other-client"
    settings.OIDC_CLIENT_AUTH_METHOD = method
    settings.OIDC_CLIENT_SECRET = "s3cret:&/+ value"
    settings.OIDC_REQUIRED_SECURITY_LEVEL = 0
    settings.OIDC_IDENTITY_CLAIMS = ["sub"]
    claims = {"sub": "person-123", "given_name": "Per", "family_name": "Hansen"}
    assert sign_in(Client(), helseid, claims).status_code == 302
    assert helseid.seen.client_auth_methods == [method, method]


# -- refusals ---------------------------------------------------------------------------------------


def assert_refused(response, reason: str) -> None:
    assert response.status_code == 400
    assert response.templates[0].name == "portal/sign_in_failed.html"
    assert "Innloggingen mislyktes" in response.content.decode()
    assert "_auth_user_id" not in response.wsgi_request.session
    event = last_event("sign_in_failed")
    assert (event.details["method"], event.details["reason"]) == ("oidc", reason)


def test_wrong_state_is_refused(helseid):
    client = Client()
    helseid.person = person(KARI)
    answer = helseid.visit(start(client, helseid))
    forged = answer.replace("state=", "state=x")
    assert_refused(back(client, forged), "state")
    assert helseid.seen.token_requests == 0  # the code was never redeemed


def test_an_answer_in_another_browser_is_refused(helseid):
    helseid.person = person(KARI)
    answer = helseid.visit(start(Client(), helseid))
    assert_refused(back(Client(), answer), "state")


def test_the_same_answer_cannot_be_used_twice(helseid):
    client = Client()
    helseid.person = person(KARI)
    answer = helseid.visit(start(client, helseid))
    assert back(client, answer).status_code == 302
    client.post(reverse("portal:logout"))
    assert_refused(back(client, answer), "state")


def test_wrong_nonce_is_refused(helseid):
    helseid.id_token_changes = {"nonce": "a-nonce-the-portal-never-sent"}
    assert_refused(sign_in(Client(), helseid, person(KARI)), "nonce")
    assert not User.objects.filter(external_identities__isnull=False).exists()


def test_missing_nonce_is_refused(helseid):
    helseid.id_token_changes = {"nonce": None}
    assert_refused(sign_in(Client(), helseid, person(KARI)), "nonce")


def test_expired_id_token_is_refused(helseid):
    import time

    now = int(time.time())
    helseid.id_token_changes = {"iat": now - 900, "nbf": now - 900, "exp": now - 300}
    assert_refused(sign_in(Client(), helseid, person(KARI)), "id_token_expired")


@pytest.mark.parametrize(
    "change",
    [
        {"aud": "another-client"},
        {"iss": "https://helseid-sts.nhn.no"},
        {"aud": [CLIENT_ID, "another-client"]},  # several audiences and no azp
        {"sub": None},
    ],
)
def test_id_token_for_someone_else_is_refused(helseid, change):
    helseid.id_token_changes = change
    assert_refused(sign_in(Client(), helseid, person(KARI)), "id_token")


def test_id_token_signed_with_an_unpublished_key_is_refused(helseid):
    helseid.sign_with_other_key = True
    assert_refused(sign_in(Client(), helseid, person(KARI)), "id_token")


def test_low_security_level_is_refused(helseid):
    response = sign_in(Client(), helseid, person(KARI, level="3"))
    assert_refused(response, "security_level")
    assert "BankID" in response.content.decode()


def test_person_who_cancels_at_the_provider(helseid):
    assert_refused(sign_in(Client(), helseid, None), "provider_error")


def test_the_provider_refusing_the_client_assertion_fails_the_sign_in(helseid, portal_client_key, settings, tmp_path):
    import json

    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    from portal import oidc

    other = json.loads(RSAAlgorithm.to_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    key_file = tmp_path / "wrong-key.json"
    key_file.write_text(json.dumps({**other, "kid": "portal-client-key"}))
    settings.OIDC_PRIVATE_KEY_FILE = str(key_file)
    helseid.advertise_par = False
    oidc.clear_caches()
    assert_refused(sign_in(Client(), helseid, person(KARI)), "token_endpoint")
    assert helseid.seen.token_errors == ["assertion: InvalidSignatureError"]


def test_deactivated_user_is_refused(helseid, world):
    from portal.backends import link_identity

    link_identity(user=world.outsider, issuer=helseid.issuer, claim="helseid://claims/identity/pid", value=KARI)
    world.outsider.is_active = False
    world.outsider.save()
    assert_refused(sign_in(Client(), helseid, person(KARI)), "inactive")


def test_provider_down_gives_a_clear_page(helseid, settings):
    from portal import oidc

    settings.OIDC_ISSUER = "http://127.0.0.1:9"  # discard port: nothing listens
    oidc.clear_caches()
    response = Client().get(reverse("portal:oidc_start"))
    assert response.status_code == 503
    assert "svarer ikke" in response.content.decode()


def test_without_configuration_there_is_no_helseid_button(settings):
    settings.OIDC_ISSUER = ""
    content = Client().get(reverse("portal:login")).content.decode()
    assert "HelseID" not in content
    assert Client().get(reverse("portal:oidc_start")).status_code == 404


# -- signing out ------------------------------------------------------------------------------------


def test_sign_out_ends_the_session_here_and_at_the_provider(helseid):
    client = Client()
    sign_in(client, helseid, person(KARI))
    user_id = int(client.session["_auth_user_id"])
    response = client.post(reverse("portal:logout"))
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(helseid.endpoint("endsession") + "?")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    assert query == {"client_id": CLIENT_ID, "post_logout_redirect_uri": "http://testserver/logg-inn/"}
    assert "id_token_hint" not in query  # the ID token carries the identity number: it is not kept
    assert helseid.visit(location) == "http://testserver/logg-inn/"
    assert helseid.seen.ended_sessions
    assert client.get(reverse("portal:home")).status_code == 302
    assert last_event("sign_out").user_id == user_id


def test_a_local_user_signs_out_without_the_provider(helseid, world):
    client = Client()
    client.post(reverse("portal:login"), {"username": "kommune", "password": PASSWORD})
    response = client.post(reverse("portal:logout"))
    assert response["Location"] == reverse("portal:login")


# -- local accounts switched off --------------------------------------------------------------------


def test_local_sign_in_switched_off(helseid, world, settings):
    settings.LOCAL_LOGIN_ENABLED = False
    settings.AUTHENTICATION_BACKENDS = ["portal.backends.ExternalIdentityBackend"]
    page = Client().get(reverse("portal:login"))
    content = page.content.decode()
    assert 'name="password"' not in content
    assert "Logg inn med HelseID" in content
    response = Client().post(reverse("portal:login"), {"username": "kommune", "password": PASSWORD})
    assert response.status_code == 405
    # The admin site has no sign-in of its own either.
    response = Client().get("/admin/login/", {"next": "/admin/"})
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:login") + "?next=%2Fadmin%2F"
    # HelseID still works.
    assert sign_in(Client(), helseid, person(KARI)).status_code == 302
