"""Merging duplicates, relating tickets and the requester's rating (services)."""

from __future__ import annotations

import pytest

from tests.factories import World
from tierdesk.audit.models import AuditEvent
from tierdesk.common.errors import Conflict, DomainError, NotPermitted
from tierdesk.tickets import services
from tierdesk.tickets.choices import EntryKind, Status
from tierdesk.tickets.models import Ticket, TicketLink

pytestmark = pytest.mark.django_db


def events(ticket: Ticket) -> list[str]:
    return list(
        AuditEvent.objects.filter(target_id=ticket.pk, event_type__startswith="ticket.")
        .order_by("id")
        .values_list("event_type", flat=True)
    )


def test_merge_cancels_the_duplicate_and_tells_both_conversations(world: World) -> None:
    original, duplicate = world.ticket(), world.ticket(requester=world.customer_a2)
    services.merge_ticket(duplicate, into=original, actor=world.l1, reason="Same printer")
    duplicate.refresh_from_db()
    original.refresh_from_db()
    assert duplicate.status == Status.CANCELLED
    assert duplicate.merged_into_id == original.pk
    assert "ticket.merged" in events(duplicate)
    assert "ticket.merge_received" in events(original)
    received = original.entries.filter(kind=EntryKind.EVENT, event="ticket.merge_received").get()
    assert received.data == {"from": duplicate.pk, "number": duplicate.number}
    assert original.status == Status.NEW and original.version == 2


def test_merge_refuses_other_organisation_self_closed_and_customers(world: World) -> None:
    a, b = world.ticket(), world.ticket(requester=world.customer_b)
    with pytest.raises(DomainError):
        services.merge_ticket(a, into=b, actor=world.admin)
    with pytest.raises(DomainError):
        services.merge_ticket(a, into=a, actor=world.admin)
    with pytest.raises(NotPermitted):
        services.merge_ticket(a, into=world.ticket(), actor=world.customer_a)
    closed = world.ticket()
    services.transition_ticket(closed, to_status=Status.CANCELLED, actor=world.admin)
    with pytest.raises(Conflict):
        services.merge_ticket(a, into=closed, actor=world.admin)
    a.refresh_from_db()
    assert a.status == Status.NEW and a.merged_into_id is None


def test_merge_needs_an_agent_who_covers_both(world: World) -> None:
    a, b = world.ticket(requester=world.customer_b), world.ticket(requester=world.customer_b)
    with pytest.raises(NotPermitted):  # the L2 agent does not work tickets still on L1
        services.merge_ticket(a, into=b, actor=world.l2)
    assert Ticket.objects.get(pk=a.pk).merged_into_id is None


def test_link_is_symmetric_idempotent_and_audited(world: World) -> None:
    a, b = world.ticket(), world.ticket()
    services.link_tickets(b, other=a, actor=world.l1)
    services.link_tickets(a, other=b, actor=world.l1)
    assert TicketLink.objects.filter(source=a, target=b).count() == 1
    assert events(a).count("ticket.linked") == 1 and events(b).count("ticket.linked") == 1
    services.unlink_tickets(a, other=b, actor=world.l1)
    assert not TicketLink.objects.exists()
    assert "ticket.unlinked" in events(b)
    with pytest.raises(DomainError):
        services.link_tickets(a, other=a, actor=world.l1)


def test_rating_only_by_the_requester_once_resolved(world: World) -> None:
    ticket = world.ticket()
    with pytest.raises(Conflict):
        services.rate_ticket(ticket, rating=5, actor=world.customer_a)
    services.transition_ticket(ticket, to_status=Status.RESOLVED, actor=world.admin)
    with pytest.raises(NotPermitted):
        services.rate_ticket(ticket, rating=5, actor=world.customer_a2)
    with pytest.raises(NotPermitted):
        services.rate_ticket(ticket, rating=5, actor=world.l1)
    for bad in (0, 6):
        with pytest.raises(DomainError):
            services.rate_ticket(ticket, rating=bad, actor=world.customer_a)
    services.rate_ticket(ticket, rating=4, actor=world.customer_a, comment="Quick, thanks")
    services.rate_ticket(ticket, rating=5, actor=world.customer_a)
    ticket.refresh_from_db()
    assert (ticket.rating, ticket.rating_comment) == (5, "")
    last = AuditEvent.objects.filter(target_id=ticket.pk, event_type="ticket.rated").order_by("-id").first()
    assert last is not None and last.old == {"rating": 4, "rating_comment": "Quick, thanks"}
