from __future__ import annotations

import datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal.lib.norway import NumberError, normalize_org_number
from submissions.auth import local_issuer, new_client_id
from submissions.models import ApiClient


class Command(BaseCommand):
    help = (
        "Register a machine client for the intake API and print an access token signed by the portal's "
        "development issuer (verified by the same code as HelseID tokens). For development and tests."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="What the client is, e.g. 'Gerica test'.")
        parser.add_argument("--org-number", required=True, help="Organisation the client acts as (orgnr_parent).")
        parser.add_argument("--client-id", help="Reuse or choose a client id (default: a new one).")
        parser.add_argument("--days", type=int, default=30, help="Token lifetime in days (default 30).")

    def handle(self, *args, name: str, org_number: str, client_id: str | None, days: int, **options):
        if not settings.API_LOCAL_ISSUER_ENABLED:
            raise CommandError(
                "The development token issuer is off (API_LOCAL_ISSUER_ENABLED=false). In production, clients "
                "get their tokens from HelseID; register them in the admin."
            )
        try:
            org_number = normalize_org_number(org_number)
        except NumberError as error:
            raise CommandError(
                f"--org-number {org_number!r} is not a valid organisation number ({error.code})."
            ) from None
        client, created = ApiClient.objects.get_or_create(
            client_id=client_id or new_client_id(), defaults={"name": name, "org_number": org_number}
        )
        if not created and client.org_number != org_number:
            raise CommandError(f"Client {client.client_id} belongs to {client.org_number}, not {org_number}.")
        token = local_issuer().mint(
            client_id=client.client_id,
            org_number=org_number,
            lifetime=datetime.timedelta(days=days),
            scope=settings.API_REQUIRED_SCOPE,
        )
        self.stderr.write(f"{'Created' if created else 'Reused'} client {client.client_id} for {org_number}.")
        self.stdout.write(token)
