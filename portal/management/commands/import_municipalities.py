from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from portal.municipalities import KlassFormatError, load_klass_file
from portal.services import municipalities_import


class Command(BaseCommand):
    help = (
        "Import municipality numbers from JSON published by Statistics Norway's classification "
        "service for classification 131 (the 'codes' or 'codesAt' response). Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE", help="Klass JSON file(s)")

    def handle(self, *args, files: list[str], **options):
        for path in files:
            try:
                codes = load_klass_file(path)
            except KlassFormatError as error:
                raise CommandError(str(error)) from None
            created, updated = municipalities_import(codes=codes)
            self.stdout.write(f"{path}: {len(codes)} municipalities ({created} new, {updated} updated)")
