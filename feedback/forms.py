from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.forms import DesignsystemetFormMixin
from portal.models import ContactPerson, Register, Submitter


class ActivityRequestForm(DesignsystemetFormMixin, forms.Form):
    register = forms.ChoiceField(label=_("Register"))
    year = forms.IntegerField(label=_("Year"))

    def __init__(self, *args, submitter: Submitter, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["register"].choices = [(r, Register(r).label) for r in submitter.registers]
        this_year = timezone.localdate().year
        self.fields["year"].widget.attrs.update(min=this_year - 5, max=this_year)
        self.fields["year"].initial = this_year - 1 if timezone.localdate().month < 3 else this_year

    def clean_year(self) -> int:
        year = self.cleaned_data["year"]
        this_year = timezone.localdate().year
        if not this_year - 5 <= year <= this_year:
            raise forms.ValidationError(
                _("Choose a year from %(first)s to %(last)s.") % {"first": this_year - 5, "last": this_year}
            )
        return year


class PasswordResendForm(DesignsystemetFormMixin, forms.Form):
    contact = forms.ModelChoiceField(queryset=ContactPerson.objects.none(), label=_("Contact person"))

    def __init__(self, *args, contacts: list[ContactPerson], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["contact"].queryset = ContactPerson.objects.filter(pk__in=[c.pk for c in contacts])
        self.fields["contact"].label_from_instance = lambda c: f"{c.name} ({c.mobile})"
