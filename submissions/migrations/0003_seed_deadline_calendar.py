"""The registries' published reporting calendar for the reporting years 2023 (its annual deadlines fall in
January 2024) to 2027.

NPR, contract specialists (letter 23/52472-1, 12.12.2023): cumulative files from 1 January, ord and ide,
deadlines 10 January (previous year, annual), 10 May (1.1–30.4), 10 September (1.1–31.8). The same
calendar is used for private institutions and other private NPR reporters, who start reporting in 2026–2027.
KPR, municipalities (letter 24/04733-1, 31.10.2024): the whole year, KPR_IPL and KPR_IDE, deadline
15 January the following year. Registry staff maintain later years in the portal.
"""

import datetime

from django.db import migrations

NPR_KINDS = ["contract_specialist", "private_institution", "other_private"]
KPR_KINDS = ["municipality"]
MESSAGE_KINDS = ["activity", "ident"]
FIRST_YEAR, LAST_YEAR = 2023, 2027


def calendar():
    for year in range(FIRST_YEAR, LAST_YEAR + 1):
        start = datetime.date(year, 1, 1)
        if year > FIRST_YEAR:
            yield "NPR", NPR_KINDS, start, datetime.date(year, 4, 30), datetime.date(year, 5, 10)
            yield "NPR", NPR_KINDS, start, datetime.date(year, 8, 31), datetime.date(year, 9, 10)
        yield "NPR", NPR_KINDS, start, datetime.date(year, 12, 31), datetime.date(year + 1, 1, 10)
        yield "KPR", KPR_KINDS, start, datetime.date(year, 12, 31), datetime.date(year + 1, 1, 15)


def seed(apps, schema_editor):
    Deadline = apps.get_model("submissions", "Deadline")
    for register, kinds, period_start, period_end, due_date in calendar():
        Deadline.objects.get_or_create(
            register=register,
            period_start=period_start,
            period_end=period_end,
            due_date=due_date,
            defaults={"submitter_kinds": kinds, "cumulative": True, "message_kinds": MESSAGE_KINDS},
        )


def unseed(apps, schema_editor):
    Deadline = apps.get_model("submissions", "Deadline")
    for register, _kinds, period_start, period_end, due_date in calendar():
        Deadline.objects.filter(
            register=register, period_start=period_start, period_end=period_end, due_date=due_date
        ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("submissions", "0002_deadlines"),
    ]

    operations = [
        migrations.RunPython(seed, unseed),
    ]
