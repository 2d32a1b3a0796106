from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SlaConfig(AppConfig):
    """Service levels: business calendars, SLA policies, the ticket clock, escalation rules, the sweep."""

    name = "tierdesk.sla"
    label = "sla"
    verbose_name = _("Service levels")

    def ready(self) -> None:
        # Any write of a calendar, its hours or its dates (services, admin, tests, data fixes in
        # a shell) drops this process's compiled schedules. Other processes follow within
        # selectors.SCHEDULE_TTL_SECONDS. This is cache upkeep, not audit: audit is explicit in
        # the services.
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from tierdesk.sla.models import (
            BusinessCalendar,
            CalendarDate,
            EscalationRule,
            ServiceAgreement,
            SlaPolicy,
            SlaTarget,
            WorkingHours,
        )
        from tierdesk.sla.selectors import forget_schedules, forget_service_levels

        for model in (BusinessCalendar, WorkingHours, CalendarDate):
            for signal in (post_save, post_delete):
                signal.connect(forget_schedules, sender=model, dispatch_uid=f"sla-schedule-{model.__name__}")
        # The same for the service levels: policies, their targets, agreements and rules.
        for level_model in (SlaPolicy, SlaTarget, ServiceAgreement, EscalationRule):
            for signal in (post_save, post_delete):
                uid = f"sla-levels-{level_model.__name__}"
                signal.connect(forget_service_levels, sender=level_model, dispatch_uid=uid)
        m2m_changed.connect(
            forget_service_levels, sender=SlaPolicy.excluded_lines.through, dispatch_uid="sla-levels-lines"
        )
