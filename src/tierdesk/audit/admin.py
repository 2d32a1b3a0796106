"""Read-only admin view of the audit trail."""

from django.contrib import admin

from tierdesk.audit.models import AuditEvent
from tierdesk.common.admin import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "event_type", "target_repr", "actor_label", "organisation", "request_id"]
    list_filter = ["event_type"]
    search_fields = ["target_repr", "request_id"]
    list_select_related = ["organisation"]
    show_full_result_count = False
