"""The archive by e-mail, through Django's SMTP backend to a real SMTP server on loopback."""

from __future__ import annotations

import io

import pytest

from feedback import services
from feedback.lib.archives import read_encrypted_zip
from feedback.models import EmailDelivery, FeedbackReport, MonthlyPassword
from tests.feedback.conftest import finding, make_submission

pytestmark = pytest.mark.django_db


@pytest.fixture
def produced(people, enqueued) -> FeedbackReport:
    submission = make_submission(people.submitter, status="rejected", findings=[finding("SCHEMA-001")])
    services.feedback_for_submission(submission_id=submission.pk)
    report = FeedbackReport.objects.get(submission=submission)
    services.report_produce(report_id=report.pk)
    report.refresh_from_db()
    return report


def test_each_routed_contact_gets_the_archive_in_a_norwegian_email(produced, smtp_server, people):
    deliveries = list(EmailDelivery.objects.filter(report=produced))
    for delivery in deliveries:
        assert services.email_send(delivery_id=delivery.pk)
        assert not services.email_send(delivery_id=delivery.pk)  # sent once
    assert sorted(to for tos, _ in smtp_server.messages for to in tos) == sorted(d.email for d in deliveries)
    assert all(len(tos) == 1 for tos, _ in smtp_server.messages)  # nobody sees the others' addresses

    _, message = smtp_server.messages[0]
    assert people.submitter.org_number in message["Subject"]
    assert "Hansen" not in message["Subject"]
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "7-Zip" in body and "WinZip" in body and "Windows" in body
    assert "AES-256" in body
    assert "SMS" in body
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == produced.file_name
    assert attachment.get_content_type() == "application/zip"
    password = services.monthly_password_reveal(MonthlyPassword.objects.get(submitter=people.submitter))
    assert password not in body
    files = read_encrypted_zip(io.BytesIO(attachment.get_content()), password)
    assert list(files) == [f"skjemavalidering-NPR-{produced.submission_id}.html"]
    for delivery in EmailDelivery.objects.filter(report=produced):
        assert delivery.status == EmailDelivery.Status.SENT and delivery.sent_at is not None


def test_a_failing_smtp_server_leaves_the_delivery_for_a_retry(produced, settings):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2
    delivery = EmailDelivery.objects.filter(report=produced).first()
    with pytest.raises(OSError):
        services.email_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == EmailDelivery.Status.PENDING and delivery.attempts == 1
    assert "ConnectionRefused" in delivery.error
