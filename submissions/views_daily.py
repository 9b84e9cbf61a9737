"""Pages for the daily view ("Mottatte data") and the registry's overview.

The submitter's page is for whoever may see the submitter (portal.access; others get 404); members write
comments, registry staff refresh the snapshot. The overview is registry staff's only (404 for everyone else).
"""

from __future__ import annotations

import datetime
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from portal import access, audit
from portal.models import AuditEventKind, EpjVendor, Submitter
from portal.ratelimit import by_user, rate_limit
from portal.views import HtmxHttpRequest
from submissions import daily_downloads as downloads
from submissions import daily_overview as overview_selectors
from submissions.daily_comments import change_comment_add
from submissions.daily_view import FIRST_YEAR, TOTAL, daily_view
from submissions.forms_daily import ChangeCommentForm, DailyFilterForm, OverviewFilterForm
from submissions.models import Deadline, SnapshotRun
from submissions.snapshot import snapshot_as_of, snapshot_request

FORMATS = {"csv": downloads.CSV_TYPE, "xlsx": downloads.XLSX_TYPE}
RECENT_RUNS = 5


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _submitter_view(request: HtmxHttpRequest, submitter: Submitter, *, details: bool = True, params=None):
    params = request.GET if params is None else params
    return daily_view(
        submitter=submitter,
        register=params.get("register") or None,
        year=_int(params.get("aar")),
        category=params.get("kategori", ""),
        user=request.user,
        details=details,
    )


def _query(view, **extra: object) -> str:
    params = {"register": view.register, "aar": view.year}
    if view.category != TOTAL:
        params["kategori"] = view.category.key
    params.update({key: value for key, value in extra.items() if value is not None})
    return urlencode(params)


@require_GET
@login_required
def submitter_daily(request: HtmxHttpRequest, submitter_id: int) -> HttpResponse:
    submitter = access.get_submitter_or_404(request.user, submitter_id)
    return _submitter_page(request, submitter, _submitter_view(request, submitter))


def _submitter_page(
    request: HtmxHttpRequest, submitter: Submitter, view, *, rejected_comment: dict | None = None, status: int = 200
) -> HttpResponse:
    form = DailyFilterForm(
        {"register": view.register, "aar": view.year, "kategori": "" if view.category == TOTAL else view.category.key},
        registers=view.registers,
        years=view.years,
        categories=view.categories,
    )
    context = {
        "submitter": submitter,
        "view": view,
        "form": form,
        "query": _query(view),
        "comment_form": ChangeCommentForm(),
        "is_staff": access.is_registry_staff(request.user),
        "large_percent": settings.DAILY_VIEW_LARGE_CHANGE_PERCENT,
        "large_users": settings.DAILY_VIEW_LARGE_CHANGE_MIN_USERS,
        "rejected_comment": rejected_comment,
    }
    if request.htmx and request.htmx.target == "daily-results":
        return render(request, "submissions/daily/submitter.html#results", context, status=status)
    return render(request, "submissions/daily/submitter.html", context, status=status)


@require_GET
@login_required
@rate_limit("download", key=by_user)
def submitter_daily_download(request: HtmxHttpRequest, submitter_id: int, table: str, extension: str) -> HttpResponse:
    submitter = access.get_submitter_or_404(request.user, submitter_id)
    builder = downloads.SUBMITTER_TABLES.get(table)
    if builder is None or extension not in FORMATS:
        raise Http404("No such table.")
    view = _submitter_view(request, submitter, details=table in ("kategorier", "frister"))
    content = builder(view)
    body = downloads.csv_bytes(content) if extension == "csv" else downloads.xlsx_bytes([content])
    filename = f"mottatte-data-{submitter.pk}-{view.register}-{view.year}-{table}.{extension}"
    audit.record(
        request,
        AuditEventKind.DOWNLOAD,
        submitter=submitter,
        object_type="daily_view_table",
        object_id=table,
        filename=filename,
    )
    return downloads.attachment(body, filename, FORMATS[extension])


@require_POST
@login_required
def change_comment(request: HtmxHttpRequest, submitter_id: int) -> HttpResponse:
    submitter = access.get_submitter_or_404(request.user, submitter_id)
    form = ChangeCommentForm(request.POST)
    target = reverse("submissions:daily:submitter", kwargs={"submitter_id": submitter.pk})
    if not form.is_valid():
        if set(form.errors) != {"text"}:  # the hidden fields: a tampered or outdated form
            messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
            return redirect(target)
        # The text itself is refused: show the page again with the text kept in its form and the error beside it.
        view = _submitter_view(request, submitter, params=request.POST)
        rejected = {
            "key": form.cleaned_data["kategori"],
            "text": form.data.get("text", ""),
            "errors": form.errors["text"],
        }
        return _submitter_page(request, submitter, view, rejected_comment=rejected, status=400)
    data = form.cleaned_data
    query = urlencode({"register": data["register"], "aar": data["aar"]})
    try:
        change_comment_add(
            user=request.user,
            submitter=submitter,
            register=data["register"],
            year=data["aar"],
            category=data["kategori"],
            text=data["text"],
        )
    except PermissionDenied:
        raise Http404("No such submitter.") from None
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Your comment was saved. The registry can read it."))
    return redirect(f"{target}?{query}#changes-heading")


@require_POST
@login_required
def refresh_submitter(request: HtmxHttpRequest, submitter_id: int) -> HttpResponse:
    if not access.is_registry_staff(request.user):
        raise Http404("No such page.")
    submitter = access.get_submitter_or_404(request.user, submitter_id)
    snapshot_request(scope=SnapshotRun.Scope.SUBMITTER, user=request.user, submitter=submitter)
    messages.success(
        request,
        _("The numbers for %(name)s are being updated. Reload the page in a moment.") % {"name": submitter.name},
    )
    return redirect("submissions:daily:submitter", submitter_id=submitter.pk)


# -- registry staff: the overview ------------------------------------------------------------------


def _overview_filters(request: HtmxHttpRequest, years: list[int], default_year: int):
    vendors = list(EpjVendor.objects.order_by("name").only("id", "name"))
    form = OverviewFilterForm(request.GET or None, years=years, vendors=vendors)
    cleaned = form.cleaned_data if form.is_valid() else {}
    year = cleaned.get("aar") or default_year
    filters = overview_selectors.OverviewFilters(
        year=year,
        register=cleaned.get("register", ""),
        kind=cleaned.get("type", ""),
        county=cleaned.get("fylke", ""),
        sector=cleaned.get("sektor", ""),
        vendor_id=cleaned.get("leverandor"),
    )
    if not request.GET:
        form = OverviewFilterForm({"aar": year}, years=years, vendors=vendors)
        form.is_valid()
    return form, filters


def _overview_years(request: HtmxHttpRequest, today: datetime.date) -> tuple[list[int], int]:
    """The last few years and any year asked for (the calendar may hold later ones); the default is the year
    of the latest deadline that has passed."""
    years = set(range(today.year, today.year - 4, -1))
    asked = _int(request.GET.get("aar"))
    if asked and FIRST_YEAR <= asked <= today.year + 5:
        years.add(asked)
    passed = Deadline.objects.filter(due_date__lt=today).order_by("-due_date").values_list("period_start", flat=True)
    latest = passed.first()
    return sorted(years, reverse=True), latest.year if latest else today.year


@require_GET
@login_required
def overview(request: HtmxHttpRequest) -> HttpResponse:
    if not access.is_registry_staff(request.user):
        raise Http404("No such page.")
    today = timezone.localdate()
    years, default_year = _overview_years(request, today)
    form, filters = _overview_filters(request, years, default_year)
    deadlines = overview_selectors.overview_deadlines(user=request.user, year=filters.year, register=filters.register)
    rates = overview_selectors.reporting_rates(user=request.user, filters=filters, deadlines=deadlines)
    selected = None
    status = request.GET.get("status", "")
    deadline_id = _int(request.GET.get("frist"))
    if deadline_id and status in overview_selectors.STATUSES:
        selected = next((rate for rate in rates if rate.deadline.pk == deadline_id), None)
    listing = None
    if selected is not None:
        count = selected.counts.get(status, 0)
        page = Paginator(range(count), overview_selectors.SUBMITTER_PAGE_SIZE).get_page(request.GET.get("side"))
        listing = {
            "rate": selected,
            "status": status,
            "page": page,
            "rows": overview_selectors.submitters_with_status(
                user=request.user, filters=filters, deadline=selected.deadline, status=status, page=page.number
            ),
        }
    changes_page_number = _int(request.GET.get("endringsside")) or 1
    changes = overview_selectors.largest_changes(
        user=request.user, filters=filters, today=today, page=changes_page_number
    )
    changes_page = Paginator(range(changes.total), overview_selectors.CHANGES_PAGE_SIZE).get_page(changes_page_number)
    base_query = request.GET.copy()
    for name in ("frist", "status", "side", "endringsside"):
        base_query.pop(name, None)
    if "aar" not in base_query:
        base_query["aar"] = str(filters.year)
    context = {
        "form": form,
        "filters": filters,
        "rates": rates,
        "listing": listing,
        "changes": changes,
        "changes_page": changes_page,
        "query": base_query.urlencode(),
        "as_of": snapshot_as_of(),
        "runs": list(SnapshotRun.objects.select_related("submitter", "requested_by")[:RECENT_RUNS]),
    }
    if request.htmx and request.htmx.target == "overview-results":
        return render(request, "submissions/daily/overview.html#results", context)
    return render(request, "submissions/daily/overview.html", context)


@require_GET
@login_required
@rate_limit("download", key=by_user)
def overview_export(request: HtmxHttpRequest) -> HttpResponse:
    if not access.is_registry_staff(request.user):
        raise Http404("No such page.")
    today = timezone.localdate()
    years, default_year = _overview_years(request, today)
    _form, filters = _overview_filters(request, years, default_year)
    deadlines = overview_selectors.overview_deadlines(user=request.user, year=filters.year, register=filters.register)
    rates = overview_selectors.reporting_rates(user=request.user, filters=filters, deadlines=deadlines)
    changes = overview_selectors.largest_changes(
        user=request.user, filters=filters, today=today, limit=overview_selectors.EXPORT_LIMIT
    )
    tables = [downloads.rates_table(rates), downloads.changes_table(changes)]
    deadline_id, status = _int(request.GET.get("frist")), request.GET.get("status", "")
    chosen = next((d for d in deadlines if d.pk == deadline_id), None)
    if chosen is not None and status in overview_selectors.STATUSES:
        rows = overview_selectors.submitters_with_status(
            user=request.user,
            filters=filters,
            deadline=chosen,
            status=status,
            limit=overview_selectors.EXPORT_LIMIT,
        )
        tables.append(downloads.status_table(rows))
    filename = f"rapporteringsgrad-{filters.register or 'NPR-KPR'}-{filters.year}.xlsx"
    audit.record(request, AuditEventKind.DOWNLOAD, object_type="daily_overview", filename=filename)
    return downloads.attachment(downloads.xlsx_bytes(tables), filename, downloads.XLSX_TYPE)


@require_POST
@login_required
def refresh_all(request: HtmxHttpRequest) -> HttpResponse:
    if not access.is_registry_staff(request.user):
        raise Http404("No such page.")
    snapshot_request(scope=SnapshotRun.Scope.ALL, user=request.user)
    messages.success(request, _("All numbers are being computed again. This takes a minute or two."))
    return redirect("submissions:daily:overview")
