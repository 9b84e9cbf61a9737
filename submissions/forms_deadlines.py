"""Forms for deadlines and extensions (Designsystemet markup comes from portal.forms' mixin)."""

from __future__ import annotations

from collections.abc import Iterable

from django import forms
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from portal.forms import DesignsystemetFormMixin
from portal.models import Register, Submitter
from portal.validators import validate_free_text
from submissions.models import Deadline, Extension, MessageKind


class DateInput(forms.DateInput):
    """The browser's date picker; the value travels as YYYY-MM-DD whatever the language."""

    input_type = "date"

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


def deadline_choice_label(deadline: Deadline) -> str:
    return _("%(register)s %(period)s, deadline %(date)s") % {
        "register": deadline.register,
        "period": deadline.period_display,
        "date": date_format(deadline.due_date, "DATE_FORMAT"),
    }


class ExtensionApplyForm(DesignsystemetFormMixin, forms.Form):
    deadline = forms.TypedChoiceField(label=_("Period"), coerce=int)
    requested_date = forms.DateField(
        label=_("New deadline you ask for"),
        widget=DateInput(),
        help_text=_("Must be after the current deadline. The deadline is the end of that day."),
    )
    justification = forms.CharField(
        label=_("Justification"),
        widget=forms.Textarea(attrs={"rows": 5}),
        max_length=4000,
        validators=[validate_free_text],
        help_text=_("Why do you need more time? The registry reads this when deciding."),
        error_messages={"required": _("Explain why you need more time.")},
    )

    def __init__(self, *args: object, deadlines: Iterable[Deadline] = (), **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.deadlines = {deadline.pk: deadline for deadline in deadlines}
        self.fields["deadline"].choices = [
            ("", _("Choose a period")),
            *[(deadline.pk, deadline_choice_label(deadline)) for deadline in self.deadlines.values()],
        ]

    def clean_deadline(self) -> Deadline:
        return self.deadlines[self.cleaned_data["deadline"]]


class ExtensionQueueFilterForm(DesignsystemetFormMixin, forms.Form):
    register = forms.ChoiceField(
        label=_("Register"), required=False, choices=[("", _("All registers")), *Register.choices]
    )
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All statuses")), *Extension.Status.choices]
    )


class ExtensionDecisionForm(DesignsystemetFormMixin, forms.Form):
    GRANT, REFUSE = "grant", "refuse"

    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[(GRANT, _("Grant")), (REFUSE, _("Refuse"))],
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose whether to grant or refuse.")},
    )
    granted_date = forms.DateField(
        label=_("New deadline"),
        required=False,
        widget=DateInput(),
        help_text=_("When granting: the requested date, or another one after the old deadline."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        max_length=4000,
        validators=[validate_free_text],
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Required when refusing. The submitter sees it and gets it by e-mail."),
    )

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("decision") == self.REFUSE and not (cleaned.get("reason") or "").strip():
            self.add_error("reason", _("Give the reason for the refusal; the submitter sees it."))
        return cleaned


class DeadlineForm(DesignsystemetFormMixin, forms.Form):
    register = forms.ChoiceField(label=_("Register"), choices=Register.choices)
    submitter_kinds = forms.MultipleChoiceField(
        label=_("Applies to"),
        choices=Submitter.Kind.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Submitters of these kinds that report to the register."),
        error_messages={"required": _("Choose at least one kind of submitter.")},
    )
    period_start = forms.DateField(label=_("Period from"), widget=DateInput())
    period_end = forms.DateField(label=_("Period to"), widget=DateInput())
    due_date = forms.DateField(
        label=_("Deadline"), widget=DateInput(), help_text=_("The deadline is the end of this day, Norwegian time.")
    )
    cumulative = forms.BooleanField(
        label=_("Cumulative from 1 January"),
        required=False,
        help_text=_("The files must always contain data from 1 January; a later file replaces an earlier one."),
    )
    message_kinds = forms.MultipleChoiceField(
        label=_("Expected messages"),
        choices=MessageKind.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one message.")},
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        for name in ("submitter_kinds", "message_kinds", "cumulative"):
            self.fields[name].widget.attrs.pop("class", None)
