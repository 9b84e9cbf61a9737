"""Give a person an existing portal user before they sign in with HelseID for the first time.

    manage.py link_identity kari.nordmann

The national identity number is read from the terminal (not an argument: it would end up in shell
history and the process list) and only its keyed hash is stored.
"""

from __future__ import annotations

import getpass
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal.backends import link_identity
from portal.lib.identity import IdentityCheck, check_identity_number
from portal.models import User

PID_CLAIM = "helseid://claims/identity/pid"


class Command(BaseCommand):
    help = "Link a national identity number (read from the terminal; only its hash is stored) to a portal user."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--issuer", default="", help="The provider (default: OIDC_ISSUER).")
        parser.add_argument("--claim", default=PID_CLAIM, help=f"The identifier claim (default: {PID_CLAIM}).")

    def handle(self, *args, username: str, issuer: str, claim: str, **options):
        issuer = issuer or settings.OIDC_ISSUER
        if not issuer:
            raise CommandError("No issuer: set OIDC_ISSUER or pass --issuer.")
        try:
            user = User.objects.get(username=username)
        except User.DoesNotExist:
            raise CommandError(f"No user {username!r}.") from None
        prompt = "National identity number: " if claim == PID_CLAIM else f"Value of {claim}: "
        value = getpass.getpass(prompt) if sys.stdin.isatty() else sys.stdin.readline()
        value = value.strip()
        if claim == PID_CLAIM:
            check = check_identity_number(value)
            if not (check.acceptable_in_production or (settings.DEBUG and check == IdentityCheck.SYNTHETIC)):
                raise CommandError(f"Not a valid national identity number ({check.value}).")
        link_identity(user=user, issuer=issuer, claim=claim, value=value)
        self.stdout.write(f"{username} now signs in with this identity at {issuer}.")
