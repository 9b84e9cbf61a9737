from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from portal.models import ContactPerson, ContactType, EpjVendor, Membership, Municipality, ServiceArea, Submitter, User


class SubmitterAdminForm(forms.ModelForm):
    service_areas = forms.MultipleChoiceField(
        choices=ServiceArea.choices, required=False, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Submitter
        fields = [
            "name",
            "kind",
            "sector",
            "org_number",
            "her_id",
            "reports_npr",
            "reports_kpr",
            "service_areas",
            "municipality_number",
            "epj_vendor",
        ]


class ContactPersonAdminForm(forms.ModelForm):
    contact_types = forms.TypedMultipleChoiceField(
        choices=ContactType.choices, coerce=int, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = ContactPerson
        fields = ["name", "email", "mobile", "contact_types", "source"]


class ContactPersonInline(admin.TabularInline):
    model = ContactPerson
    form = ContactPersonAdminForm
    extra = 0


@admin.register(Submitter)
class SubmitterAdmin(admin.ModelAdmin):
    form = SubmitterAdminForm
    list_display = ["name", "kind", "sector", "org_number", "her_id", "reports_npr", "reports_kpr", "epj_vendor"]
    list_filter = ["kind", "sector", "reports_npr", "reports_kpr", "epj_vendor"]
    search_fields = ["name", "=org_number", "=municipality_number"]
    list_select_related = ["epj_vendor"]
    show_full_result_count = False
    inlines = [ContactPersonInline]


@admin.register(EpjVendor)
class EpjVendorAdmin(admin.ModelAdmin):
    list_display = ["name", "org_number"]
    search_fields = ["name", "=org_number"]


@admin.register(Municipality)
class MunicipalityAdmin(admin.ModelAdmin):
    list_display = ["number", "name", "valid_from", "valid_to"]
    search_fields = ["=number", "name"]
    list_filter = ["valid_from"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "submitter", "created_at"]
    raw_id_fields = ["user", "submitter"]
    search_fields = ["user__username", "submitter__name"]


@admin.register(User)
class PortalUserAdmin(UserAdmin):
    fieldsets = [
        *UserAdmin.fieldsets,
        ("Registerportalen", {"fields": ["registry_role", "epj_vendor"]}),
    ]
    list_display = ["username", "email", "registry_role", "epj_vendor", "is_active"]
    list_filter = ["registry_role", "is_active", "epj_vendor"]
