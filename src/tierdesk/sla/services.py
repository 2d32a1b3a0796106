"""Writes of the SLA app: audited edits of business calendars and service levels by
administrators, the records of the ticket clock, and the sweep that breaches, warns and
escalates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from tierdesk.audit.choices import EventType
from tierdesk.audit.models import AuditEvent
from tierdesk.audit.services import (
    _jsonable,
    diff,
    record_config_change,
    record_event,
    stored_snapshot,
    take_over_default,
)
from tierdesk.common.bulk import update_rows
from tierdesk.common.context import request_id
from tierdesk.common.errors import DomainError, NotPermitted
from tierdesk.mail.outgoing import queue_sla_notifications
from tierdesk.sla import clock
from tierdesk.sla.choices import DateKind, EscalationAction, SlaState, TargetKind
from tierdesk.sla.clock import Verdict
from tierdesk.sla.models import (
    BusinessCalendar,
    CalendarDate,
    EscalationFiring,
    EscalationRule,
    ServiceAgreement,
    SlaOutcome,
    SlaPolicy,
    SlaTarget,
    WorkingHours,
    validate_working_hours,
)
from tierdesk.sla.selectors import (
    PolicyView,
    RuleView,
    forget_schedules,
    forget_service_levels,
    schedule_for_policy,
    service_levels,
)
from tierdesk.tickets.choices import OPEN_STATUSES, EntryKind
from tierdesk.tickets.models import SupportLine, Team, Ticket, TicketEntry

if TYPE_CHECKING:
    from tierdesk.accounts.models import User
    from tierdesk.sla.business_time import Schedule

# One working interval as services take it: (weekday with Monday 0, start, end).
Interval = tuple[int, dt.time, dt.time]


def _check_admin(actor: User | None) -> None:
    # ``None`` is the system itself (migrations, management commands), as in the other services.
    if actor is not None and not actor.is_admin:
        raise NotPermitted(_("Only administrators can change business calendars."))


@transaction.atomic
def save_calendar(calendar: BusinessCalendar, *, actor: User | None) -> BusinessCalendar:
    """Create or change a business calendar, audited.

    Making a calendar the default takes that role from the previous default (audited as a
    change of that calendar too): there is at most one default.
    """
    _check_admin(actor)
    before = stored_snapshot(calendar, lock=True)
    calendar.full_clean(validate_constraints=False)
    if calendar.is_default:
        take_over_default(calendar, actor=actor, event=EventType.CALENDAR_UPDATED)
    calendar.save()
    forget_schedules()
    _recompute_after_commit()
    record_config_change(
        calendar,
        before=before,
        actor=actor,
        created=EventType.CALENDAR_CREATED,
        updated=EventType.CALENDAR_UPDATED,
    )
    return calendar


def _hours_snapshot(intervals: Iterable[Interval]) -> list[list[Any]]:
    return [[weekday, f"{start:%H:%M}", f"{end:%H:%M}"] for weekday, start, end in sorted(intervals)]


@transaction.atomic
def set_working_hours(
    calendar: BusinessCalendar, *, intervals: Iterable[Interval], actor: User | None
) -> None:
    """Replace a calendar's weekly working hours with ``intervals`` (weekday, start, end),
    audited with the whole week before and after.

    Intervals of a day must not overlap; an end of 00:00 is midnight. A weekday without
    intervals is a day off.
    """
    _check_admin(actor)
    wanted = [(int(weekday), start, end) for weekday, start, end in intervals]
    validate_working_hours(wanted)
    current = list(
        WorkingHours.objects.select_for_update()
        .filter(calendar=calendar)
        .values_list("weekday", "start", "end")
    )
    old, new = _hours_snapshot(current), _hours_snapshot(wanted)
    if old == new:
        return
    WorkingHours.objects.filter(calendar=calendar).delete()
    WorkingHours.objects.bulk_create(
        WorkingHours(calendar=calendar, weekday=weekday, start=start, end=end)
        for weekday, start, end in sorted(wanted)
    )
    forget_schedules()  # bulk_create sends no signal
    record_event(
        calendar,
        event_type=EventType.CALENDAR_HOURS_CHANGED,
        actor=actor,
        organisation=None,
        old={"working_hours": old},
        new={"working_hours": new},
    )


@transaction.atomic
def add_calendar_date(
    calendar: BusinessCalendar,
    *,
    date: dt.date,
    kind: DateKind | str,
    start: dt.time | None = None,
    end: dt.time | None = None,
    note: str = "",
    actor: User | None,
) -> CalendarDate:
    """Add a day off or a working day (optionally with its own start or end) to a calendar,
    audited on the calendar. It wins over the country's holidays; a date may be added once."""
    _check_admin(actor)
    if CalendarDate.objects.filter(calendar=calendar, date=date).exists():
        raise DomainError(
            _("%(date)s is already in this calendar; change or remove it instead.") % {"date": date},
            field="date",
        )
    entry = CalendarDate(calendar=calendar, date=date, kind=kind, start=start, end=end, note=note)
    return save_calendar_date(entry, actor=actor)


@transaction.atomic
def save_calendar_date(entry: CalendarDate, *, actor: User | None) -> CalendarDate:
    """Save a new or changed calendar date, audited on its calendar with the old and new values."""
    _check_admin(actor)
    before: dict[str, Any] = {}
    if entry.pk is not None:
        stored = CalendarDate.objects.filter(pk=entry.pk).first()
        before = stored.audit_snapshot() if stored is not None else {}
    entry.full_clean()
    entry.save()
    forget_schedules()
    _recompute_after_commit()
    if not before:
        record_event(
            entry.calendar,
            event_type=EventType.CALENDAR_DATE_ADDED,
            actor=actor,
            organisation=None,
            new=entry.audit_snapshot(),
        )
        return entry
    old, new = diff(before, entry.audit_snapshot())
    if new:
        # The date stays in both halves, so the event says which day changed.
        record_event(
            entry.calendar,
            event_type=EventType.CALENDAR_DATE_CHANGED,
            actor=actor,
            organisation=None,
            old={"date": before["date"], **old},
            new={"date": entry.date.isoformat(), **new},
        )
    return entry


@transaction.atomic
def remove_calendar_date(entry: CalendarDate, *, actor: User | None) -> None:
    """Remove a date from its calendar (the day follows the week and the country again), audited."""
    _check_admin(actor)
    snapshot = entry.audit_snapshot()
    calendar = entry.calendar
    entry.delete()
    forget_schedules()
    _recompute_after_commit()
    record_event(
        calendar,
        event_type=EventType.CALENDAR_DATE_REMOVED,
        actor=actor,
        organisation=None,
        old=snapshot,
        new=None,
    )


# --- Service levels: policies, targets, agreements, escalation rules -----------------------------

_LEVEL_EVENTS: dict[type, tuple[EventType, EventType]] = {
    SlaPolicy: (EventType.SLA_POLICY_CREATED, EventType.SLA_POLICY_UPDATED),
    SlaTarget: (EventType.SLA_TARGET_CHANGED, EventType.SLA_TARGET_CHANGED),
    ServiceAgreement: (EventType.SLA_AGREEMENT_CHANGED, EventType.SLA_AGREEMENT_CHANGED),
    EscalationRule: (EventType.ESCALATION_RULE_CHANGED, EventType.ESCALATION_RULE_CHANGED),
}


@transaction.atomic
def save_service_level(
    obj: SlaPolicy | SlaTarget | ServiceAgreement | EscalationRule, *, actor: User | None
) -> None:
    """Create or change a service level, one of its targets, an organisation's agreement or an
    escalation rule (administrators only), audited. Tickets pick the change up at their next
    change or sweep: the deadlines already set stay until then.

    Making a policy the default takes that role from the previous default; an organisation has
    at most one agreement per category and ticket type.
    """
    if actor is not None and not actor.is_admin:
        raise NotPermitted(_("Only administrators can change service levels."))
    created_event, updated_event = _LEVEL_EVENTS[type(obj)]
    before = stored_snapshot(obj)
    obj.full_clean(validate_constraints=False)
    if isinstance(obj, ServiceAgreement):
        twin = ServiceAgreement.objects.filter(
            organisation_id=obj.organisation_id, ticket_type=obj.ticket_type
        ).exclude(pk=obj.pk)
        twin = (
            twin.filter(category__isnull=True)
            if obj.category_id is None
            else twin.filter(category_id=obj.category_id)
        )
        if twin.exists():
            raise DomainError(
                _("This organisation already has a service level for that category and type."),
                field="policy",
            )
    if isinstance(obj, SlaPolicy) and obj.is_default:
        take_over_default(obj, actor=actor, event=EventType.SLA_POLICY_UPDATED)
    obj.save()
    forget_service_levels()
    _recompute_after_commit()
    record_config_change(
        obj,
        before=before,
        actor=actor,
        created=created_event,
        updated=updated_event,
        organisation=getattr(obj, "organisation_id", None),
    )


@transaction.atomic
def set_excluded_lines(policy: SlaPolicy, *, lines: list[SupportLine], actor: User | None) -> None:
    """Replace the lines on which a service level's clock stands still (L4 by default), audited."""
    if actor is not None and not actor.is_admin:
        raise NotPermitted(_("Only administrators can change service levels."))
    old = sorted(policy.excluded_lines.values_list("pk", flat=True))
    new = sorted(line.pk for line in lines)
    if old == new:
        return
    policy.excluded_lines.set(lines)
    forget_service_levels()
    _recompute_after_commit()
    record_event(
        policy,
        event_type=EventType.SLA_POLICY_UPDATED,
        actor=actor,
        organisation=None,
        old={"excluded_lines": old},
        new={"excluded_lines": new},
    )


@transaction.atomic
def delete_sla_target(target: SlaTarget, *, actor: User | None) -> None:
    """Remove a service level's targets for one priority (tickets of that priority then have
    none under it), audited."""
    if actor is not None and not actor.is_admin:
        raise NotPermitted(_("Only administrators can change service levels."))
    record_event(
        target,
        event_type=EventType.SLA_TARGET_CHANGED,
        actor=actor,
        organisation=None,
        old=stored_snapshot(target),
        new=None,
        message="deleted",
    )
    target.delete()
    forget_service_levels()
    _recompute_after_commit()


# --- Keeping open tickets' deadlines current -----------------------------------------------------


def recompute_open_tickets(*, now: dt.datetime | None = None, batch: int = 500) -> int:
    """Bring every open ticket's clock up to date after an administrator changed a service
    level, an agreement, a rule or a calendar: the policy the agreements choose now, its
    targets, the calendar's hours. Time already counted stays. Runs in the background (the
    ``recompute_deadlines`` task), a batch per transaction; a ticket someone is changing right
    now is skipped, since its own save brings its clock up to date. Returns the number done."""
    now = now or timezone.now()
    done, last_id = 0, 0
    while True:
        with transaction.atomic():
            tickets = list(
                Ticket.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(status__in=sorted(OPEN_STATUSES), pk__gt=last_id)
                .order_by("pk")[:batch]
            )
            if not tickets:
                return done
            for ticket in tickets:
                before = {name: getattr(ticket, name) for name in ("sla_paused_since", "sla_paused_seconds")}
                verdicts = clock.sync(ticket, now=now)
                if verdicts:  # a new target already achieved (e.g. answered before it existed)
                    record_clock_changes(ticket, before=before, verdicts=verdicts, actor=None)
            update_rows(tickets, clock.CLOCK_FIELDS)
        done += len(tickets)
        last_id = tickets[-1].pk


def _recompute_after_commit() -> None:
    from tierdesk.sla.tasks import recompute_deadlines

    transaction.on_commit(recompute_deadlines.delay)


# --- What the clock records ---------------------------------------------------------------------


def _outcome(ticket: Ticket, verdict: Verdict) -> SlaOutcome:
    return SlaOutcome(
        ticket=ticket,
        target=verdict.target,
        cycle=verdict.cycle,
        policy_id=cast(int, ticket.sla_policy_id),  # verdicts exist only under a policy
        organisation_id=ticket.organisation_id,
        line_id=ticket.current_line_id,
        priority=ticket.priority,
        due_at=verdict.due_at,
        achieved_at=verdict.achieved_at,
        breached=verdict.breached,
        business_seconds=verdict.business_seconds,
    )


def record_clock_changes(
    ticket: Ticket, *, before: dict[str, Any], verdicts: list[Verdict], actor: User | None
) -> None:
    """Audit what the clock did during a ticket change (paused, resumed, a target met or missed)
    and store the verdicts. Called by the ticket services inside their transaction.

    A verdict is stored once per ticket, target and cycle; a target the sweep already recorded
    as breached only gets its achievement time filled in when it is finally achieved.
    """
    if before["sla_paused_since"] is None and ticket.sla_paused_since is not None:
        record_event(
            ticket,
            event_type=EventType.TICKET_SLA_PAUSED,
            actor=actor,
            organisation=ticket.organisation_id,
            new={"status": ticket.status, "line": ticket.current_line_id},
        )
    elif before["sla_paused_since"] is not None and ticket.sla_paused_since is None:
        record_event(
            ticket,
            event_type=EventType.TICKET_SLA_RESUMED,
            actor=actor,
            organisation=ticket.organisation_id,
            old={"paused_since": before["sla_paused_since"], "paused_seconds": before["sla_paused_seconds"]},
            new={"paused_seconds": ticket.sla_paused_seconds},
        )
    for verdict in verdicts:
        filled = SlaOutcome.objects.filter(
            ticket=ticket, target=verdict.target, cycle=verdict.cycle, achieved_at__isnull=True
        ).update(achieved_at=verdict.achieved_at, business_seconds=verdict.business_seconds)
        if not filled:
            SlaOutcome.objects.bulk_create([_outcome(ticket, verdict)], ignore_conflicts=True)
        record_event(
            ticket,
            event_type=EventType.TICKET_SLA_BREACHED if verdict.breached else EventType.TICKET_SLA_MET,
            actor=actor,
            organisation=ticket.organisation_id,
            new={
                "target": verdict.target,
                "cycle": verdict.cycle,
                "due_at": verdict.due_at,
                "achieved_at": verdict.achieved_at,
                "business_seconds": verdict.business_seconds,
            },
        )


# --- The sweep ----------------------------------------------------------------------------------


@dataclass
class SweepResult:
    """What one sweep did (the task logs it; the benchmark reads it)."""

    checked: int = 0
    breaches: int = 0
    warnings: int = 0
    escalated: int = 0
    notifications: list[dict[str, Any]] = field(default_factory=list)


def sweep_due_tickets(
    *, actor: User | None = None, now: dt.datetime | None = None, limit: int = 1000
) -> SweepResult:
    """Look at every ticket whose clock needs attention (``sla_next_check_at`` has come): record
    breached targets, fire escalation rules that have come due (each once per ticket, target
    and cycle), escalate tickets that outstayed their line's time budget, and set each ticket's
    next check. ``actor`` is ``None``: the system acts.

    Safe on several workers at once: each sweep takes the due tickets with ``FOR UPDATE SKIP
    LOCKED`` (PostgreSQL), so two sweeps never hold the same ticket, and the firing table's
    unique key is the last guard. Its cost follows the number of tickets due (an index over
    ``sla_next_check_at``), not the number open.
    """
    now = now or timezone.now()
    result = SweepResult()
    escalate: list[Ticket] = []
    with transaction.atomic():
        tickets = list(
            Ticket.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(sla_next_check_at__lte=now)
            .order_by("sla_next_check_at", "id")[:limit]
        )
        if not tickets:
            return result
        levels = service_levels()
        fired = set(
            EscalationFiring.objects.filter(ticket__in=tickets).values_list("ticket_id", "rule_id", "cycle")
        )
        leads = dict(
            Team.objects.filter(pk__in={t.team_id for t in tickets if t.team_id}).values_list("id", "lead_id")
        )
        outcomes: list[SlaOutcome] = []
        firings: list[EscalationFiring] = []
        events: list[AuditEvent] = []
        entries: list[TicketEntry] = []
        for ticket in tickets:
            result.checked += 1
            policy = levels.policies.get(ticket.sla_policy_id) if ticket.sla_policy_id else None
            schedule = schedule_for_policy(policy) if policy is not None else None
            for verdict in clock.breaches_due(ticket, now=now):
                result.breaches += 1
                outcomes.append(_outcome(ticket, verdict))
                data = {"target": verdict.target, "cycle": verdict.cycle, "due_at": verdict.due_at}
                events.append(_event(ticket, EventType.TICKET_SLA_BREACHED, data))
                entries.append(_entry(ticket, EventType.TICKET_SLA_BREACHED, data))
            if policy is not None and schedule is not None:
                for rule, cycle in _rules_due(ticket, policy, schedule, now):
                    if (ticket.pk, rule.id, cycle) in fired:
                        continue
                    fired.add((ticket.pk, rule.id, cycle))
                    result.warnings += 1
                    firings.append(
                        EscalationFiring(ticket=ticket, rule_id=rule.id, cycle=cycle, fired_at=now)
                    )
                    # The firing row is the record (a warning changes nothing on the ticket).
                    if rule.action == EscalationAction.ESCALATE:
                        escalate.append(ticket)
                    else:
                        result.notifications.append(_notice(ticket, rule, leads))
            if _line_budget_spent(ticket, schedule, now):
                escalate.append(ticket)
            # The sweep has looked at everything due by now: the next check is ahead.
            ticket.sla_next_check_at = None
            if policy is not None and schedule is not None:
                clock.recompute(ticket, policy, schedule, now)
            else:
                ticket.sla_next_check_at = clock.line_budget_check(ticket, None, now)
        SlaOutcome.objects.bulk_create(outcomes, ignore_conflicts=True)
        EscalationFiring.objects.bulk_create(firings, ignore_conflicts=True)
        AuditEvent.objects.bulk_create(events)
        TicketEntry.objects.bulk_create(entries)
        update_rows(tickets, SWEEP_FIELDS)
        for ticket in dict.fromkeys(escalate):  # once per ticket, in order
            if _escalate_to_next_line(ticket, actor=actor):
                result.escalated += 1
        if result.notifications:
            # Written to the outbox in this transaction; the mail worker sends them after the commit.
            queue_sla_notifications(result.notifications, tickets={t.pk: t for t in tickets})
    return result


# The clock columns the sweep may change (escalations save themselves through the services).
SWEEP_FIELDS = (
    "response_sla",
    "resolution_sla",
    "response_due_at",
    "resolution_due_at",
    "next_response_due_at",
    "sla_next_check_at",
)


def _rules_due(
    ticket: Ticket, policy: PolicyView, schedule: Schedule, now: dt.datetime
) -> list[tuple[RuleView, int]]:
    """Rules whose threshold the ticket has reached on a target still to be achieved."""
    if ticket.status in clock.CLOSED:
        return []
    due = []
    for rule in policy.rules:
        length = policy.target(ticket.priority, rule.target)
        if length is None or clock.state_of(ticket, rule.target) not in (SlaState.PENDING, SlaState.BREACHED):
            continue
        spent = clock.elapsed(ticket, rule.target, schedule, now)
        if spent is not None and spent >= length * rule.percent / 100:
            cycle = ticket.next_response_cycle if rule.target == TargetKind.NEXT_RESPONSE else 0
            due.append((rule, cycle))
    return due


def _line_budget_spent(ticket: Ticket, schedule: Schedule | None, now: dt.datetime) -> bool:
    moment = clock.line_budget_check(ticket, schedule, now)
    return moment is not None and moment <= now


def _escalate_to_next_line(ticket: Ticket, *, actor: User | None) -> bool:
    """Send the ticket up one line, saying why; ``False`` if there is no line above."""
    from tierdesk.tickets import services as ticket_services
    from tierdesk.tickets.selectors import desk_config

    current = next((line for line in desk_config().lines if line.pk == ticket.current_line_id), None)
    above = [
        line for line in desk_config().active_lines if current is not None and line.level > current.level
    ]
    if current is None or not above or ticket.status in clock.CLOSED:
        return False
    reason = gettext_noop(
        "Escalated automatically: %(line)s's time budget of %(minutes)d minutes has passed."
    )
    with translation.override(settings.LANGUAGE_CODE):
        text = _(reason) % {"line": current.code, "minutes": current.time_budget_minutes or 0}
    ticket_services.escalate_ticket(ticket, to_line=above[0], actor=actor, reason=text)
    return True


def _event(ticket: Ticket, event_type: EventType, data: dict[str, Any]) -> AuditEvent:
    """An audit event of the sweep (the system acts), built for one bulk insert."""
    return AuditEvent(
        actor=None,
        actor_label="system",
        organisation_id=ticket.organisation_id,
        event_type=str(event_type),
        target_type=ContentType.objects.get_for_model(Ticket),
        target_id=ticket.pk,
        target_repr=str(ticket)[:200],
        new=_jsonable(data),
        request_id=request_id.get(),
    )


def _entry(ticket: Ticket, event_type: EventType, data: dict[str, Any]) -> TicketEntry:
    """A system event in the conversation, so whoever opens the ticket sees the breach."""
    return TicketEntry(
        ticket=ticket, kind=EntryKind.EVENT, author=None, event=str(event_type), data=_jsonable(data)
    )


def _notice(ticket: Ticket, rule: RuleView, leads: Mapping[int, int | None]) -> dict[str, Any]:
    """Whom to tell about a fired rule: the assignee and his team's lead, or the named person."""
    if rule.action == EscalationAction.NOTIFY_USER:
        recipients = [rule.notify_id]
    else:
        recipients = [ticket.assignee_id]
        if ticket.team_id is not None:
            recipients.append(leads.get(ticket.team_id))
    return {
        "ticket": ticket.pk,
        "rule": rule.id,
        "target": rule.target,
        "percent": rule.percent,
        "recipients": sorted({pk for pk in recipients if pk is not None}),
    }
