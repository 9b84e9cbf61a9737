from __future__ import annotations

from django.urls import include, path

from submissions import views

app_name = "submissions"

urlpatterns = [
    path("innsendere/<int:submitter_id>/innsendinger/", views.submission_list, name="submission_list"),
    path(
        "innsendere/<int:submitter_id>/innsendinger/<int:submission_id>/",
        views.submission_detail,
        name="submission_detail",
    ),
    path("test-melding/", views.test_message, name="test_message"),
    path("", include("submissions.urls_daily")),
]
