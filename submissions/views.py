from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from portal import access, audit
from portal.models import AuditEventKind
from portal.views import HtmxHttpRequest
from submissions import selectors
from submissions.forms import TestMessageForm
from submissions.intake import Sender, submission_receive
from submissions.models import Submission


@require_GET
@login_required
def submission_list(request: HtmxHttpRequest, submitter_id: int) -> HttpResponse:
    submitter = access.get_submitter_or_404(request.user, submitter_id)
    audit.record(request, AuditEventKind.SUBMISSIONS_VIEWED, submitter=submitter)
    page = Paginator(selectors.submission_list(submitter=submitter), settings.SUBMISSION_PAGE_SIZE).get_page(
        request.GET.get("side")
    )
    context = {"submitter": submitter, "page": page}
    if request.htmx and request.htmx.target == "submission-results":
        return render(request, "submissions/submission_list.html#results", context)
    return render(request, "submissions/submission_list.html", context)


@require_GET
@login_required
def submission_detail(request: HtmxHttpRequest, submitter_id: int, submission_id: int) -> HttpResponse:
    submitter, submission = selectors.get_submission_or_404(request.user, submitter_id, submission_id)
    audit.record(
        request, AuditEventKind.RECEIPT_VIEWED, submitter=submitter, object_type="submission", object_id=submission.pk
    )
    return render(
        request,
        "submissions/submission_detail.html",
        {"submitter": submitter, "submission": submission, "receipt": submission.receipt},
    )


@require_http_methods(["GET", "POST"])
@login_required
def test_message(request: HtmxHttpRequest) -> HttpResponse:
    """Validate a message exactly as the API would, and store nothing at all."""
    form = TestMessageForm(*(request.POST, request.FILES) if request.method == "POST" else ())
    outcome = None
    if request.method == "POST" and form.is_valid():
        visible = access.submitters_visible_to(request.user).values_list("id", flat=True)
        outcome = submission_receive(
            body=form.cleaned_data["body"],
            sender=Sender(org_numbers=frozenset(), submitter_ids=frozenset(visible)),
            validate_only=True,
            store=False,
            channel=Submission.Channel.PORTAL,
        )
    return render(request, "submissions/test_message.html", {"form": form, "outcome": outcome})
