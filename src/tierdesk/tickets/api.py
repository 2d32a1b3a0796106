"""HTTP API for tickets: parse, call one service or selector, serialise."""

from __future__ import annotations

from typing import Annotated, Any

from django.http import FileResponse, HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import File, Form, Query, Router
from ninja import Status as Reply
from ninja.files import UploadedFile
from pydantic import Field

from tierdesk.accounts.models import User
from tierdesk.accounts.selectors import person_for
from tierdesk.common.api import Id, caller, expected_version, unknown_reference
from tierdesk.common.errors import DomainError, NotPermitted
from tierdesk.orgs.models import Organisation
from tierdesk.sla.status import SlaFilter
from tierdesk.tickets import selectors, services
from tierdesk.tickets.choices import Status, TicketType
from tierdesk.tickets.models import Category, SupportLine, Team, Ticket
from tierdesk.tickets.schemas import (
    AssignIn,
    AttachmentOut,
    AuditEventOut,
    CategoryOut,
    EntryIn,
    EntryOut,
    LineMoveIn,
    LineOut,
    TeamOut,
    TicketDetailOut,
    TicketIn,
    TicketOut,
    TicketPageOut,
    TicketPatch,
    TransitionIn,
    ticket_row,
)

router = Router(tags=["tickets"])
config_router = Router(tags=["configuration"])
attachments_router = Router(tags=["tickets"])


# --- Look-ups of referenced objects (unknown and invisible look the same) ---------------------


def _line(code: str) -> SupportLine:
    # A code with a NUL character names no line (and PostgreSQL refuses it in a query).
    line = None if "\x00" in code else SupportLine.objects.filter(code__iexact=code.strip()).first()
    if line is None:
        raise DomainError(_("No support line with code %(code)s.") % {"code": code}, field="line")
    return line


def _team(pk: int | None) -> Team | None:
    if pk is None:
        return None
    team = Team.objects.filter(pk=pk, is_active=True).first()
    if team is None:
        raise unknown_reference("team_id", pk)
    return team


def _category(pk: int | None) -> Category | None:
    if pk is None:
        return None
    category = Category.objects.filter(pk=pk).first()
    if category is None:
        raise unknown_reference("category_id", pk)
    return category


def _person(user: User, pk: int, field: str) -> User:
    person = person_for(user, pk)
    if person is None:
        raise unknown_reference(field, pk)
    return person


def _ticket(request: HttpRequest, ref: str, *, related: bool = True) -> Ticket:
    return selectors.get_ticket(caller(request), ref, related=related)


# --- Tickets --------------------------------------------------------------------------------


@router.get("", response=TicketPageOut, summary="List tickets")
def list_tickets(
    request: HttpRequest,
    organisation: Id | None = None,
    status: list[Status] = Query(None),  # noqa: B008 - ninja's declaration style
    line: str | None = None,
    team: Id | None = None,
    assignee: Id | None = None,
    unassigned: bool = False,
    priority: list[Annotated[int, Field(ge=1, le=5)]] = Query(None),  # noqa: B008
    type: TicketType | None = None,
    category: Id | None = None,
    requester: Id | None = None,
    q: str | None = Query(None, max_length=200),
    sla: SlaFilter | None = None,
    ordering: str = Query("priority", pattern="^(priority|created|-created|-updated|due)$"),
    cursor: str | None = Query(None, max_length=500),
    limit: int = Query(50, ge=1, le=200),
) -> Any:
    """Tickets you may see, filtered; keyset-paginated (follow `next_cursor`).

    `ordering=priority` (default) is the agent queue: most urgent first, then oldest.
    `ordering=due` lists open tickets only, soonest resolution deadline first, then those
    without one (paused, resolved, no service level) by id.
    `q` matches text in the subject, or a ticket number.
    `sla` keeps tickets whose SLA state (`sla_state`) is `breached`, `at_risk` (the policy's
    warning threshold is reached, 75 % of a target by default) or `paused`.
    """
    filters = selectors.TicketFilters(
        organisation=organisation,
        status=[str(s) for s in status] if status else None,
        line=_line(line).pk if line else None,
        team=team,
        assignee=assignee,
        unassigned=unassigned,
        priority=priority or None,
        type=type,
        category=category,
        requester=requester,
        q=q,
        sla=sla,
    )
    page = selectors.ticket_page(
        caller(request), filters=filters, ordering=ordering, cursor=cursor, limit=limit
    )
    now = timezone.now()  # one moment for every row's SLA state
    return {"items": [ticket_row(ticket, now) for ticket in page.items], "next_cursor": page.next_cursor}


@router.post("", response={201: TicketOut}, summary="Create a ticket")
def create_ticket(request: HttpRequest, payload: TicketIn) -> Any:
    """Register a ticket; answers with its fields (a new ticket has no conversation yet — read
    `GET /tickets/{number}` for the full detail)."""
    user = caller(request)
    org_id = payload.organisation_id or user.organisation_id
    requester = _person(user, payload.requester_id, "requester_id") if payload.requester_id else user
    organisation: Organisation | None
    if requester.organisation_id == org_id and requester is not user:
        # Whoever may see a person may see the person's organisation (User.objects.restrict is
        # narrower than Organisation.objects.restrict), so it came joined with the person.
        organisation = requester.organisation
    else:
        organisation = Organisation.objects.restrict(user).filter(pk=org_id).first() if org_id else None
    if organisation is None:
        raise unknown_reference("organisation_id", org_id)
    ticket = services.create_ticket(
        actor=user,
        organisation=organisation,
        requester=requester,
        subject=payload.subject,
        description=payload.description,
        type=payload.type,
        channel=payload.channel,
        category=_category(payload.category_id),
        impact=payload.impact,
        urgency=payload.urgency,
        line=_line(payload.line) if payload.line else None,
        team=_team(payload.team_id),
    )
    return Reply(201, ticket)


@router.get("/{ref}", response=TicketDetailOut, summary="Read a ticket")
def read_ticket(request: HttpRequest, ref: str, response: HttpResponse) -> Any:
    """By id or number (`TD-000123`): fields, conversation and attachments you may see. The
    `ETag` is the ticket's version, for `If-Match` on PATCH."""
    ticket = _ticket(request, ref)
    response["ETag"] = f'"{ticket.version}"'
    return ticket


@router.patch("/{ref}", response=TicketDetailOut, summary="Edit a ticket")
def update_ticket(request: HttpRequest, ref: str, payload: TicketPatch, response: HttpResponse) -> Any:
    """Change the fields you send. Send the version you edited (`If-Match` with the `ETag` of
    your read, or `expected_version`): if someone changed the ticket since, the answer is 409
    and nothing changes. The answer's `ETag` is the new version."""
    user = caller(request)
    ticket = _ticket(request, ref)
    data = payload.model_dump(exclude_unset=True)
    expected = expected_version(request, data.pop("expected_version", None))
    changes: dict[str, Any] = {}
    for name, value in data.items():
        if name == "category_id":
            changes["category"] = _category(value)
        elif name == "requester_id":
            changes["requester"] = _person(user, value, "requester_id")
        elif value is None:
            raise DomainError(_("%(field)s cannot be null.") % {"field": name}, field=name)
        else:
            changes[name] = value
    ticket = services.update_ticket(ticket, actor=user, changes=changes, expected_version=expected)
    response["ETag"] = f'"{ticket.version}"'
    return ticket


# Write endpoints answer with the ticket as the service left it: after an escalation the caller
# may no longer see it in his queue, but he made the change and gets its result.


@router.post("/{ref}/transition", response=TicketDetailOut, summary="Change the status")
def transition_ticket(request: HttpRequest, ref: str, payload: TransitionIn) -> Any:
    return services.transition_ticket(
        _ticket(request, ref), to_status=payload.status, actor=caller(request), comment=payload.comment
    )


@router.post("/{ref}/assign", response=TicketDetailOut, summary="Assign or unassign")
def assign_ticket(request: HttpRequest, ref: str, payload: AssignIn) -> Any:
    user = caller(request)
    ticket = _ticket(request, ref)
    if not user.is_staff_member:
        raise NotPermitted(_("Only agents and administrators can do this."))
    assignee = _person(user, payload.assignee_id, "assignee_id") if payload.assignee_id else None
    return services.assign_ticket(ticket, assignee=assignee, actor=user, team=_team(payload.team_id))


@router.post("/{ref}/escalate", response=TicketDetailOut, summary="Escalate to a higher line")
def escalate_ticket(request: HttpRequest, ref: str, payload: LineMoveIn) -> Any:
    return services.escalate_ticket(
        _ticket(request, ref),
        to_line=_line(payload.line),
        actor=caller(request),
        reason=payload.reason,
        team=_team(payload.team_id),
    )


@router.post("/{ref}/de-escalate", response=TicketDetailOut, summary="Return to a lower line")
def deescalate_ticket(request: HttpRequest, ref: str, payload: LineMoveIn) -> Any:
    return services.deescalate_ticket(
        _ticket(request, ref),
        to_line=_line(payload.line),
        actor=caller(request),
        reason=payload.reason,
        team=_team(payload.team_id),
    )


@router.post("/{ref}/replies", response={201: EntryOut}, summary="Post a public reply")
def add_reply(request: HttpRequest, ref: str, payload: EntryIn) -> Any:
    entry = services.add_public_reply(
        _ticket(request, ref), actor=caller(request), body=payload.body, channel="api"
    )
    return Reply(201, entry)


@router.post("/{ref}/notes", response={201: EntryOut}, summary="Add an internal note")
def add_note(request: HttpRequest, ref: str, payload: EntryIn) -> Any:
    entry = services.add_internal_note(_ticket(request, ref), actor=caller(request), body=payload.body)
    return Reply(201, entry)


@router.get("/{ref}/entries", response=list[EntryOut], summary="Read the conversation")
def list_entries(request: HttpRequest, ref: str) -> Any:
    return selectors.conversation(_ticket(request, ref, related=False), caller(request))


@router.post("/{ref}/attachments", response={201: AttachmentOut}, summary="Upload an attachment")
def upload_attachment(
    request: HttpRequest,
    ref: str,
    file: File[UploadedFile],
    entry_id: Form[Id | None] = None,
) -> Any:
    user = caller(request)
    ticket = _ticket(request, ref)
    entry = None
    if entry_id is not None:
        entry = next((e for e in selectors.conversation(ticket, user) if e.pk == entry_id), None)
        if entry is None:
            raise unknown_reference("entry_id", entry_id)
    attachment = services.add_attachment(ticket, actor=user, file=file, filename=file.name or "", entry=entry)
    return Reply(201, attachment)


@router.get("/{ref}/attachments", response=list[AttachmentOut], summary="List attachments")
def list_attachments(request: HttpRequest, ref: str) -> Any:
    return selectors.ticket_attachments(_ticket(request, ref, related=False), caller(request))


@router.get("/{ref}/history", response=list[AuditEventOut], summary="Read the audit history")
def ticket_history(request: HttpRequest, ref: str) -> Any:
    """Every audited change, oldest first. Staff only."""
    user = caller(request)
    ticket = _ticket(request, ref, related=False)
    if not user.is_staff_member:
        raise NotPermitted(_("Only agents and administrators can read a ticket's history."))
    return selectors.ticket_history(ticket)


@attachments_router.get("/{attachment_id}", summary="Download an attachment", response={200: None})
def download_attachment(request: HttpRequest, attachment_id: Id) -> Any:
    attachment = selectors.get_attachment(caller(request), attachment_id)
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=True,
        filename=attachment.filename,
        content_type=attachment.content_type,
    )
    # Never let a browser render an uploaded file as a page of ours.
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- Configuration (read-only here; admins edit in the admin) --------------------------------


@config_router.get("/lines", response=list[LineOut], summary="Support lines")
def list_lines(request: HttpRequest) -> Any:
    return SupportLine.objects.filter(is_active=True).order_by("level")


@config_router.get("/teams", response=list[TeamOut], summary="Teams")
def list_teams(request: HttpRequest) -> Any:
    return Team.objects.filter(is_active=True).select_related("line").order_by("line__level", "name")


@config_router.get("/categories", response=list[CategoryOut], summary="Categories")
def list_categories(request: HttpRequest) -> Any:
    return Category.objects.filter(is_active=True).select_related("parent")
