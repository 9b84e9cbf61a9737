"""Forms for the daily view and the registry's overview (filters travel in the query string)."""

from __future__ import annotations

from collections.abc import Iterable

from django import forms
from django.utils.translation import gettext_lazy as _

from portal.forms import DesignsystemetFormMixin
from portal.models import EpjVendor, Register, Submitter
from portal.validators import validate_free_text
from submissions.daily_overview import COUNTIES
from submissions.daily_view import Category

COMMENT_MAX_LENGTH = 2000


class DailyFilterForm(DesignsystemetFormMixin, forms.Form):
    """Register, year and category; choices are what the submitter has (the view fills them in)."""

    register = forms.ChoiceField(label=_("Register"), required=False)
    aar = forms.TypedChoiceField(label=_("Year"), coerce=int, required=False, empty_value=None)
    kategori = forms.ChoiceField(label=_("Category"), required=False)

    def __init__(
        self,
        *args: object,
        registers: Iterable[str] = (),
        years: Iterable[int] = (),
        categories: Iterable[Category] = (),
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["register"].choices = [(register, register) for register in registers]
        self.fields["aar"].choices = [(year, str(year)) for year in years]
        grouped: dict[str, list[tuple[str, str]]] = {}
        for category in categories:
            grouped.setdefault(str(category.dimension_label), []).append((category.key, category.label))
        self.fields["kategori"].choices = [("", _("All categories")), *grouped.items()]


class ChangeCommentForm(DesignsystemetFormMixin, forms.Form):
    register = forms.ChoiceField(choices=Register.choices, widget=forms.HiddenInput)
    aar = forms.IntegerField(widget=forms.HiddenInput)
    kategori = forms.CharField(max_length=64, widget=forms.HiddenInput)
    text = forms.CharField(
        label=_("Explain the change"),
        max_length=COMMENT_MAX_LENGTH,
        validators=[validate_free_text],
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("The registry reads this, e.g. for its yearly note. Do not write anything about patients."),
        error_messages={"required": _("Write what caused the change.")},
    )


class OverviewFilterForm(DesignsystemetFormMixin, forms.Form):
    aar = forms.TypedChoiceField(label=_("Year"), coerce=int, required=False, empty_value=None)
    register = forms.ChoiceField(label=_("Register"), required=False)
    type = forms.ChoiceField(label=_("Kind of submitter"), required=False)
    fylke = forms.ChoiceField(label=_("County (municipalities)"), required=False)
    sektor = forms.ChoiceField(label=_("Public or private"), required=False)
    leverandor = forms.TypedChoiceField(label=_("EPJ vendor"), coerce=int, required=False, empty_value=None)

    def __init__(self, *args: object, years: Iterable[int] = (), vendors: Iterable[EpjVendor] = (), **kwargs: object):
        super().__init__(*args, **kwargs)
        self.fields["aar"].choices = [(year, str(year)) for year in years]
        self.fields["register"].choices = [("", _("Both registers")), *Register.choices]
        self.fields["type"].choices = [("", _("All kinds")), *Submitter.Kind.choices]
        self.fields["fylke"].choices = [("", _("All counties")), *((n, f"{n} {name}") for n, name in COUNTIES.items())]
        self.fields["sektor"].choices = [("", _("Public and private")), *Submitter.Sector.choices]
        self.fields["leverandor"].choices = [("", _("All vendors")), *((v.pk, v.name) for v in vendors)]
