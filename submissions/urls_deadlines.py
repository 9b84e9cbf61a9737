"""Deadlines and extensions: the submitter's page, registry staff's queue and calendar."""

from __future__ import annotations

from django.urls import path

from submissions import views_deadlines as views

app_name = "deadlines"

urlpatterns = [
    path("innsendere/<int:submitter_id>/frister/", views.submitter_deadlines, name="submitter_deadlines"),
    path("innsendere/<int:submitter_id>/frister/utsettelse/", views.extension_apply, name="extension_apply"),
    path(
        "innsendere/<int:submitter_id>/frister/utsettelse/<int:extension_id>/trekk/",
        views.extension_withdraw,
        name="extension_withdraw",
    ),
    path("utsettelser/", views.extension_queue, name="extension_queue"),
    path("utsettelser/<int:extension_id>/", views.extension_decide, name="extension_decide"),
    path("frister/", views.calendar, name="calendar"),
    path("frister/ny/", views.deadline_create, name="deadline_create"),
    path("frister/<int:deadline_id>/endre/", views.deadline_update, name="deadline_update"),
]
