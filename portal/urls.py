"""Root URLconf: the only module of `portal` that wires the apps together."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from portal import views
from portal.forms import SignInForm
from submissions.api import api as intake_api

portal_patterns = [
    path("", views.home, name="home"),
    path(
        "logg-inn/",
        auth_views.LoginView.as_view(
            template_name="portal/login.html", authentication_form=SignInForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logg-ut/", auth_views.LogoutView.as_view(), name="logout"),
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
    path("admin/", admin.site.urls),
]
