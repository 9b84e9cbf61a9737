"""The daily view of received data and the registry's overview (included from submissions/urls.py)."""

from __future__ import annotations

from django.urls import path

from submissions import views_daily as views

app_name = "daily"

urlpatterns = [
    path("innsendere/<int:submitter_id>/mottatte-data/", views.submitter_daily, name="submitter"),
    path(
        "innsendere/<int:submitter_id>/mottatte-data/<slug:table>.<slug:extension>",
        views.submitter_daily_download,
        name="submitter_download",
    ),
    path("innsendere/<int:submitter_id>/mottatte-data/kommentar/", views.change_comment, name="comment"),
    path("innsendere/<int:submitter_id>/mottatte-data/oppdater/", views.refresh_submitter, name="refresh_submitter"),
    path("mottatte-data/", views.overview, name="overview"),
    path("mottatte-data/eksport.xlsx", views.overview_export, name="overview_export"),
    path("mottatte-data/oppdater/", views.refresh_all, name="refresh_all"),
]
