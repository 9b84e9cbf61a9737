"""Registry staff's search in the audit log. Everyone else gets 404, like other tenants' data."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal import access, audit, selectors
from portal.forms import AuditSearchForm
from portal.models import AuditEvent, AuditEventKind, Submitter
from portal.views import HtmxHttpRequest

AUDIT_PAGE_SIZE = 50


@never_cache
@require_GET
@login_required
def audit_log(request: HtmxHttpRequest) -> HttpResponse:
    if not access.is_registry_staff(request.user):
        raise access.refused(request.user, "audit_log", "")
    form = AuditSearchForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    events = selectors.audit_events(**{key: value for key, value in filters.items() if value})
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("side"))
    submitter_names = dict(
        Submitter.objects.filter(pk__in={e.submitter_id for e in page.object_list if e.submitter_id}).values_list(
            "pk", "name"
        )
    )
    rows: list[tuple[AuditEvent, str]] = [(event, submitter_names.get(event.submitter_id, "")) for event in page]
    audit.record(
        request,
        AuditEventKind.AUDIT_LOG_VIEWED,
        filters={key: str(value) for key, value in filters.items() if value},
    )
    query = request.GET.copy()
    query.pop("side", None)
    context = {"form": form, "page": page, "rows": rows, "query_string": query.urlencode()}
    if request.htmx and request.htmx.target == "audit-results":
        return render(request, "portal/audit_log.html#results", context)
    return render(request, "portal/audit_log.html", context)
