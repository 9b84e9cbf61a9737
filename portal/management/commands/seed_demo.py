from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.module_loading import import_string

from portal.demo import DemoSeeder, demo_reset, demo_seeded


class Command(BaseCommand):
    help = (
        "Fill the database with realistic demo data: every 2024 municipality, contract specialists, "
        "health trusts, private providers, EPJ vendors, contacts and one demo user per role."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--submitters",
            type=int,
            default=1000,
            help="Total number of submitters; beyond the named groups the rest are private providers (default 1000).",
        )
        parser.add_argument("--specialists", type=int, default=300, help="Contract specialists (default 300).")
        parser.add_argument("--reset", action="store_true", help="Delete earlier demo data first.")
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing (and succeed) when demo data already exists."
        )
        parser.add_argument("--seed", type=int, default=2024, help="Random seed, for repeatable data.")
        parser.add_argument(
            "--records",
            type=int,
            default=20_000,
            help="Activity records received this year, spread over the submitters (default 20,000; 0 for none).",
        )
        parser.add_argument(
            "--previous-year-share",
            type=float,
            default=0.2,
            help="Share of contract specialists and private institutions with last year's data as well "
            "(municipalities always have it; default 0.2).",
        )

    def handle(self, *args, submitters: int, specialists: int, reset: bool, if_empty: bool, seed: int, **options):
        if demo_seeded():
            if if_empty:
                self.stdout.write("Demo data already present; nothing to do.")
                return
            if not reset:
                raise CommandError("Demo data already exists. Use --reset to build it again.")
            demo_reset()
        started = time.monotonic()
        users = DemoSeeder(submitters=submitters, specialists=specialists, seed=seed).run()
        # What the other apps add (records, submissions, ...): named in settings so that portal imports none of them.
        for step in settings.DEMO_SEED_STEPS:
            import_string(step)(
                records=options["records"],
                previous_year_share=options["previous_year_share"],
                seed=seed,
                stdout=self.stdout,
            )
        elapsed = time.monotonic() - started
        self.stdout.write(self.style.SUCCESS(f"Demo data ready in {elapsed:.1f} s."))
        lines = ["Demo users (sign in at http://127.0.0.1:8000/logg-inn/):"]
        lines += [f"  {u.username:<16} {u.password:<20} {u.role}" for u in users]
        text = "\n".join(lines)
        self.stdout.write(text)
        users_file = settings.VAR_DIR / "demo-users.txt"
        users_file.parent.mkdir(parents=True, exist_ok=True)
        users_file.write_text(text + "\n", encoding="utf-8")
        users_file.chmod(0o600)
        self.stdout.write(f"(Also written to {users_file}.)")
