from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from portal.models import (
    AuditEvent,
    ContactPerson,
    ContactType,
    EpjVendor,
    ExternalIdentity,
    Membership,
    Municipality,
    ServiceArea,
    Submitter,
    User,
)


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


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(admin.ModelAdmin):
    """Which HelseID person signs in as which user. Made at sign-in or with `manage.py link_identity`
    (the subject is a keyed hash: there is nothing meaningful to type in); removing one unlinks."""

    list_display = ["user", "issuer", "created_at", "last_sign_in_at"]
    list_filter = ["issuer"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    raw_id_fields = ["user"]
    readonly_fields = ["user", "issuer", "subject_hash", "created_at", "last_sign_in_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only (the model, its queryset and, on PostgreSQL, a trigger
    refuse changes). Registry staff search it at /revisjonslogg/."""

    list_display = ["at", "kind", "username", "submitter_id", "object_type", "object_id", "ip"]
    list_filter = ["kind"]
    search_fields = ["=username", "=submitter_id", "=object_id", "=ip"]
    date_hierarchy = "at"
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
