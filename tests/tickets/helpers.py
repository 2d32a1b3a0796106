"""Small helpers shared by the domain-layer tests (not fixtures: plain functions)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.db.models import Max

from tests.factories import World
from tierdesk.audit.models import AuditEvent
from tierdesk.common.errors import DomainError
from tierdesk.tickets import services
from tierdesk.tickets.models import Attachment, Escalation, Ticket, TicketEntry


def last_audit_id() -> int:
    return AuditEvent.objects.aggregate(m=Max("id"))["m"] or 0


def events_since(audit_id: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(id__gt=audit_id).order_by("id"))


def types_since(audit_id: int) -> list[str]:
    return [e.event_type for e in events_since(audit_id)]


def row_counts() -> dict[str, int]:
    """Rows of every table a ticket service writes to."""
    return {
        "tickets": Ticket.objects.count(),
        "audit": AuditEvent.objects.count(),
        "entries": TicketEntry.objects.count(),
        "escalations": Escalation.objects.count(),
        "attachments": Attachment.objects.count(),
    }


def ticket_state(ticket: Ticket) -> dict[str, Any]:
    """Every stored column of ``ticket``, read fresh from the database."""
    row = Ticket.objects.filter(pk=ticket.pk).values().get()
    return dict(row)


@contextmanager
def refused(
    exc_type: type[DomainError] = DomainError,
    *,
    code: str | None = None,
    field: str | None = None,
    ticket: Ticket | None = None,
) -> Iterator[pytest.ExceptionInfo[Any]]:
    """Expect the block to raise ``exc_type`` and to leave every table (and ``ticket``) unchanged."""
    before = row_counts()
    state = ticket_state(ticket) if ticket is not None else None
    with pytest.raises(exc_type) as info:
        yield info
    if code is not None:
        assert info.value.code == code, info.value.message
    if field is not None:
        assert info.value.field == field, info.value.message
    assert row_counts() == before
    if ticket is not None:
        assert ticket_state(ticket) == state


def stored_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def upload(data: bytes, name: str = "upload.bin") -> ContentFile[bytes]:
    return ContentFile(data, name=name)


def fresh(ticket: Ticket) -> Ticket:
    return Ticket.objects.get(pk=ticket.pk)


def assigned_ticket(world: World, agent: Any | None = None, **kwargs: Any) -> Ticket:
    """A ticket of customer_a on L1 assigned to ``agent`` (default: the L1 agent)."""
    ticket = world.ticket(**kwargs)
    return services.assign_ticket(ticket, assignee=agent or world.l1, actor=world.admin)


def resolved_ticket(world: World, **kwargs: Any) -> Ticket:
    ticket = assigned_ticket(world, **kwargs)
    return services.transition_ticket(ticket, to_status="resolved", actor=world.l1)
