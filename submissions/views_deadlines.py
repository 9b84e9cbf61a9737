"""Pages for deadlines: a submitter's deadlines and extension requests; registry staff's queue,
decision form and calendar editor. Staff pages are 404 for everyone else, like other tenants' data."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal import access, audit
from portal.models import AuditEventKind, Submitter
from portal.views import HtmxHttpRequest
from submissions import deadlines as services
from submissions import selectors_deadlines as selectors
from submissions.forms_deadlines import (
    DeadlineForm,
    ExtensionApplyForm,
    ExtensionDecisionForm,
    ExtensionQueueFilterForm,
    deadline_choice_label,
)
from submissions.models import Deadline, Extension, MessageKind

EXTENSION_PAGE_SIZE = 25


# -- the submitter's page ------------------------------------------------------------------------


def _deadline_page(
    request: HtmxHttpRequest, submitter: Submitter, *, form: ExtensionApplyForm | None = None, status: int = 200
) -> HttpResponse:
    now = timezone.now()
    today = timezone.localdate(now)
    applicable = selectors.applicable_deadlines(submitter)
    years = sorted({deadline.year for deadline in applicable}, reverse=True)
    try:
        year = int(request.GET.get("aar", ""))
    except ValueError:
        year = selectors.default_year(applicable, today)
    extensions = selectors.submitter_extensions(submitter=submitter)
    shown = [deadline for deadline in applicable if deadline.year == year]
    rows = selectors.deadline_rows(submitter=submitter, deadlines=shown, extensions=extensions, now=now)
    can_apply = access.can_apply_for_extension(request.user, submitter)
    if can_apply and form is None:
        initial = {"deadline": request.GET.get("frist")} if request.GET.get("frist") else None
        form = ExtensionApplyForm(
            deadlines=selectors.extension_choices(submitter=submitter, today=today), initial=initial
        )
    return render(
        request,
        "submissions/submitter_deadlines.html",
        {
            "submitter": submitter,
            "year": year,
            "years": years,
            "rows": rows,
            "extensions": extensions,
            "can_apply": can_apply,
            "form": form,
            "daily": selectors.daily_reporting(submitter=submitter, today=today),
        },
        status=status,
    )


@require_GET
@login_required
def submitter_deadlines(request: HtmxHttpRequest, submitter_id: int) -> HttpResponse:
    submitter = access.get_submitter_or_404(request.user, submitter_id)
    return _deadline_page(request, submitter)


def _get_member_submitter_or_404(user: Any, submitter_id: int) -> Submitter:
    """Only members act on the submitter's requests; staff and vendors who may read it get 404 here."""
    submitter = access.get_submitter_or_404(user, submitter_id)
    if not access.can_apply_for_extension(user, submitter):
        raise Http404("No such submitter.")
    return submitter


@require_POST
@login_required
def extension_apply(request: HtmxHttpRequest, submitter_id: int) -> HttpResponse:
    submitter = _get_member_submitter_or_404(request.user, submitter_id)
    choices = selectors.extension_choices(submitter=submitter, today=timezone.localdate())
    form = ExtensionApplyForm(request.POST, deadlines=choices)
    if form.is_valid():
        try:
            extension = services.extension_apply(
                user=request.user,
                submitter=submitter,
                deadline=form.cleaned_data["deadline"],
                requested_date=form.cleaned_data["requested_date"],
                justification=form.cleaned_data["justification"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request,
                _("Your request for %(period)s was sent to the registry. You get the decision by e-mail.")
                % {"period": deadline_choice_label(extension.deadline)},
            )
            return redirect("deadlines:submitter_deadlines", submitter_id=submitter.pk)
    return _deadline_page(request, submitter, form=form)


@require_POST
@login_required
def extension_withdraw(request: HtmxHttpRequest, submitter_id: int, extension_id: int) -> HttpResponse:
    submitter = _get_member_submitter_or_404(request.user, submitter_id)
    extension = selectors.get_own_extension_or_404(submitter, extension_id)
    try:
        services.extension_withdraw(user=request.user, extension=extension)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("The request was withdrawn."))
    return redirect("deadlines:submitter_deadlines", submitter_id=submitter.pk)


# -- registry staff: the queue and the decision ---------------------------------------------------


@require_GET
@login_required
def extension_queue(request: HtmxHttpRequest) -> HttpResponse:
    data = request.GET.copy()
    if "status" not in data:
        data["status"] = Extension.Status.OPEN
    form = ExtensionQueueFilterForm(data)
    filters = form.cleaned_data if form.is_valid() else {}
    extensions = selectors.extension_queue(
        user=request.user, register=filters.get("register", ""), status=filters.get("status", "")
    )
    page = Paginator(extensions, EXTENSION_PAGE_SIZE).get_page(request.GET.get("side"))
    query = data.copy()
    query.pop("side", None)
    return render(
        request,
        "submissions/extension_queue.html",
        {"form": form, "page": page, "query_string": query.urlencode()},
    )


@require_http_methods(["GET", "POST"])
@login_required
def extension_decide(request: HtmxHttpRequest, extension_id: int) -> HttpResponse:
    extension = selectors.get_extension_for_staff_or_404(request.user, extension_id)
    form = None
    if extension.is_open:
        form = ExtensionDecisionForm(request.POST or None, initial={"granted_date": extension.requested_date})
        if request.method == "POST" and form.is_valid():
            grant = form.cleaned_data["decision"] == ExtensionDecisionForm.GRANT
            try:
                services.extension_decide(
                    user=request.user,
                    extension=extension,
                    grant=grant,
                    granted_date=form.cleaned_data["granted_date"],
                    reason=form.cleaned_data["reason"],
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                audit.record(
                    request,
                    AuditEventKind.EXTENSION_DECIDED,
                    submitter=extension.submitter,
                    object_type="extension",
                    object_id=extension.pk,
                    decision="granted" if grant else "refused",
                    date=str(form.cleaned_data["granted_date"] or "") if grant else "",
                )
                if grant:
                    done = _("The extension for %(name)s was granted.")
                else:
                    done = _("The request from %(name)s was refused.")
                messages.success(request, done % {"name": extension.submitter.name})
                return redirect("deadlines:extension_queue")
    elif request.method == "POST":
        messages.error(request, _("This request is no longer open: it has been decided or withdrawn."))
        return redirect("deadlines:extension_decide", extension_id=extension.pk)
    history = (
        Extension.objects.filter(submitter_id=extension.submitter_id, deadline_id=extension.deadline_id)
        .exclude(pk=extension.pk)
        .select_related("decided_by")
        .order_by("-requested_at")
    )
    return render(
        request,
        "submissions/extension_decide.html",
        {
            "extension": extension,
            "form": form,
            "history": history,
            "effective": services.effective_deadline(submitter=extension.submitter, deadline=extension.deadline),
            "delivered_at": selectors.accepted_delivery_at(submitter=extension.submitter, deadline=extension.deadline),
        },
    )


# -- registry staff: the calendar -----------------------------------------------------------------


@require_GET
@login_required
def calendar(request: HtmxHttpRequest) -> HttpResponse:
    deadlines = selectors.calendar_for_staff(user=request.user)
    return render(request, "submissions/calendar.html", {"deadlines": deadlines})


def _deadline_form_page(request: HtmxHttpRequest, deadline: Deadline | None) -> HttpResponse:
    # A new deadline starts from what the registries publish: cumulative files, both messages.
    initial: dict[str, Any] = {"cumulative": True, "message_kinds": [k.value for k in MessageKind]}
    if deadline is not None:
        initial = {
            name: getattr(deadline, name)
            for name in (
                "register",
                "submitter_kinds",
                "period_start",
                "period_end",
                "due_date",
                "cumulative",
                "message_kinds",
            )
        }
    form = DeadlineForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            if deadline is None:
                deadline = services.deadline_create(user=request.user, **form.cleaned_data)
                messages.success(request, _("The deadline was added to the calendar."))
            else:
                services.deadline_update(user=request.user, deadline=deadline, **form.cleaned_data)
                messages.success(request, _("The deadline was changed."))
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return redirect("deadlines:calendar")
    return render(request, "submissions/deadline_form.html", {"form": form, "deadline": deadline})


@require_http_methods(["GET", "POST"])
@login_required
def deadline_create(request: HtmxHttpRequest) -> HttpResponse:
    if not access.is_registry_staff(request.user):
        raise Http404("No such page.")
    return _deadline_form_page(request, None)


@require_http_methods(["GET", "POST"])
@login_required
def deadline_update(request: HtmxHttpRequest, deadline_id: int) -> HttpResponse:
    deadline = selectors.get_deadline_for_staff_or_404(request.user, deadline_id)
    return _deadline_form_page(request, deadline)
