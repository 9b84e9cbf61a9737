from __future__ import annotations

from django.urls import path

from feedback import views

app_name = "feedback"

urlpatterns = [
    path("innsendere/<int:submitter_id>/tilbakemeldinger/", views.feedback_list, name="feedback_list"),
    path(
        "innsendere/<int:submitter_id>/tilbakemeldinger/<int:report_id>/last-ned/",
        views.feedback_download,
        name="feedback_download",
    ),
    path("innsendere/<int:submitter_id>/tilbakemeldinger/aktivitet/", views.activity_order, name="activity_order"),
    path(
        "innsendere/<int:submitter_id>/tilbakemeldinger/passord/send-igjen/",
        views.password_resend,
        name="password_resend",
    ),
]
