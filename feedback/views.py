"""Pages for feedback: a submitter's feedback list, downloads, and for registry staff "produce activity
feedback now" and "send this month's password again". Every read goes through portal.access."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from feedback import audit, selectors, services
from feedback.forms import ActivityRequestForm, PasswordResendForm
from feedback.models import FeedbackReport
from feedback.services.delivery import month_label
from portal import access
from portal.models import Submitter
from portal.views import HtmxHttpRequest

REFUSALS = {
    "contact": gettext_lazy(
        "This contact cannot receive the password: it needs an e-mail address and a Norwegian mobile number."
    ),
    "no_password": gettext_lazy("No feedback has been produced this month, so there is no password to send."),
    "rate_submitter": gettext_lazy(
        "The password was sent again a moment ago. Wait a few minutes before you try again."
    ),
    "rate_user": gettext_lazy("You have sent many passwords again in the last hour. Try again later."),
}


def _staff_submitter_or_404(request: HtmxHttpRequest, submitter_id: int) -> Submitter:
    submitter = access.get_submitter_or_404(request.user, submitter_id)
    if not access.is_registry_staff(request.user):
        raise Http404("No such page.")
    return submitter


def _page(request: HtmxHttpRequest, submitter: Submitter, *, activity_form=None, resend_form=None, status=200):
    is_staff = access.is_registry_staff(request.user)
    candidates = selectors.resend_candidates(submitter=submitter) if is_staff else []
    if is_staff:
        activity_form = activity_form or ActivityRequestForm(submitter=submitter)
        resend_form = resend_form or PasswordResendForm(contacts=candidates)
    reports = list(selectors.report_list(user=request.user, submitter=submitter)[:100])
    kinds = access.feedback_kinds_visible_to(request.user, submitter)
    sms = selectors.sms_list(submitter=submitter) if len(kinds) > 2 else []
    for report in reports:
        report.password_month_label = month_label(report.password_month) if report.password_month else ""
    return render(
        request,
        "feedback/feedback_list.html",
        {
            "submitter": submitter,
            "reports": reports,
            "sms": sms,
            "is_staff": is_staff,
            "activity_form": activity_form,
            "resend_form": resend_form,
            "resend_candidates": candidates,
            "current_month": month_label(services.month_of()),
            "vendor_view": len(kinds) == 2,
        },
        status=status,
    )


@require_GET
@login_required
def feedback_list(request: HtmxHttpRequest, submitter_id: int) -> HttpResponse:
    submitter = access.get_submitter_or_404(request.user, submitter_id)
    return _page(request, submitter)


@require_GET
@login_required
@audit.rate_limit("download")
def feedback_download(request: HtmxHttpRequest, submitter_id: int, report_id: int) -> HttpResponse:
    _, report = selectors.get_report_or_404(request.user, submitter_id, report_id)
    if report.status != FeedbackReport.Status.PRODUCED or not report.file:
        raise Http404("Not produced yet.")
    try:
        file = default_storage.open(report.file.name, "rb")
    except FileNotFoundError:
        raise Http404("The archive is gone.") from None
    audit.record_download(request, report, report.file_name)
    return audit.attachment(file, report.file_name)


@require_POST
@login_required
def activity_order(request: HtmxHttpRequest, submitter_id: int) -> HttpResponse:
    submitter = _staff_submitter_or_404(request, submitter_id)
    form = ActivityRequestForm(request.POST, submitter=submitter)
    if not form.is_valid():
        return _page(request, submitter, activity_form=form, status=400)
    services.activity_request(
        user=request.user, submitter=submitter, register=form.cleaned_data["register"], year=form.cleaned_data["year"]
    )
    messages.success(
        request,
        _("Activity feedback for %(register)s %(year)s is being produced and will be e-mailed to the contacts.")
        % {"register": form.cleaned_data["register"], "year": form.cleaned_data["year"]},
    )
    return redirect("feedback:feedback_list", submitter_id=submitter.pk)


@require_POST
@login_required
@audit.rate_limit("password_resend", methods=("POST",))
def password_resend(request: HtmxHttpRequest, submitter_id: int) -> HttpResponse:
    submitter = _staff_submitter_or_404(request, submitter_id)
    form = PasswordResendForm(request.POST, contacts=selectors.resend_candidates(submitter=submitter))
    if not form.is_valid():
        return _page(request, submitter, resend_form=form, status=400)
    contact = form.cleaned_data["contact"]
    try:
        services.password_resend(user=request.user, submitter=submitter, contact=contact, now=timezone.now())
    except services.ResendRefused as refusal:
        messages.error(request, str(REFUSALS[str(refusal)]))
        status = 429 if str(refusal).startswith("rate_") else 400
        return _page(request, submitter, resend_form=form, status=status)
    audit.record(request, "password_resent", submitter=submitter, object_type="contact", object_id=contact.pk)
    messages.success(request, _("This month's password is being sent again to %(name)s.") % {"name": contact.name})
    return redirect("feedback:feedback_list", submitter_id=submitter.pk)
