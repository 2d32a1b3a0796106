"""Every change to tickets goes through these functions (web UI, API, e-mail, tasks alike).

Each service takes the domain object first and a keyword-only ``actor`` (``None`` only for the
system itself), runs in one transaction, locks the ticket row, checks the rules, writes the
change, a conversation event where people should see it, and an audit event. Failures raise
``DomainError`` subclasses with a message that says what to fix, and change nothing.
"""

from __future__ import annotations

import hashlib
import mimetypes
import unicodedata
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _

from tierdesk.audit.choices import EventType
from tierdesk.audit.services import diff, record_event
from tierdesk.common.errors import Conflict, DomainError, NotPermitted
from tierdesk.common.limits import (
    BODY_MAX_CHARS,
    FILENAME_MAX_CHARS,
    REASON_MAX_CHARS,
    SUBJECT_MAX_CHARS,
    clean_text,
)
from tierdesk.tickets.choices import (
    CUSTOMER_TRANSITIONS,
    DEFAULT_PRIORITY_MATRIX,
    OPEN_STATUSES,
    TRANSITIONS,
    Channel,
    EntryKind,
    EscalationDirection,
    Impact,
    Status,
    TicketType,
    Urgency,
)
from tierdesk.tickets.models import (
    Attachment,
    Category,
    DeskSettings,
    Escalation,
    PriorityMatrixEntry,
    SupportLine,
    Team,
    Ticket,
    TicketEntry,
    TicketLink,
    attachment_path,
)
from tierdesk.tickets.selectors import agent_scope

if TYPE_CHECKING:
    from tierdesk.accounts.models import User
    from tierdesk.orgs.models import Organisation


class TooLarge(DomainError):
    """An upload over the configured size limit. HTTP 413."""

    status_code = 413
    code = "too_large"


# --- Rules shared by the services ----------------------------------------------------------


def priority_for(impact: int, urgency: int) -> int:
    """Priority from the admins' matrix (the ITIL default for a cell they have deleted)."""
    row = PriorityMatrixEntry.objects.filter(impact=impact, urgency=urgency).values_list(
        "priority", flat=True
    )
    for priority in row:
        return priority
    return DEFAULT_PRIORITY_MATRIX[(impact, urgency)]


def intake_line() -> SupportLine:
    """Where new tickets land unless told otherwise: the first active line from L1 up (L0 is the
    dispatcher who registers and routes), or the lowest active line if there is no L1+."""
    lines = list(SupportLine.objects.filter(is_active=True).order_by("level"))
    if not lines:
        raise DomainError(_("No support line is configured; an administrator must create one."))
    return next((line for line in lines if line.level >= 1), lines[0])


def _lock(ticket: Ticket) -> None:
    """Re-read the ticket under a row lock so concurrent services apply one after another."""
    ticket.refresh_from_db(from_queryset=Ticket.objects.select_for_update())


def _require_staff(actor: User | None) -> None:
    if actor is not None and not actor.is_staff_member:
        raise NotPermitted(_("Only agents and administrators can do this."))


def _ensure_agent_covers(ticket: Ticket, actor: User | None) -> None:
    """An agent may change a ticket on his lines for his organisations, or one assigned to him."""
    if actor is None or actor.is_admin:
        return
    _require_staff(actor)
    scope = agent_scope(actor)
    if ticket.assignee_id == actor.pk:
        return
    if not scope.teams_serving(ticket.organisation_id, ticket.current_line_id):
        raise NotPermitted(_("This ticket is not on a line and organisation your teams serve."))


def _ensure_customer_owns(ticket: Ticket, actor: User) -> None:
    if actor.organisation_id != ticket.organisation_id or (
        ticket.requester_id != actor.pk and not actor.is_org_manager
    ):
        raise NotPermitted(_("You can only act on your own requests."))


def _save(ticket: Ticket, fields: list[str]) -> None:
    ticket.version += 1
    ticket.updated_at = timezone.now()
    ticket.save(update_fields=[*fields, "version", "updated_at"])


def _audit(
    ticket: Ticket,
    event: EventType,
    *,
    actor: User | None,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    message: str = "",
) -> None:
    """Record a change of ``ticket`` in the audit trail, under the ticket's organisation."""
    record_event(
        ticket,
        event_type=event,
        actor=actor,
        organisation=ticket.organisation_id,
        old=old,
        new=new,
        message=message,
    )


def _event_entry(
    ticket: Ticket, actor: User | None, event: EventType, data: dict[str, Any], body: str = ""
) -> None:
    """A system event in the conversation, so staff reading the ticket see what happened."""
    TicketEntry.objects.create(
        ticket=ticket, kind=EntryKind.EVENT, author=actor, event=str(event), data=data, body=body
    )


def _resume_status(ticket: Ticket) -> str:
    """Where an answered or reopened ticket goes: back to its assignee, or to its line's queue."""
    return Status.IN_PROGRESS if ticket.assignee_id else Status.NEW


def _check_transition(from_status: str, to_status: str) -> None:
    if to_status not in TRANSITIONS.get(from_status, frozenset()):
        raise Conflict(
            _("A ticket cannot go from “%(from)s” to “%(to)s”.")
            % {"from": Status(from_status).label, "to": Status(to_status).label},
            field="status",
            code="transition_not_allowed",
        )


def _change_status(ticket: Ticket, to_status: str, *, actor: User | None, comment: str = "") -> list[str]:
    """Move ``ticket`` to ``to_status`` along the transition table; returns the fields changed.

    The single place where ``ticket.status`` is written, so the table cannot be bypassed.
    """
    from_status = ticket.status
    _check_transition(from_status, to_status)
    now = timezone.now()
    old: dict[str, Any] = {"status": from_status}
    new: dict[str, Any] = {"status": to_status}
    fields = ["status"]
    reopening = from_status == Status.RESOLVED and to_status in (Status.IN_PROGRESS, Status.NEW)
    if to_status == Status.NEW and ticket.assignee_id is not None:
        old["assignee"], new["assignee"] = ticket.assignee_id, None
        ticket.assignee = None
        fields.append("assignee")
    if to_status == Status.RESOLVED:
        fcr = ticket.current_line.level == 1 and ticket.escalation_count == 0 and ticket.reopen_count == 0
        ticket.resolved_at, ticket.first_contact_resolution = now, fcr
        new.update(resolved_at=now, first_contact_resolution=fcr)
        fields += ["resolved_at", "first_contact_resolution"]
    elif reopening:
        old.update(resolved_at=ticket.resolved_at, first_contact_resolution=ticket.first_contact_resolution)
        ticket.reopen_count += 1
        ticket.resolved_at = None
        ticket.first_contact_resolution = None
        new.update(resolved_at=None, first_contact_resolution=None, reopen_count=ticket.reopen_count)
        fields += ["resolved_at", "first_contact_resolution", "reopen_count"]
    elif to_status == Status.CLOSED:
        ticket.closed_at = now
        new["closed_at"] = now
        fields.append("closed_at")
    ticket.status = to_status
    event = EventType.TICKET_REOPENED if reopening else EventType.TICKET_STATUS_CHANGED
    _audit(
        ticket,
        event,
        actor=actor,
        old=old,
        new=new,
        message=comment,
    )
    _event_entry(ticket, actor, event, {"from": from_status, "to": to_status}, body=comment)
    return fields


def _ensure_team_fits(team: Team, *, line: SupportLine, organisation_id: int) -> None:
    """A ticket can only be routed to a team on its line that serves its organisation."""
    if team.line_id != line.pk:
        raise DomainError(
            _("The team %(team)s is not on line %(line)s.") % {"team": team.name, "line": line.code},
            field="team",
        )
    if not team.serves_all_organisations and not team.organisations.filter(pk=organisation_id).exists():
        raise DomainError(
            _("The team %(team)s does not serve this organisation.") % {"team": team.name}, field="team"
        )


def _eligible_team(ticket: Ticket, agent: User, team: Team | None) -> Team | None:
    """The team through which ``agent`` works ``ticket`` on its current line (or ``None`` for an admin)."""
    if team is not None:
        _ensure_team_fits(team, line=ticket.current_line, organisation_id=ticket.organisation_id)
        if agent.is_agent and not team.members.filter(pk=agent.pk).exists():
            raise DomainError(
                _("%(agent)s is not a member of %(team)s.") % {"agent": agent, "team": team.name},
                field="assignee",
            )
        return team
    if agent.is_admin:
        return ticket.team
    teams = agent_scope(agent).teams_serving(ticket.organisation_id, ticket.current_line_id)
    if not teams:
        raise DomainError(
            _("%(agent)s is in no team on line %(line)s that serves %(org)s.")
            % {"agent": agent, "line": ticket.current_line.code, "org": ticket.organisation},
            field="assignee",
        )
    if ticket.team_id and any(t.team_id == ticket.team_id for t in teams):
        return ticket.team
    return Team.objects.get(pk=teams[0].team_id)


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
) -> Ticket:
    """Register a request from ``requester`` of ``organisation``.

    Customers file for themselves (a manager also for colleagues); agents for organisations
    their teams serve. Priority comes from the matrix; the ticket lands on ``line`` or the
    intake line. Audited as ``ticket.created``.
    """
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
    ticket = Ticket.objects.create(
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
        },
    )
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
    _save(ticket, [("category" if k == "category" else k) for k in new])
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
    _save(ticket, fields)
    return ticket


def _ensure_within_reopen_window(ticket: Ticket) -> None:
    days = DeskSettings.load().reopen_window_days
    if ticket.resolved_at is None or timezone.now() - ticket.resolved_at > timedelta(days=days):
        raise DomainError(
            _(
                "This request was resolved more than %(days)d days ago and can no longer be reopened; "
                "please open a new request."
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
    _save(ticket, fields)
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
    _save(ticket, fields)
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


# --- Conversation ---------------------------------------------------------------------------


def may_reply_publicly(ticket: Ticket, actor: User) -> bool:
    """Staff may write to the customer only from a line allowed to talk to customers."""
    if actor.is_admin:
        return True
    return any(t.may_contact_customer for t in agent_scope(actor).teams_serving(ticket.organisation_id))


@transaction.atomic
def add_public_reply(ticket: Ticket, *, actor: User, body: str, channel: str = "") -> TicketEntry:
    """A reply the customer sees.

    From staff: refused for agents whose lines may not talk to customers (L3/L4 by default);
    the first one sets ``first_response_at``. From the customer: refused on closed tickets;
    on a resolved ticket it reopens it within the reopen window; on a ticket waiting for the
    customer it hands the ticket back to the desk.
    """
    body = clean_text(body, field="body", max_chars=BODY_MAX_CHARS)
    _lock(ticket)
    fields: list[str] = []
    if actor.is_staff_member:
        _ensure_agent_covers(ticket, actor)
        if not may_reply_publicly(ticket, actor):
            raise NotPermitted(
                _(
                    "Your line does not talk to customers directly. Write an internal note and ask "
                    "the first or second line to answer."
                ),
                code="line_may_not_contact_customer",
            )
        if ticket.status in (Status.CLOSED, Status.CANCELLED):
            raise Conflict(_("This ticket is closed; no more replies can be added."), code="not_open")
        if ticket.first_response_at is None:
            ticket.first_response_at = timezone.now()
            fields.append("first_response_at")
    else:
        _ensure_customer_owns(ticket, actor)
        if ticket.status in (Status.CLOSED, Status.CANCELLED):
            raise Conflict(_("This request is closed; please open a new request."), code="not_open")
        if ticket.status == Status.RESOLVED:
            _ensure_within_reopen_window(ticket)
            fields += _change_status(ticket, _resume_status(ticket), actor=actor)
        elif ticket.status == Status.WAITING_CUSTOMER:
            fields += _change_status(ticket, _resume_status(ticket), actor=actor)
    entry = TicketEntry.objects.create(
        ticket=ticket, kind=EntryKind.PUBLIC, author=actor, body=body, channel=channel or ""
    )
    _audit(
        ticket,
        EventType.TICKET_REPLIED,
        actor=actor,
        new={"entry": entry.pk, "length": len(body)},
    )
    _save(ticket, fields)
    return entry


@transaction.atomic
def add_internal_note(ticket: Ticket, *, actor: User, body: str) -> TicketEntry:
    """A note only staff see: how far the investigation got, questions for another line."""
    _require_staff(actor)
    body = clean_text(body, field="body", max_chars=BODY_MAX_CHARS)
    _lock(ticket)
    _ensure_agent_covers(ticket, actor)
    entry = TicketEntry.objects.create(ticket=ticket, kind=EntryKind.INTERNAL, author=actor, body=body)
    _audit(
        ticket,
        EventType.TICKET_NOTE_ADDED,
        actor=actor,
        new={"entry": entry.pk, "length": len(body)},
    )
    _save(ticket, [])
    return entry


def safe_filename(name: str) -> str:
    """A download name that cannot traverse paths or smuggle control characters.

    Keeps letters of any script (Cyrillic names stay readable), the extension, and at most
    ``FILENAME_MAX_CHARS`` characters.
    """
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    try:
        name = get_valid_filename(name)
    except Exception:  # Django raises SuspiciousFileOperation for "", "." and ".."
        name = ""
    name = name.lstrip(".")
    if len(name) > FILENAME_MAX_CHARS:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:20] if dot else ""
        name = (stem if dot else name)[: FILENAME_MAX_CHARS - len(ext) - 1] + ("." + ext if ext else "")
    return name or "attachment"


@transaction.atomic
def add_attachment(
    ticket: Ticket, *, actor: User, file: File[Any], filename: str, entry: TicketEntry | None = None
) -> Attachment:
    """Store an uploaded file on the ticket.

    Refused when empty or larger than ``TIERDESK_MAX_ATTACHMENT_BYTES``. Stored by content hash,
    so the same file uploaded twice is kept once. A file attached to an internal note, or
    uploaded by staff without an entry, stays internal only if tied to an internal note.
    """
    limit = settings.TIERDESK_MAX_ATTACHMENT_BYTES
    size = file.size or 0
    if size > limit:
        raise TooLarge(
            _("The file is %(size)s bytes; attachments may be at most %(limit)s bytes.")
            % {"size": size, "limit": limit},
            field="file",
        )
    if size == 0:
        raise DomainError(_("The file is empty."), field="file")
    _lock(ticket)
    if actor.is_staff_member:
        _ensure_agent_covers(ticket, actor)
    else:
        _ensure_customer_owns(ticket, actor)
        if ticket.status in (Status.CLOSED, Status.CANCELLED):
            raise Conflict(_("This request is closed; please open a new request."), code="not_open")
    if entry is not None and entry.ticket_id != ticket.pk:
        raise DomainError(_("The entry belongs to another ticket."), field="entry")
    digest = hashlib.sha256()
    for chunk in file.chunks():
        digest.update(chunk)
    clean_name = safe_filename(filename)
    attachment = Attachment(
        ticket=ticket,
        entry=entry,
        filename=clean_name,
        content_type=mimetypes.guess_type(clean_name)[0] or "application/octet-stream",
        size=size,
        sha256=digest.hexdigest(),
        uploaded_by=actor,
        is_internal=entry is not None and entry.kind != EntryKind.PUBLIC,
    )
    storage_name = attachment_path(attachment, clean_name)
    if default_storage.exists(storage_name):
        attachment.file.name = storage_name
    else:
        file.seek(0)
        attachment.file.save(storage_name, file, save=False)
    attachment.save()
    _audit(
        ticket,
        EventType.TICKET_ATTACHMENT_ADDED,
        actor=actor,
        new={"attachment": attachment.pk, "filename": clean_name, "size": size, "sha256": attachment.sha256},
    )
    _save(ticket, [])
    return attachment


# --- Desk configuration (lines, teams, categories, matrix, settings) ------------------------

_CONFIG_EVENTS: dict[type, tuple[EventType, EventType]] = {
    SupportLine: (EventType.LINE_CREATED, EventType.LINE_UPDATED),
    Team: (EventType.TEAM_CREATED, EventType.TEAM_UPDATED),
    Category: (EventType.CATEGORY_CREATED, EventType.CATEGORY_UPDATED),
    PriorityMatrixEntry: (EventType.PRIORITY_MATRIX_CHANGED, EventType.PRIORITY_MATRIX_CHANGED),
    DeskSettings: (EventType.SETTINGS_CHANGED, EventType.SETTINGS_CHANGED),
}


def _config_snapshot(obj: Any) -> dict[str, Any]:
    if hasattr(obj, "audit_snapshot"):
        return dict(obj.audit_snapshot())
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields if not f.primary_key}


@transaction.atomic
def save_desk_configuration(
    obj: SupportLine | Team | Category | PriorityMatrixEntry | DeskSettings, *, actor: User | None
) -> None:
    """Save a configuration row an administrator edited (in the admin or the API), audited.

    These rows are workflow-as-data: lines, teams, categories, the priority matrix and desk
    settings. Only administrators change them.
    """
    if actor is not None and not actor.is_admin:
        raise NotPermitted(_("Only administrators can change the desk configuration."))
    created_event, updated_event = _CONFIG_EVENTS[type(obj)]
    before: dict[str, Any] = {}
    if obj.pk is not None:
        stored = type(obj).objects.filter(pk=obj.pk).first()
        before = _config_snapshot(stored) if stored is not None else {}
    obj.full_clean()
    obj.save()
    old, new = diff(before, _config_snapshot(obj))
    if before and not new:
        return
    record_event(
        obj,
        event_type=updated_event if before else created_event,
        actor=actor,
        organisation=None,
        old=old or None,
        new=new,
    )


@transaction.atomic
def set_team_members(team: Team, *, members: list[User], actor: User | None) -> None:
    """Replace a team's members (agents only), audited with the before/after member ids."""
    if actor is not None and not actor.is_admin:
        raise NotPermitted(_("Only administrators can change the desk configuration."))
    bad = [str(m) for m in members if not m.is_staff_member]
    if bad:
        raise DomainError(
            _("Only agents and administrators can be team members: %(names)s.") % {"names": ", ".join(bad)},
            field="members",
        )
    _replace_team_set(team, "members", members, actor=actor)


@transaction.atomic
def set_team_organisations(team: Team, *, organisations: list[Organisation], actor: User | None) -> None:
    """Replace the client organisations a team serves, audited."""
    if actor is not None and not actor.is_admin:
        raise NotPermitted(_("Only administrators can change the desk configuration."))
    _replace_team_set(team, "organisations", organisations, actor=actor)


def _replace_team_set(team: Team, name: str, objects: list[Any], *, actor: User | None) -> None:
    """Replace one of a team's many-to-many sets, audited with the before/after ids."""
    manager = getattr(team, name)
    old = sorted(manager.values_list("pk", flat=True))
    manager.set(objects)
    new = sorted(obj.pk for obj in objects)
    if old != new:
        record_event(
            team,
            event_type=EventType.TEAM_UPDATED,
            actor=actor,
            organisation=None,
            old={name: old},
            new={name: new},
        )


# --- Duplicates, related tickets and the requester's rating ----------------------------------


@transaction.atomic
def merge_ticket(ticket: Ticket, *, into: Ticket, actor: User | None, reason: str = "") -> Ticket:
    """Close ``ticket`` as a duplicate of ``into``: it is cancelled with ``merged_into`` set, and
    both conversations say so, so whoever reads either finds the other. The duplicate's own
    conversation stays where it was written (history is not rewritten). Both tickets must be
    open, of the same organisation, and the actor must be able to work on both."""
    _require_staff(actor)
    reason = clean_text(reason, field="reason", max_chars=REASON_MAX_CHARS, required=False)
    if ticket.pk == into.pk:
        raise DomainError(_("A ticket cannot be merged into itself."), field="into")
    # Lock both in id order so that two merges of the same pair cannot deadlock.
    first, second = sorted([ticket, into], key=lambda t: t.pk)
    _lock(first)
    _lock(second)
    _ensure_agent_covers(ticket, actor)
    _ensure_agent_covers(into, actor)
    if into.organisation_id != ticket.organisation_id:
        raise DomainError(_("Only tickets of the same organisation can be merged."), field="into")
    if not ticket.is_open or not into.is_open:
        raise Conflict(_("Only open tickets can be merged."), field="into", code="not_open")
    ticket.merged_into = into
    fields = ["merged_into", *_change_status(ticket, Status.CANCELLED, actor=actor, comment=reason)]
    _audit(ticket, EventType.TICKET_MERGED, actor=actor, new={"merged_into": into.pk}, message=reason)
    _event_entry(
        ticket, actor, EventType.TICKET_MERGED, {"into": into.pk, "number": into.number}, body=reason
    )
    _save(ticket, fields)
    _audit(into, EventType.TICKET_MERGE_RECEIVED, actor=actor, new={"merged": ticket.pk}, message=reason)
    _event_entry(
        into,
        actor,
        EventType.TICKET_MERGE_RECEIVED,
        {"from": ticket.pk, "number": ticket.number},
        body=reason,
    )
    _save(into, [])
    return ticket


@transaction.atomic
def link_tickets(ticket: Ticket, *, other: Ticket, actor: User | None) -> TicketLink:
    """Mark two tickets as related (idempotent: linking twice keeps one link)."""
    _require_staff(actor)
    if ticket.pk == other.pk:
        raise DomainError(_("A ticket cannot be related to itself."), field="other")
    _ensure_agent_covers(ticket, actor)
    _ensure_agent_covers(other, actor)
    source, target = sorted([ticket, other], key=lambda t: t.pk)
    link, created = TicketLink.objects.get_or_create(
        source=source, target=target, defaults={"created_by": actor}
    )
    if created:
        for this, that in ((ticket, other), (other, ticket)):
            _audit(this, EventType.TICKET_LINKED, actor=actor, new={"related": that.pk})
            _event_entry(this, actor, EventType.TICKET_LINKED, {"related": that.pk, "number": that.number})
    return link


@transaction.atomic
def unlink_tickets(ticket: Ticket, *, other: Ticket, actor: User | None) -> None:
    """Remove the relation between two tickets, if there is one."""
    _require_staff(actor)
    _ensure_agent_covers(ticket, actor)
    source, target = sorted([ticket, other], key=lambda t: t.pk)
    deleted, _rows = TicketLink.objects.filter(source=source, target=target).delete()
    if deleted:
        for this, that in ((ticket, other), (other, ticket)):
            _audit(this, EventType.TICKET_UNLINKED, actor=actor, old={"related": that.pk})
            _event_entry(this, actor, EventType.TICKET_UNLINKED, {"related": that.pk, "number": that.number})


@transaction.atomic
def rate_ticket(ticket: Ticket, *, rating: int, actor: User, comment: str = "") -> Ticket:
    """The requester (or his organisation's manager) rates a resolved or closed ticket, 1 to 5,
    with an optional comment. Rating again replaces the earlier verdict (audited with both)."""
    comment = clean_text(comment, field="comment", max_chars=REASON_MAX_CHARS, required=False)
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise DomainError(_("The rating must be a whole number from 1 to 5."), field="rating")
    _lock(ticket)
    if not actor.is_customer:
        raise NotPermitted(_("Only the requester rates the resolution."))
    _ensure_customer_owns(ticket, actor)
    if ticket.status not in (Status.RESOLVED, Status.CLOSED):
        raise Conflict(_("A request can be rated once it is resolved."), field="rating", code="not_resolved")
    old = {"rating": ticket.rating, "rating_comment": ticket.rating_comment}
    ticket.rating, ticket.rating_comment, ticket.rated_at = rating, comment, timezone.now()
    _audit(
        ticket,
        EventType.TICKET_RATED,
        actor=actor,
        old=old,
        new={"rating": rating, "rating_comment": comment},
    )
    _event_entry(ticket, actor, EventType.TICKET_RATED, {"rating": rating}, body=comment)
    _save(ticket, ["rating", "rating_comment", "rated_at"])
    return ticket
