from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from portal.forms import DesignsystemetFormMixin


class TestMessageForm(DesignsystemetFormMixin, forms.Form):
    file = forms.FileField(
        label=_("Message file (JSON)"),
        required=False,
        help_text=_("Choose the file your patient-record system produced, or paste the message below."),
    )
    text = forms.CharField(
        label=_("Or paste the message"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false", "class": "ds-input monospace"}),
    )

    def clean(self) -> dict:
        cleaned = super().clean()
        upload = cleaned.get("file")
        text = cleaned.get("text") or ""
        if upload and text.strip():
            raise forms.ValidationError(_("Choose a file or paste a message, not both."))
        if upload:
            if upload.size > settings.INTAKE_MAX_BODY_BYTES:
                raise forms.ValidationError(
                    _("The file is larger than %(mb)d MB.") % {"mb": settings.INTAKE_MAX_BODY_BYTES // 2**20}
                )
            cleaned["body"] = upload.read()
        elif text.strip():
            cleaned["body"] = text.encode("utf-8")
        else:
            raise forms.ValidationError(_("Choose a message file or paste a message."))
        return cleaned
