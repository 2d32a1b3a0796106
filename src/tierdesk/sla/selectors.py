"""Reads of business calendars: the compiled schedule of a calendar, cached per process."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tierdesk.common.process_cache import ProcessCache
from tierdesk.sla.business_time import Schedule, always_open
from tierdesk.sla.choices import DateKind, TargetKind
from tierdesk.sla.models import BusinessCalendar

# How long another process may keep using a schedule after an administrator changed its
# calendar. The process that made the change drops its schedules at once (forget_schedules runs
# on save/delete and on commit); the others see the change within this many seconds.
SCHEDULE_TTL_SECONDS = 5.0
# An unchanged calendar keeps its schedule object, whose year tables are already built.
_schedules: ProcessCache[int, Schedule] = ProcessCache(lambda: SCHEDULE_TTL_SECONDS, keep_equal=True)


def schedule_for(calendar_id: int) -> Schedule:
    """The compiled schedule of a calendar (read from the database at most every few seconds
    per process; inactive calendars too, since tickets already under one still run on it).

    Raises ``BusinessCalendar.DoesNotExist`` for an unknown id.
    """
    return _schedules.get(calendar_id, lambda: compile_schedule(BusinessCalendar.objects.get(pk=calendar_id)))


def compile_schedule(calendar: BusinessCalendar) -> Schedule:
    """A calendar's rows as a :class:`Schedule` (two queries: its hours and its dates)."""
    if calendar.is_24x7:
        return always_open(calendar.time_zone)
    weekly: dict[int, list[tuple[dt.time, dt.time]]] = {}
    for weekday, start, end in calendar.working_hours.values_list("weekday", "start", "end"):
        weekly.setdefault(weekday, []).append((start, end))
    days_off: list[dt.date] = []
    working_days: dict[dt.date, tuple[dt.time | None, dt.time | None]] = {}
    for day, kind, from_time, until in calendar.dates.values_list("date", "kind", "start", "end"):
        if kind == DateKind.HOLIDAY:
            days_off.append(day)
        else:
            working_days[day] = (from_time, until)
    return Schedule.build(
        time_zone=calendar.time_zone,
        weekly=weekly,
        days_off=days_off,
        working_days=working_days,
        holiday_country=calendar.holiday_country,
        holiday_subdivision=calendar.holiday_subdivision,
    )


def default_calendar() -> BusinessCalendar | None:
    """The active default calendar, used where a service level names none (``None`` if the
    administrators have unset it)."""
    return BusinessCalendar.objects.filter(is_default=True, is_active=True).first()


def active_calendars() -> list[BusinessCalendar]:
    """Calendars a service level may be given, by name."""
    return list(BusinessCalendar.objects.filter(is_active=True).order_by("name"))


def forget_schedules(**_kwargs: Any) -> None:
    """Drop this process's schedules now and when the current transaction commits, so a change
    is seen by the next request here, and never hidden by a schedule read before it."""
    _schedules.forget()


# --- Service levels, cached per process ---------------------------------------------------------


@dataclass(frozen=True)
class RuleView:
    """An active escalation rule as the sweep reads it."""

    id: int
    target: str
    percent: int
    action: str
    notify_id: int | None


@dataclass(frozen=True)
class PolicyView:
    """A service level as the clock reads it (an immutable snapshot of its rows)."""

    id: int
    name: str
    calendar_id: int | None
    pause_statuses: frozenset[str]
    excluded_line_ids: frozenset[int]
    targets: Mapping[tuple[int, str], dt.timedelta]
    # The percents of its targets at which something may happen (escalation rules and the
    # breach at 100), ascending: the moments the sweep must look at a ticket.
    check_percents: tuple[int, ...]
    rules: tuple[RuleView, ...] = ()

    def target(self, priority: int, kind: str) -> dt.timedelta | None:
        return self.targets.get((priority, kind))


@dataclass(frozen=True)
class ServiceLevels:
    """Every active service level, the agreements that choose them and the default."""

    policies: Mapping[int, PolicyView]
    # (organisation, category or None, type or "") -> policy id
    agreements: Mapping[tuple[int, int | None, str], int]
    default_policy_id: int | None
    default_calendar_id: int | None

    def policy_for(self, ticket: Any) -> PolicyView | None:
        """The most specific agreement of the ticket's organisation (category and type, then
        category, then type, then the organisation), else the default service level."""
        org, category, kind = ticket.organisation_id, ticket.category_id, ticket.type
        for key in ((org, category, kind), (org, category, ""), (org, None, kind), (org, None, "")):
            policy_id = self.agreements.get(key)
            if policy_id is not None and policy_id in self.policies:
                return self.policies[policy_id]
        return self.policies.get(self.default_policy_id) if self.default_policy_id else None


_service_levels: ProcessCache[None, ServiceLevels] = ProcessCache(lambda: SCHEDULE_TTL_SECONDS)


def service_levels() -> ServiceLevels:
    """The service levels snapshot (read at most every few seconds per process; dropped at
    once here when one of their rows changes)."""
    return _service_levels.get(None, _read_service_levels)


def _read_service_levels() -> ServiceLevels:
    from tierdesk.sla.models import EscalationRule, ServiceAgreement, SlaPolicy, SlaTarget

    targets: dict[int, dict[tuple[int, str], dt.timedelta]] = {}
    for policy_id, priority, first, resolution, following in SlaTarget.objects.values_list(
        "policy_id", "priority", "first_response_minutes", "resolution_minutes", "next_response_minutes"
    ):
        cells = targets.setdefault(policy_id, {})
        for kind, minutes in (
            (TargetKind.FIRST_RESPONSE, first),
            (TargetKind.RESOLUTION, resolution),
            (TargetKind.NEXT_RESPONSE, following),
        ):
            if minutes:
                cells[(priority, kind)] = dt.timedelta(minutes=minutes)
    rules: dict[int | None, list[RuleView]] = {}
    for rule_id, policy_id, target, percent, action, notify_id in (
        EscalationRule.objects.filter(is_active=True)
        .order_by("percent", "id")
        .values_list("id", "policy_id", "target", "percent", "action", "notify_id")
    ):
        rules.setdefault(policy_id, []).append(RuleView(rule_id, target, percent, action, notify_id))
    excluded: dict[int, set[int]] = {}
    for policy_id, line_id in SlaPolicy.excluded_lines.through.objects.values_list(
        "slapolicy_id", "supportline_id"
    ):
        excluded.setdefault(policy_id, set()).add(line_id)
    policies = {}
    default_policy_id = None
    for policy in SlaPolicy.objects.filter(is_active=True):
        own_rules = sorted([*rules.get(None, ()), *rules.get(policy.pk, ())], key=lambda r: (r.percent, r.id))
        policies[policy.pk] = PolicyView(
            id=policy.pk,
            name=policy.name,
            calendar_id=policy.calendar_id,
            pause_statuses=frozenset(policy.pause_statuses or ()),
            excluded_line_ids=frozenset(excluded.get(policy.pk, ())),
            targets=targets.get(policy.pk, {}),
            check_percents=tuple(sorted({100} | {r.percent for r in own_rules})),
            rules=tuple(own_rules),
        )
        if policy.is_default:
            default_policy_id = policy.pk
    default = default_calendar()
    return ServiceLevels(
        policies=policies,
        agreements={
            (org, category, kind): policy
            for org, category, kind, policy in ServiceAgreement.objects.values_list(
                "organisation_id", "category_id", "ticket_type", "policy_id"
            )
        },
        default_policy_id=default_policy_id,
        default_calendar_id=default.pk if default else None,
    )


def schedule_for_policy(policy: PolicyView) -> Schedule:
    """The schedule a policy's clock runs on: its calendar, else the default, else 24/7 UTC."""
    calendar_id = policy.calendar_id or service_levels().default_calendar_id
    return schedule_for(calendar_id) if calendar_id else always_open()


def forget_service_levels(**_kwargs: Any) -> None:
    """Drop this process's service-level snapshot now and when the transaction commits."""
    _service_levels.forget()
