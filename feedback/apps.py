from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FeedbackConfig(AppConfig):
    name = "feedback"
    verbose_name = _("What goes back")

    def ready(self) -> None:
        from feedback.receivers import on_submission_received
        from submissions.signals import submission_received

        submission_received.connect(on_submission_received, dispatch_uid="feedback.on_submission_received")
