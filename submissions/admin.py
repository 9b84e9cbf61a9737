"""Admin for registry administrators: API clients are managed here; what arrived is read-only."""

from __future__ import annotations

from django.contrib import admin

from submissions.models import ApiClient, Deadline, Extension, Submission


class ReadOnlyAdmin(admin.ModelAdmin):
    # Received data and decisions are changed only through intake and the portal's workflows.
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    list_display = ["name", "client_id", "org_number", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "=client_id", "=org_number"]
    readonly_fields = ["created_at", "created_by"]

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Submission)
class SubmissionAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "submitter", "register", "kind", "mode", "status", "validate_only", "count_received"]
    list_filter = ["register", "kind", "mode", "status", "validate_only", "channel"]
    search_fields = ["=message_id", "submitter__name", "=submitter__org_number"]
    list_select_related = ["submitter"]
    show_full_result_count = False
    date_hierarchy = "received_at"


@admin.register(Deadline)
class DeadlineAdmin(ReadOnlyAdmin):
    list_display = ["register", "period_start", "period_end", "due_date", "cumulative"]
    list_filter = ["register"]


@admin.register(Extension)
class ExtensionAdmin(ReadOnlyAdmin):
    list_display = ["submitter", "deadline", "status", "requested_date", "granted_date", "requested_at"]
    list_filter = ["status"]
    list_select_related = ["submitter", "deadline"]
