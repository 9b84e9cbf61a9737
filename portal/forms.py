from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from portal.lib.norway import NumberError, normalize_norwegian_mobile
from portal.models import AuditEventKind, ContactType, Register, Submitter
from portal.validators import MOBILE_MESSAGES, validate_free_text


class DesignsystemetFormMixin:
    """Gives widgets Designsystemet classes and ties errors to inputs for screen readers."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        for field in self.fields.values():  # type: ignore[attr-defined]
            field.widget.attrs.setdefault("class", "ds-input")

    def full_clean(self) -> None:
        super().full_clean()  # type: ignore[misc]
        for name in self.errors:  # type: ignore[attr-defined]
            if name not in self.fields:  # type: ignore[attr-defined]
                continue
            bound = self[name]  # type: ignore[index]
            described_by = [f"{bound.auto_id}_error"]
            if bound.help_text:
                described_by.append(f"{bound.auto_id}_helptext")
            bound.field.widget.attrs["aria-invalid"] = "true"
            bound.field.widget.attrs["aria-describedby"] = " ".join(described_by)


class SignInForm(DesignsystemetFormMixin, AuthenticationForm):
    error_messages = {
        "invalid_login": _("Wrong username or password. Both are case-sensitive."),
        "inactive": _("This account is deactivated. Contact the registry."),
    }

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].label = _("Username")
        self.fields["password"].label = _("Password")


class ContactForm(DesignsystemetFormMixin, forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200, validators=[validate_free_text])
    email = forms.EmailField(
        label=_("E-mail"),
        help_text=_("The feedback archives are sent to this address."),
    )
    mobile = forms.CharField(
        label=_("Mobile number"),
        max_length=32,
        required=False,
        help_text=_("Norwegian mobile number, e.g. 912 34 567. The password for the feedback is sent here by SMS."),
    )
    contact_types = forms.TypedMultipleChoiceField(
        label=_("Contact types"),
        choices=ContactType.choices,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one contact type.")},
    )

    def clean_mobile(self) -> str:
        mobile = self.cleaned_data["mobile"].strip()
        if not mobile:
            return ""
        try:
            return normalize_norwegian_mobile(mobile)
        except NumberError as error:
            raise forms.ValidationError(MOBILE_MESSAGES[error.code]) from None


class SubmitterSearchForm(DesignsystemetFormMixin, forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=200,
        help_text=_("Name, organisation number, HER-id or municipality number."),
    )
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=[("", _("All kinds")), *Submitter.Kind.choices])
    register = forms.ChoiceField(
        label=_("Register"), required=False, choices=[("", _("All registers")), *Register.choices]
    )


class AuditSearchForm(DesignsystemetFormMixin, forms.Form):
    user = forms.CharField(label=_("User"), required=False, max_length=150, help_text=_("Username, or part of it."))
    kind = forms.ChoiceField(label=_("Event"), required=False, choices=[("", _("All events")), *AuditEventKind.choices])
    submitter = forms.CharField(
        label=_("Submitter"),
        required=False,
        max_length=200,
        help_text=_("Name, organisation number or id."),
    )
    date_from = forms.DateField(label=_("From date"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To date"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", _("The end date is before the start date."))
        return cleaned
