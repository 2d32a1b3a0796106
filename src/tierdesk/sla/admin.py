"""Admin for business calendars (with their working hours and dates) and service levels (with
their targets, agreements and escalation rules); SLA outcomes read-only. Every save goes through
``tierdesk.sla.services`` (validated, audited, dropping the cached snapshots)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest

from tierdesk.common.admin import NoDeleteAdmin, ReadOnlyAdmin, admin_actor
from tierdesk.sla import services
from tierdesk.sla.models import (
    BusinessCalendar,
    CalendarDate,
    EscalationRule,
    ServiceAgreement,
    SlaOutcome,
    SlaPolicy,
    SlaTarget,
    WorkingHours,
    validate_working_hours,
)


class WorkingHoursFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        # The rows of one day are checked against each other here, so overlapping intervals
        # come back as a form error instead of failing the save.
        validate_working_hours(_kept_hours(self))


def _kept_hours(formset: BaseInlineFormSet) -> list[services.Interval]:
    rows = []
    for form in formset.forms:
        data = getattr(form, "cleaned_data", None) or {}
        if data.get("DELETE") or not all(data.get(key) is not None for key in ("weekday", "start", "end")):
            continue
        rows.append((int(data["weekday"]), data["start"], data["end"]))
    return rows


class WorkingHoursInline(admin.TabularInline):
    model = WorkingHours
    formset = WorkingHoursFormSet
    extra = 0


class CalendarDateInline(admin.TabularInline):
    model = CalendarDate
    extra = 0
    ordering = ["-date"]


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(NoDeleteAdmin):
    list_display = ["name", "time_zone", "is_24x7", "holiday_country", "is_default", "is_active"]
    list_filter = ["is_active", "is_24x7"]
    search_fields = ["name"]
    inlines = [WorkingHoursInline, CalendarDateInline]

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm[Any], change: bool) -> None:
        services.save_calendar(obj, actor=admin_actor(request))

    def save_related(self, request: HttpRequest, form: ModelForm[Any], formsets: Any, change: bool) -> None:
        # The week is replaced as a whole (one audit event); dates are added, changed and
        # removed one by one.
        calendar = form.instance
        actor = admin_actor(request)
        for formset in formsets:
            # What formset.save() would have recorded, for the admin's own change message.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            if formset.model is WorkingHours:
                services.set_working_hours(calendar, intervals=_kept_hours(formset), actor=actor)
            elif formset.model is CalendarDate:
                for date_form in formset.forms:
                    entry = date_form.instance
                    if date_form in formset.deleted_forms:
                        if entry.pk is not None:
                            services.remove_calendar_date(entry, actor=actor)
                            formset.deleted_objects.append(entry)
                    elif date_form.has_changed():
                        is_new = entry.pk is None
                        entry = date_form.save(commit=False)
                        entry.calendar = calendar
                        services.save_calendar_date(entry, actor=actor)
                        if is_new:
                            formset.new_objects.append(entry)
                        else:
                            formset.changed_objects.append((entry, date_form.changed_data))


# --- Service levels -------------------------------------------------------------------------------


class SlaTargetInline(admin.TabularInline):
    model = SlaTarget
    extra = 0


@admin.register(SlaPolicy)
class SlaPolicyAdmin(NoDeleteAdmin):
    """Service levels with their targets per priority; saved through the services (audited,
    open tickets' deadlines recomputed in the background)."""

    list_display = ["name", "calendar", "is_default", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    filter_horizontal = ["excluded_lines"]
    inlines = [SlaTargetInline]

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm[Any], change: bool) -> None:
        services.save_service_level(obj, actor=admin_actor(request))

    def save_related(self, request: HttpRequest, form: ModelForm[Any], formsets: Any, change: bool) -> None:
        policy = form.instance
        actor = admin_actor(request)
        services.set_excluded_lines(policy, lines=list(form.cleaned_data["excluded_lines"]), actor=actor)
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            for target_form in formset.forms:
                if target_form in formset.deleted_forms:
                    if target_form.instance.pk is not None:
                        services.delete_sla_target(target_form.instance, actor=actor)
                        formset.deleted_objects.append(target_form.instance)
                elif target_form.has_changed():
                    is_new = target_form.instance.pk is None
                    target = target_form.save(commit=False)
                    target.policy = policy
                    services.save_service_level(target, actor=actor)
                    if is_new:
                        formset.new_objects.append(target)
                    else:
                        formset.changed_objects.append((target, target_form.changed_data))


class LevelAdmin(NoDeleteAdmin):
    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm[Any], change: bool) -> None:
        services.save_service_level(obj, actor=admin_actor(request))


@admin.register(ServiceAgreement)
class ServiceAgreementAdmin(LevelAdmin):
    list_display = ["organisation", "category", "ticket_type", "policy"]
    list_filter = ["policy"]
    autocomplete_fields = ["organisation"]


@admin.register(EscalationRule)
class EscalationRuleAdmin(LevelAdmin):
    list_display = ["target", "percent", "action", "notify", "policy", "is_active"]
    list_filter = ["target", "action", "is_active"]
    autocomplete_fields = ["notify"]


@admin.register(SlaOutcome)
class SlaOutcomeAdmin(ReadOnlyAdmin):
    list_display = ["ticket", "target", "cycle", "breached", "due_at", "achieved_at", "organisation"]
    list_filter = ["target", "breached", "policy"]
    date_hierarchy = "recorded_at"
