"""API schemas (pydantic) for tickets: what the API accepts and returns."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

from ninja import Schema
from pydantic import BaseModel, Field

from tierdesk.common.api import Id, InputSchema
from tierdesk.sla.choices import TargetKind
from tierdesk.sla.status import TargetState, sla_overview
from tierdesk.tickets.choices import TRANSITIONS, Channel, EntryKind, Impact, Status, TicketType, Urgency


class Ref(Schema):
    id: int
    name: str


def ref(obj: Any) -> dict[str, Any] | None:
    return None if obj is None else {"id": obj.pk, "name": str(obj)}


class TicketOut(Schema):
    id: int
    number: str
    subject: str
    type: TicketType
    status: Status
    priority: int
    impact: int
    urgency: int
    channel: Channel
    organisation: Ref
    requester: Ref
    line: str
    team: Ref | None
    assignee: Ref | None
    category: Ref | None
    created_at: datetime
    updated_at: datetime
    version: int

    @staticmethod
    def resolve_organisation(obj: Any) -> dict[str, Any] | None:
        return ref(obj.organisation)

    @staticmethod
    def resolve_requester(obj: Any) -> dict[str, Any] | None:
        return ref(obj.requester)

    @staticmethod
    def resolve_line(obj: Any) -> str:
        return str(obj.current_line.code)

    @staticmethod
    def resolve_team(obj: Any) -> dict[str, Any] | None:
        return ref(obj.team)

    @staticmethod
    def resolve_assignee(obj: Any) -> dict[str, Any] | None:
        return ref(obj.assignee)

    @staticmethod
    def resolve_category(obj: Any) -> dict[str, Any] | None:
        return ref(obj.category)


class SlaTargetOut(BaseModel):
    target: TargetKind
    due_at: datetime | None = Field(description="The deadline; null while paused and once achieved.")
    state: TargetState
    business_seconds_left: int | None = Field(
        description="Business time left in seconds, negative when overdue; null once achieved."
    )


class SlaOut(BaseModel):
    """The ticket's service level as of the request (see ``tierdesk.sla.status``)."""

    policy: str
    state: TargetState | None = Field(description="The worst state of the targets.")
    targets: list[SlaTargetOut]
    paused: bool = Field(description="The clock stands still (waiting for the customer, or on L4).")
    paused_since: datetime | None
    paused_seconds: int = Field(description="Business time the clock has stood still, in seconds.")


def sla_out(ticket: Any, now: datetime | None = None) -> dict[str, Any] | None:
    """The ``sla`` object of a ticket, or ``None`` if it has no service level."""
    overview = sla_overview(ticket, now)
    if overview is None:
        return None
    return {
        "policy": overview.policy,
        "state": overview.state,
        "targets": [
            {
                "target": status.target,
                "due_at": status.due_at,
                "state": status.state,
                "business_seconds_left": None
                if status.left is None
                else math.floor(status.left.total_seconds()),
            }
            for status in overview.targets
        ],
        "paused": overview.paused_since is not None,
        "paused_since": overview.paused_since,
        "paused_seconds": math.floor(overview.paused.total_seconds()),
    }


class RefRow(BaseModel):
    id: int
    name: str


class TicketRow(BaseModel):
    """A ticket in a list. Lists are built as plain dicts (``ticket_row``) and validated by
    pydantic directly: resolving 50 model objects attribute by attribute through ninja's getter
    cost more than the database work of a queue page."""

    id: int
    number: str
    subject: str
    type: TicketType
    status: Status
    priority: int
    impact: int
    urgency: int
    channel: Channel
    organisation: RefRow
    requester: RefRow
    line: str
    team: RefRow | None
    assignee: RefRow | None
    category: RefRow | None
    created_at: datetime
    updated_at: datetime
    version: int
    response_due_at: datetime | None = Field(
        description="First response deadline (also once passed); null while paused or once answered."
    )
    resolution_due_at: datetime | None = Field(
        description="Resolution deadline (also once passed); null while paused or once resolved."
    )
    sla_state: TargetState | None = Field(
        description="The worst state of the ticket's SLA targets; null without a service level."
    )


def ticket_row(ticket: Any, now: datetime | None = None) -> dict[str, Any]:
    """The list fields of ``ticket`` (whose relations are already loaded), its SLA as of ``now``."""
    sla = sla_overview(ticket, now)
    response = sla.first_response if sla else None
    resolution = sla.resolution if sla else None
    return {
        "id": ticket.pk,
        "number": ticket.number,
        "subject": ticket.subject,
        "type": ticket.type,
        "status": ticket.status,
        "priority": ticket.priority,
        "impact": ticket.impact,
        "urgency": ticket.urgency,
        "channel": ticket.channel,
        "organisation": ref(ticket.organisation),
        "requester": ref(ticket.requester),
        "line": ticket.current_line.code,
        "team": ref(ticket.team),
        "assignee": ref(ticket.assignee),
        "category": ref(ticket.category),
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
        "version": ticket.version,
        "response_due_at": response.due_at if response else None,
        "resolution_due_at": resolution.due_at if resolution else None,
        "sla_state": sla.state if sla else None,
    }


class TicketPageOut(BaseModel):
    items: list[TicketRow]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` to get the next page; null on the last."
    )


class AttachmentOut(Schema):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    entry_id: int | None
    is_internal: bool
    created_at: datetime
    url: str

    @staticmethod
    def resolve_url(obj: Any) -> str:
        return f"/api/v1/attachments/{obj.pk}"


class EntryOut(Schema):
    id: int
    kind: EntryKind
    author: Ref | None
    body: str
    event: str
    data: dict[str, Any] | None
    channel: str
    created_at: datetime
    attachments: list[AttachmentOut]

    @staticmethod
    def resolve_author(obj: Any) -> dict[str, Any] | None:
        return ref(obj.author)

    @staticmethod
    def resolve_attachments(obj: Any) -> list[Any]:
        return list(obj.attachments.all())


class TicketDetailOut(TicketOut):
    description: str
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    escalation_count: int
    reopen_count: int
    first_contact_resolution: bool | None
    allowed_statuses: list[str]
    can_reply_publicly: bool
    entries: list[EntryOut]
    attachments: list[AttachmentOut]
    sla: SlaOut | None = Field(description="Deadlines, time left and state; null without a service level.")

    # The reader decides what is shown: customers get public entries and files only.
    @staticmethod
    def resolve_allowed_statuses(obj: Any, context: dict[str, Any]) -> list[str]:
        user = context["request"].auth
        return sorted(TRANSITIONS[obj.status]) if user.is_staff_member else []

    @staticmethod
    def resolve_can_reply_publicly(obj: Any, context: dict[str, Any]) -> bool:
        from tierdesk.tickets.services import may_reply_publicly

        user = context["request"].auth
        return may_reply_publicly(obj, user) if user.is_staff_member else True

    @staticmethod
    def resolve_sla(obj: Any) -> dict[str, Any] | None:
        return sla_out(obj)

    @staticmethod
    def resolve_entries(obj: Any, context: dict[str, Any]) -> list[Any]:
        from tierdesk.tickets.selectors import conversation

        return conversation(obj, context["request"].auth)

    @staticmethod
    def resolve_attachments(obj: Any, context: dict[str, Any]) -> list[Any]:
        from tierdesk.tickets.selectors import ticket_attachments

        return list(ticket_attachments(obj, context["request"].auth))


class TicketIn(InputSchema):
    subject: str = Field(..., max_length=250)
    description: str = ""
    type: TicketType = TicketType.INCIDENT
    channel: Channel = Channel.API
    organisation_id: Id | None = Field(None, description="Defaults to the caller's organisation.")
    requester_id: Id | None = Field(None, description="Defaults to the caller.")
    category_id: Id | None = None
    impact: Impact = Impact.MEDIUM
    urgency: Urgency = Urgency.MEDIUM
    line: str | None = Field(None, description="Line code, e.g. L1; defaults to the intake line.")
    team_id: Id | None = None


class TicketPatch(InputSchema):
    subject: str | None = Field(None, max_length=250)
    description: str | None = None
    type: TicketType | None = None
    category_id: Id | None = None
    impact: Impact | None = None
    urgency: Urgency | None = None
    requester_id: Id | None = None
    expected_version: Annotated[int, Field(ge=1, le=2**31)] | None = Field(
        None, description="The version you edited; a newer one is a 409."
    )


class TransitionIn(InputSchema):
    status: Status
    comment: str = ""


class AssignIn(InputSchema):
    assignee_id: Id | None = Field(None, description="null takes the ticket off its assignee.")
    team_id: Id | None = None


class LineMoveIn(InputSchema):
    line: str = Field(..., description="Target line code, e.g. L2.")
    reason: str
    team_id: Id | None = None


class EntryIn(InputSchema):
    body: str


class AuditEventOut(Schema):
    id: int
    created_at: datetime
    event_type: str
    actor: Ref | None
    actor_label: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    message: str
    request_id: str

    @staticmethod
    def resolve_actor(obj: Any) -> dict[str, Any] | None:
        return ref(obj.actor)


class LineOut(Schema):
    id: int
    code: str
    level: int
    name: str
    may_contact_customer: bool
    time_budget_minutes: int | None


class TeamOut(Schema):
    id: int
    name: str
    line: str

    @staticmethod
    def resolve_line(obj: Any) -> str:
        return str(obj.line.code)


class CategoryOut(Schema):
    id: int
    name: str
    parent_id: int | None
