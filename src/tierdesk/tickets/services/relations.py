"""Duplicates, related tickets and the requester's rating."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tierdesk.audit.choices import EventType
from tierdesk.common.errors import Conflict, DomainError, NotPermitted
from tierdesk.common.limits import (
    REASON_MAX_CHARS,
    clean_text,
)
from tierdesk.tickets.choices import (
    Status,
)
from tierdesk.tickets.models import (
    Ticket,
    TicketLink,
)

if TYPE_CHECKING:
    from tierdesk.accounts.models import User

from tierdesk.tickets.services.rules import (
    _audit,
    _change_status,
    _ensure_agent_covers,
    _ensure_customer_owns,
    _event_entry,
    _lock,
    _require_staff,
    _save,
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
    _save(ticket, fields, actor=actor)
    _audit(into, EventType.TICKET_MERGE_RECEIVED, actor=actor, new={"merged": ticket.pk}, message=reason)
    _event_entry(
        into,
        actor,
        EventType.TICKET_MERGE_RECEIVED,
        {"from": ticket.pk, "number": ticket.number},
        body=reason,
    )
    _save(into, [], actor=actor)
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
    _save(ticket, ["rating", "rating_comment", "rated_at"], actor=actor)
    return ticket
