"""Creating, editing and moving tickets: the status machine, assignment, escalation between
support lines."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.core.files.base import File
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from tierdesk.audit.choices import EventType
from tierdesk.audit.services import diff
from tierdesk.common.errors import Conflict, DomainError, NotPermitted
from tierdesk.common.limits import (
    BODY_MAX_CHARS,
    REASON_MAX_CHARS,
    SUBJECT_MAX_CHARS,
    clean_text,
)
from tierdesk.sla import clock as sla_clock
from tierdesk.tickets.choices import (
    CUSTOMER_TRANSITIONS,
    OPEN_STATUSES,
    Channel,
    EscalationDirection,
    Impact,
    Status,
    TicketType,
    Urgency,
)
from tierdesk.tickets.models import (
    Category,
    DeskSettings,
    Escalation,
    SupportLine,
    Team,
    Ticket,
)
from tierdesk.tickets.selectors import agent_scope

if TYPE_CHECKING:
    from tierdesk.accounts.models import User
    from tierdesk.orgs.models import Organisation

from tierdesk.tickets.services.configuration import intake_line, priority_for
from tierdesk.tickets.services.rules import (
    _audit,
    _change_status,
    _check_transition,
    _eligible_team,
    _ensure_agent_covers,
    _ensure_customer_owns,
    _ensure_team_fits,
    _event_entry,
    _lock,
    _require_staff,
    _resume_status,
    _save,
)

# --- Creating and editing -------------------------------------------------------------------


@transaction.atomic
def create_ticket(
    *,
    actor: User | None,
    organisation: Organisation,
    requester: User,
    subject: str,
    description: str = "",
    type: str = TicketType.INCIDENT,
    channel: str = Channel.PORTAL,
    category: Category | None = None,
    impact: int = Impact.MEDIUM,
    urgency: int = Urgency.MEDIUM,
    line: SupportLine | None = None,
    team: Team | None = None,
    files: Sequence[tuple[str, File[Any]]] = (),
) -> Ticket:
    """Register a request from ``requester`` of ``organisation``.

    Customers file for themselves (a manager also for colleagues); agents for organisations
    their teams serve. Priority comes from the matrix; the ticket lands on ``line`` or the
    intake line. ``files`` (name, file) come with the request, under the attachments' rules
    (an empty or too large one refuses the whole request); stored in the same transaction
    without the separate lock and save of ``add_attachment``. Audited as ``ticket.created``
    and one ``ticket.attachment_added`` per file.
    """
    from tierdesk.tickets.services.conversation import _store_file, check_file_size

    for _name, file in files:
        check_file_size(file)
    subject = clean_text(subject, field="subject", max_chars=SUBJECT_MAX_CHARS)
    description = clean_text(description, field="description", max_chars=BODY_MAX_CHARS, required=False)
    if not organisation.is_active:
        raise DomainError(
            _("%(org)s is not an active organisation.") % {"org": organisation}, field="organisation"
        )
    if requester.organisation_id != organisation.pk or not requester.is_active:
        raise DomainError(
            _("The requester must be an active contact of %(org)s.") % {"org": organisation},
            field="requester",
        )
    if actor is not None and actor.is_customer:
        if actor.organisation_id != organisation.pk or (
            requester.pk != actor.pk and not actor.is_org_manager
        ):
            raise NotPermitted(_("You can only open requests for yourself."))
        line, team = None, None  # customers do not route their own tickets
    elif actor is not None and actor.is_agent:
        scope = agent_scope(actor)
        if not scope.all_organisations and organisation.pk not in scope.organisation_ids:
            raise NotPermitted(_("Your teams do not serve %(org)s.") % {"org": organisation})
    if category is not None and not category.is_active:
        raise DomainError(
            _("The category %(category)s is no longer in use.") % {"category": category}, field="category"
        )
    line = line or intake_line()
    if not line.is_active:
        raise DomainError(_("Line %(line)s is not active.") % {"line": line.code}, field="line")
    if team is not None:
        _ensure_team_fits(team, line=line, organisation_id=organisation.pk)
    ticket = Ticket(
        type=TicketType(type),
        organisation=organisation,
        requester=requester,
        channel=Channel(channel),
        category=category,
        subject=subject,
        description=description,
        impact=Impact(impact),
        urgency=Urgency(urgency),
        priority=priority_for(impact, urgency),
        current_line=line,
        team=team,
        created_by=actor,
    )
    sla_clock.start(ticket, now=ticket.created_at)  # deadlines go in with the INSERT
    ticket.save(force_insert=True)
    _audit(
        ticket,
        EventType.TICKET_CREATED,
        actor=actor,
        new={
            "type": ticket.type,
            "channel": ticket.channel,
            "requester": requester.pk,
            "subject": subject,
            "category": category.pk if category else None,
            "impact": ticket.impact,
            "urgency": ticket.urgency,
            "priority": ticket.priority,
            "status": ticket.status,
            "line": line.code,
            "team": team.pk if team else None,
            "sla_policy": ticket.sla_policy_id,
            "response_due_at": ticket.response_due_at,
            "resolution_due_at": ticket.resolution_due_at,
        },
    )
    for name, file in files:
        _store_file(ticket, actor=actor, file=file, filename=name, entry=None)
    return ticket


# Fields staff may edit directly; priority follows impact and urgency.
EDITABLE_FIELDS = frozenset({"subject", "description", "type", "category", "impact", "urgency", "requester"})


@transaction.atomic
def update_ticket(
    ticket: Ticket, *, actor: User | None, changes: dict[str, Any], expected_version: int | None = None
) -> Ticket:
    """Edit a ticket's descriptive fields. ``expected_version`` (the version the editor saw)
    turns a concurrent edit into a clear conflict instead of a silent overwrite."""
    _require_staff(actor)
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise DomainError(
            _("These fields cannot be edited: %(fields)s.") % {"fields": ", ".join(sorted(unknown))}
        )
    _lock(ticket)
    _ensure_agent_covers(ticket, actor)
    if expected_version is not None and expected_version != ticket.version:
        raise Conflict(
            _(
                "The ticket was changed by someone else (version %(current)d, you edited %(yours)d). "
                "Reload it and apply your change again."
            )
            % {"current": ticket.version, "yours": expected_version},
            code="stale_version",
        )
    values = dict(changes)
    if "subject" in values:
        values["subject"] = clean_text(values["subject"], field="subject", max_chars=SUBJECT_MAX_CHARS)
    if "description" in values:
        values["description"] = clean_text(
            values["description"], field="description", max_chars=BODY_MAX_CHARS, required=False
        )
    if "type" in values:
        values["type"] = TicketType(values["type"])
    if "impact" in values:
        values["impact"] = Impact(values["impact"])
    if "urgency" in values:
        values["urgency"] = Urgency(values["urgency"])
    if "category" in values and values["category"] is not None and not values["category"].is_active:
        raise DomainError(
            _("The category %(category)s is no longer in use.") % {"category": values["category"]},
            field="category",
        )
    if "requester" in values and (
        values["requester"].organisation_id != ticket.organisation_id or not values["requester"].is_active
    ):
        raise DomainError(
            _("The requester must be an active contact of %(org)s.") % {"org": ticket.organisation},
            field="requester",
        )
    if "impact" in values or "urgency" in values:
        values["priority"] = priority_for(
            values.get("impact", ticket.impact), values.get("urgency", ticket.urgency)
        )

    def snapshot() -> dict[str, Any]:
        return {
            name: (
                getattr(ticket, f"{name}_id") if name in ("category", "requester") else getattr(ticket, name)
            )
            for name in values
        }

    before = snapshot()
    for name, value in values.items():
        setattr(ticket, name, value)
    old, new = diff(before, snapshot())
    if not new:
        return ticket
    _save(ticket, list(new), actor=actor)
    _audit(
        ticket,
        EventType.TICKET_UPDATED,
        actor=actor,
        old=old,
        new=new,
    )
    return ticket


# --- Workflow -------------------------------------------------------------------------------


@transaction.atomic
def transition_ticket(ticket: Ticket, *, to_status: str, actor: User | None, comment: str = "") -> Ticket:
    """Change the status along the transition table.

    Customers may only withdraw their request, accept a resolution or reopen it within the
    reopen window. Staff moving a ticket "in progress" with nobody on it take it themselves;
    "assigned" needs an assignee; "new" puts it back in the line's queue.
    """
    comment = clean_text(comment, field="comment", max_chars=REASON_MAX_CHARS, required=False)
    try:
        to_status = Status(to_status)
    except ValueError:
        raise DomainError(
            _("“%(status)s” is not a status.") % {"status": to_status}, field="status"
        ) from None
    _lock(ticket)
    reopening = ticket.status == Status.RESOLVED and to_status in (Status.IN_PROGRESS, Status.NEW)
    if actor is not None and actor.is_customer:
        _ensure_customer_owns(ticket, actor)
        if (ticket.status, to_status) not in CUSTOMER_TRANSITIONS:
            raise NotPermitted(_("You cannot change the status of a request this way."))
        if reopening:
            _ensure_within_reopen_window(ticket)
    else:
        _ensure_agent_covers(ticket, actor)
    if not reopening:
        _check_transition(ticket.status, to_status)  # before asking for an assignee it may not need
    fields: list[str] = []
    if reopening:
        to_status = Status(_resume_status(ticket))
    elif to_status == Status.ASSIGNED and ticket.assignee_id is None:
        raise DomainError(_("Assign the ticket to someone first."), field="status")
    elif to_status == Status.IN_PROGRESS and ticket.assignee_id is None:
        if actor is None:
            raise DomainError(_("Assign the ticket to someone first."), field="status")
        ticket.team = _eligible_team(ticket, actor, None)
        ticket.assignee = actor
        fields += ["assignee", "team"]
        _audit(
            ticket,
            EventType.TICKET_ASSIGNED,
            actor=actor,
            old={"assignee": None},
            new={"assignee": actor.pk, "team": ticket.team_id},
        )
    fields += _change_status(ticket, to_status, actor=actor, comment=comment)
    _save(ticket, fields, actor=actor)
    return ticket


def _ensure_within_reopen_window(ticket: Ticket) -> None:
    days = DeskSettings.load().reopen_window_days
    if ticket.resolved_at is None or timezone.now() - ticket.resolved_at > timedelta(days=days):
        raise DomainError(
            ngettext(
                "This request was resolved more than %(days)d day ago and can no longer be reopened; "
                "please open a new request.",
                "This request was resolved more than %(days)d days ago and can no longer be reopened; "
                "please open a new request.",
                days,
            )
            % {"days": days},
            code="reopen_window_passed",
        )


@transaction.atomic
def assign_ticket(
    ticket: Ticket, *, assignee: User | None, actor: User | None, team: Team | None = None
) -> Ticket:
    """Give the ticket to ``assignee`` (through one of his teams on the ticket's line), or take it
    off him with ``assignee=None``. A new ticket becomes "assigned"; an unassigned one returns
    to its line's queue as "new"."""
    _require_staff(actor)
    _lock(ticket)
    _ensure_agent_covers(ticket, actor)
    if ticket.status not in OPEN_STATUSES:
        raise Conflict(
            _("A %(status)s ticket cannot be assigned.") % {"status": ticket.get_status_display()},
            code="not_open",
        )
    old = {"assignee": ticket.assignee_id, "team": ticket.team_id}
    fields = ["assignee", "team"]
    if assignee is None:
        ticket.assignee = None
        if team is not None:
            ticket.team = _eligible_team(ticket, actor, team) if actor else team
        if ticket.status in (Status.ASSIGNED, Status.IN_PROGRESS):
            fields += _change_status(ticket, Status.NEW, actor=actor)
    else:
        if not assignee.is_active or not assignee.is_staff_member:
            raise DomainError(_("%(user)s is not an active agent.") % {"user": assignee}, field="assignee")
        ticket.team = _eligible_team(ticket, assignee, team)
        ticket.assignee = assignee
        if ticket.status == Status.NEW:
            fields += _change_status(ticket, Status.ASSIGNED, actor=actor)
    new = {"assignee": ticket.assignee_id, "team": ticket.team_id}
    if old == new:
        return ticket
    _audit(
        ticket,
        EventType.TICKET_ASSIGNED,
        actor=actor,
        old=old,
        new=new,
    )
    _save(ticket, fields, actor=actor)
    return ticket


def _move_between_lines(
    ticket: Ticket, *, to_line: SupportLine, actor: User | None, reason: str, team: Team | None, up: bool
) -> Ticket:
    _require_staff(actor)
    reason = clean_text(reason, field="reason", max_chars=REASON_MAX_CHARS)
    _lock(ticket)
    _ensure_agent_covers(ticket, actor)
    if ticket.status not in OPEN_STATUSES:
        raise Conflict(
            _("A %(status)s ticket cannot change lines.") % {"status": ticket.get_status_display()},
            code="not_open",
        )
    if not to_line.is_active:
        raise DomainError(_("Line %(line)s is not active.") % {"line": to_line.code}, field="to_line")
    current = ticket.current_line
    if up and to_line.level <= current.level:
        raise DomainError(
            _("Escalation must go to a higher line than %(line)s.") % {"line": current.code}, field="to_line"
        )
    if not up and to_line.level >= current.level:
        raise DomainError(
            _("A ticket can only be returned to a line below %(line)s.") % {"line": current.code},
            field="to_line",
        )
    if team is not None:
        _ensure_team_fits(team, line=to_line, organisation_id=ticket.organisation_id)
    Escalation.objects.create(
        ticket=ticket,
        direction=EscalationDirection.UP if up else EscalationDirection.DOWN,
        from_line=current,
        to_line=to_line,
        from_team=ticket.team,
        to_team=team,
        reason=reason,
        actor=actor,
    )
    old = {"line": current.code, "team": ticket.team_id, "assignee": ticket.assignee_id}
    fields = ["current_line", "team", "assignee"]
    ticket.current_line, ticket.team = to_line, team
    if ticket.status in (Status.ASSIGNED, Status.IN_PROGRESS):
        fields += _change_status(ticket, Status.NEW, actor=actor, comment=reason)
    ticket.assignee = None
    if up:
        ticket.escalation_count += 1
        fields.append("escalation_count")
    new = {"line": to_line.code, "team": team.pk if team else None, "assignee": None}
    event = EventType.TICKET_ESCALATED if up else EventType.TICKET_DEESCALATED
    _audit(
        ticket,
        event,
        actor=actor,
        old=old,
        new=new,
        message=reason,
    )
    _event_entry(ticket, actor, event, {"from": current.code, "to": to_line.code}, body=reason)
    _save(ticket, fields, actor=actor, line_changed=True)
    return ticket


@transaction.atomic
def escalate_ticket(
    ticket: Ticket, *, to_line: SupportLine, actor: User | None, reason: str, team: Team | None = None
) -> Ticket:
    """Send the ticket up to ``to_line`` (optionally a team there) with the reason; it lands in
    that line's queue unassigned. Counts against first-contact resolution."""
    return _move_between_lines(ticket, to_line=to_line, actor=actor, reason=reason, team=team, up=True)


@transaction.atomic
def deescalate_ticket(
    ticket: Ticket, *, to_line: SupportLine, actor: User | None, reason: str, team: Team | None = None
) -> Ticket:
    """Return the ticket to a lower line (e.g. L3 hands the fix back to L2 to talk to the customer)."""
    return _move_between_lines(ticket, to_line=to_line, actor=actor, reason=reason, team=team, up=False)
