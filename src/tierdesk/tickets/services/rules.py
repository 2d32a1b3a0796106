"""The rules every ticket service applies: locking, who may act, the status machine, audit
and conversation events. Private to the services package."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils import timezone
from django.utils.translation import gettext as _

from tierdesk.audit.choices import EventType
from tierdesk.audit.services import record_event
from tierdesk.common.errors import Conflict, DomainError, NotPermitted
from tierdesk.sla import clock as sla_clock
from tierdesk.tickets.choices import (
    TRANSITIONS,
    EntryKind,
    Status,
)
from tierdesk.tickets.models import (
    SupportLine,
    Team,
    Ticket,
    TicketEntry,
)
from tierdesk.tickets.selectors import agent_scope
from tierdesk.tickets.signals import ticket_changed

if TYPE_CHECKING:
    from tierdesk.accounts.models import User


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


def _save(
    ticket: Ticket,
    fields: list[str],
    *,
    actor: User | None = None,
    customer_replied: bool = False,
    staff_replied: bool = False,
    line_changed: bool = False,
) -> None:
    """Write the changed ``fields`` with the SLA clock brought up to date (pauses, deadlines,
    verdicts: see tierdesk.sla.clock) in the same UPDATE, and bump the version."""
    from tierdesk.sla import services as sla_services  # the SLA app builds on tickets

    ticket.version += 1
    ticket.updated_at = timezone.now()
    before = {name: getattr(ticket, name) for name in ("sla_paused_since", "sla_paused_seconds")}
    verdicts = sla_clock.sync(
        ticket,
        now=ticket.updated_at,
        customer_replied=customer_replied,
        staff_replied=staff_replied,
        line_changed=line_changed,
    )
    ticket.save(update_fields=[*fields, *sla_clock.CLOCK_FIELDS, "version", "updated_at"])
    sla_services.record_clock_changes(ticket, before=before, verdicts=verdicts, actor=actor)


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
    ticket_changed.send(Ticket, ticket=ticket, event=event, actor=actor, old=old, new=new)


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
