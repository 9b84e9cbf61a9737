from __future__ import annotations

import datetime

import pytest
from django.conf import settings

from feedback import services
from feedback.lib.passwords import ALPHABET
from feedback.models import MonthlyPassword

pytestmark = pytest.mark.django_db


def test_one_password_per_submitter_and_month_encrypted_at_rest(people):
    month = datetime.date(2026, 3, 1)
    row, password = services.monthly_password_get_or_create(submitter_id=people.submitter.pk, month=month)
    again, same = services.monthly_password_get_or_create(submitter_id=people.submitter.pk, month=month)
    assert row.pk == again.pk and password == same
    assert len(password) >= 20 and set(password) <= set(ALPHABET)
    assert password.encode() not in bytes(row.secret)
    assert password not in repr(row) and password not in str(row)
    _, april = services.monthly_password_get_or_create(
        submitter_id=people.submitter.pk, month=datetime.date(2026, 4, 1)
    )
    assert april != password
    assert MonthlyPassword.objects.count() == 2


def test_the_month_is_oslo_time():
    # 23:30 UTC on 31 January is 00:30 on 1 February in Oslo.
    assert services.month_of(datetime.datetime(2026, 1, 31, 23, 30, tzinfo=datetime.UTC)) == datetime.date(2026, 2, 1)
    assert services.month_of(datetime.datetime(2026, 1, 31, 22, 30, tzinfo=datetime.UTC)) == datetime.date(2026, 1, 1)


def test_a_rotated_key_still_decrypts_old_passwords(people, settings):
    from cryptography.fernet import Fernet

    row, password = services.monthly_password_get_or_create(
        submitter_id=people.submitter.pk, month=datetime.date(2026, 5, 1)
    )
    settings.FEEDBACK_PASSWORD_KEY = f"{Fernet.generate_key().decode()},{settings.FEEDBACK_PASSWORD_KEY}"
    assert services.monthly_password_reveal(row) == password
    settings.FEEDBACK_PASSWORD_KEY = Fernet.generate_key().decode()
    with pytest.raises(services.PasswordUnavailable):
        services.monthly_password_reveal(row)


def test_settings_refuse_to_start_without_a_key_when_debug_is_off():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "FEEDBACK_PASSWORD_KEY"}
    env.update(
        DEBUG="false",
        SECRET_KEY="x" * 50,
        ALLOWED_HOSTS="localhost",
        IDENTITY_HASH_KEY="k",
        DJANGO_SETTINGS_MODULE="portal.settings",
    )
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "FEEDBACK_PASSWORD_KEY must be set" in result.stderr
    env["FEEDBACK_PASSWORD_KEY"] = "not-a-fernet-key"
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "Fernet" in result.stderr
