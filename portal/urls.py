"""Root URLconf: the only module of `portal` that wires the apps together."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from portal import views, views_audit, views_auth
from submissions.api import api as intake_api

portal_patterns = [
    path("", views.home, name="home"),
    path("logg-inn/", views_auth.sign_in, name="login"),
    path("logg-inn/helseid/", views_auth.oidc_start, name="oidc_start"),
    path("logg-inn/helseid/tilbake/", views_auth.oidc_callback, name="oidc_callback"),
    path("logg-ut/", views_auth.sign_out, name="logout"),
    path("revisjonslogg/", views_audit.audit_log, name="audit_log"),
    path("innsendere/<int:submitter_id>/", views.submitter_detail, name="submitter_detail"),
    path("innsendere/<int:submitter_id>/kontakter/ny/", views.contact_create, name="contact_create"),
    path(
        "innsendere/<int:submitter_id>/kontakter/<int:contact_id>/endre/",
        views.contact_update,
        name="contact_update",
    ),
    path(
        "innsendere/<int:submitter_id>/kontakter/<int:contact_id>/slett/",
        views.contact_delete,
        name="contact_delete",
    ),
    path("healthz", views.health, name="health"),
]

urlpatterns = [
    path("", include((portal_patterns, "portal"))),
    path("", include("submissions.urls")),
    path("", include("submissions.urls_deadlines")),
    path("", include("feedback.urls")),
    path("api/v1/", intake_api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    # The admin site has no sign-in of its own: the portal's (HelseID, rate limit, audit) serves it.
    path("admin/login/", views_auth.admin_login),
    path("admin/", admin.site.urls),
]
