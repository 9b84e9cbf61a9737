from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from portal import access, audit, selectors, services
from portal.forms import ContactForm, SubmitterSearchForm
from portal.models import AuditEventKind, Heartbeat
from portal.readiness import feedback_readiness


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


@require_GET
@login_required
def home(request: HtmxHttpRequest) -> HttpResponse:
    form = SubmitterSearchForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    submitters = selectors.submitter_list(
        user=request.user,
        query=filters.get("q", ""),
        kind=filters.get("kind", ""),
        register=filters.get("register", ""),
    )
    page = Paginator(submitters, settings.SUBMITTER_PAGE_SIZE).get_page(request.GET.get("side"))
    query_without_page = request.GET.copy()
    query_without_page.pop("side", None)
    context = {
        "form": form,
        "page": page,
        "query_string": query_without_page.urlencode(),
        "searched": any(filters.values()) if filters else False,
    }
    if not page.object_list and not context["searched"] and not access.has_any_access(request.user):
        # Signed in (e.g. with HelseID for the first time), but the registry has not given access yet.
        return render(request, "portal/no_access.html")
    if request.htmx and request.htmx.target == "submitter-results":
        return render(request, "portal/home.html#results", context)
    return render(request, "portal/home.html", context)


@require_GET
@login_required
def submitter_detail(request: HtmxHttpRequest, submitter_id: int) -> HttpResponse:
    submitter = access.get_submitter_or_404(request.user, submitter_id)
    audit.record(request, AuditEventKind.SUBMITTER_VIEWED, submitter=submitter)
    contacts = list(selectors.submitter_contacts(submitter=submitter))
    municipality = (
        selectors.municipality_name(number=submitter.municipality_number, on=timezone.localdate())
        if submitter.municipality_number
        else None
    )
    return render(
        request,
        "portal/submitter_detail.html",
        {
            "submitter": submitter,
            "contacts": contacts,
            "municipality_name": municipality,
            "readiness": feedback_readiness(submitter, contacts),
            "can_edit": access.can_edit_contacts(request.user, submitter),
        },
    )


@require_http_methods(["GET", "POST"])
@login_required
def contact_create(request: HtmxHttpRequest, submitter_id: int) -> HttpResponse:
    submitter = access.get_editable_submitter_or_404(request.user, submitter_id)
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        contact = services.contact_create(submitter=submitter, **form.cleaned_data)
        messages.success(request, _("%(name)s was added as a contact person.") % {"name": contact.name})
        return redirect("portal:submitter_detail", submitter_id=submitter.pk)
    return render(request, "portal/contact_form.html", {"submitter": submitter, "form": form, "contact": None})


@require_http_methods(["GET", "POST"])
@login_required
def contact_update(request: HtmxHttpRequest, submitter_id: int, contact_id: int) -> HttpResponse:
    submitter = access.get_editable_submitter_or_404(request.user, submitter_id)
    contact = access.get_contact_or_404(request.user, submitter, contact_id)
    initial = {
        "name": contact.name,
        "email": contact.email,
        "mobile": contact.mobile,
        "contact_types": contact.contact_types,
    }
    form = ContactForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.contact_update(contact=contact, **form.cleaned_data)
        messages.success(request, _("The contact person %(name)s was updated.") % {"name": contact.name})
        return redirect("portal:submitter_detail", submitter_id=submitter.pk)
    return render(request, "portal/contact_form.html", {"submitter": submitter, "form": form, "contact": contact})


@require_POST
@login_required
def contact_delete(request: HtmxHttpRequest, submitter_id: int, contact_id: int) -> HttpResponse:
    submitter = access.get_editable_submitter_or_404(request.user, submitter_id)
    contact = access.get_contact_or_404(request.user, submitter, contact_id)
    services.contact_delete(contact=contact)
    messages.success(request, _("The contact person %(name)s was removed.") % {"name": contact.name})
    return redirect("portal:submitter_detail", submitter_id=submitter.pk)


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and compose: database reachable, last worker heartbeat."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    beat = Heartbeat.objects.filter(name="worker").first()
    return JsonResponse({"status": "ok", "worker_heartbeat": beat.beat_at.isoformat() if beat else None})
