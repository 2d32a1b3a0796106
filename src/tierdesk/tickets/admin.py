"""Admin for the desk's configuration (lines, teams, matrix, categories, settings) and a
read-only view of tickets. Saves go through ``services.save_desk_configuration`` (audited)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from tierdesk.common.admin import NoDeleteAdmin, ReadOnlyAdmin, admin_actor
from tierdesk.tickets import services
from tierdesk.tickets.models import Category, DeskSettings, PriorityMatrixEntry, SupportLine, Team, Ticket


class ConfigAdmin(NoDeleteAdmin):
    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm[Any], change: bool) -> None:
        services.save_desk_configuration(obj, actor=admin_actor(request))


@admin.register(SupportLine)
class SupportLineAdmin(ConfigAdmin):
    list_display = ["code", "level", "name", "may_contact_customer", "time_budget_minutes", "is_active"]
    list_editable = ["may_contact_customer", "time_budget_minutes", "is_active"]


@admin.register(Team)
class TeamAdmin(ConfigAdmin):
    list_display = ["name", "line", "lead", "serves_all_organisations", "is_active"]
    list_filter = ["line", "is_active"]
    filter_horizontal = ["members", "organisations"]
    autocomplete_fields = ["lead"]

    def save_related(self, request: HttpRequest, form: ModelForm[Any], formsets: Any, change: bool) -> None:
        # Membership and served organisations are audited changes of the team, not raw M2M writes.
        team = form.instance
        services.set_team_members(
            team, members=list(form.cleaned_data["members"]), actor=admin_actor(request)
        )
        services.set_team_organisations(
            team,
            organisations=list(form.cleaned_data["organisations"]),
            actor=admin_actor(request),
        )


@admin.register(PriorityMatrixEntry)
class PriorityMatrixAdmin(ConfigAdmin):
    list_display = ["impact", "urgency", "priority"]
    list_editable = ["priority"]
    readonly_fields = ["impact", "urgency"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Category)
class CategoryAdmin(ConfigAdmin):
    list_display = ["__str__", "parent", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name"]


@admin.register(DeskSettings)
class DeskSettingsAdmin(ConfigAdmin):
    list_display = ["__str__", "reopen_window_days"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not DeskSettings.objects.exists()


@admin.register(Ticket)
class TicketAdmin(ReadOnlyAdmin):
    list_display = [
        "number",
        "subject",
        "organisation",
        "status",
        "priority",
        "current_line",
        "assignee",
        "created_at",
    ]
    list_filter = ["status", "current_line", "priority", "type"]
    search_fields = ["subject"]
    list_select_related = ["organisation", "current_line", "assignee"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Ticket]:
        return Ticket.objects.restrict(admin_actor(request))
