"""Reads of the e-mail channel."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.http import Http404

from tierdesk.accounts.models import User
from tierdesk.mail.choices import NotificationKind
from tierdesk.mail.models import FailingAddress, InboundMessage, Mailbox, OutboundMessage
from tierdesk.tickets.choices import Channel
from tierdesk.tickets.models import Ticket

# --- Outgoing mail ------------------------------------------------------------------------------

# How many of a ticket's outgoing messages its page lists (the newest).
TICKET_PAGE_MESSAGES = 50
# How many ids a References header keeps: the thread's root and the latest ones.
MAX_REFERENCES = 10


def ticket_outbound_messages(ticket: Ticket, *, limit: int = TICKET_PAGE_MESSAGES) -> list[OutboundMessage]:
    """The mails Tierdesk sent or will send about ``ticket``, newest first, with their
    delivery state (for staff; one query)."""
    return list(
        OutboundMessage.objects.filter(ticket=ticket)
        .only(
            "id",
            "ticket_id",
            "kind",
            "to_address",
            "state",
            "attempts",
            "last_error",
            "created_at",
            "sent_at",
            "next_attempt_at",
        )
        .order_by("-created_at", "-id")[:limit]
    )


@dataclass
class MailThread:
    """What the mails of one ticket thread by: the root (the message the conversation started
    with), the Message-IDs received on the ticket in order, and the address of the mailbox the
    ticket came in through."""

    root: str = ""
    inbound: list[str] = field(default_factory=list)
    mailbox_address: str = ""

    def headers_for(self, message_id: str) -> tuple[str, list[str]]:
        """``(In-Reply-To, References)`` of the message ``message_id``: it answers the latest
        received message (else the root), and references the root and the latest received
        ones, at most ``MAX_REFERENCES`` ids in all; never itself."""
        in_reply_to = self.inbound[-1] if self.inbound else self.root
        if in_reply_to == message_id:
            in_reply_to = ""
        chain = [self.root] if self.root else []
        chain += [mid for mid in self.inbound if mid != self.root]
        chain = [mid for mid in dict.fromkeys(chain) if mid != message_id]
        if len(chain) > MAX_REFERENCES:
            chain = chain[:1] + chain[-(MAX_REFERENCES - 1) :]
        return in_reply_to, chain


def mail_threads(tickets: Iterable[Ticket]) -> dict[int, MailThread]:
    """The ``MailThread`` of each ticket (two queries for any number of tickets).

    The root is the first received message of a ticket that came by mail, else the first
    "request received" notice Tierdesk sent about it (a customer's reply to any notice refers
    to it), else the first received message.
    """
    tickets = list(tickets)
    threads = {ticket.pk: MailThread() for ticket in tickets}
    if not threads:
        return threads
    rows = (
        InboundMessage.objects.filter(ticket_id__in=threads)
        .order_by("received_at", "id")
        .values_list("ticket_id", "message_id", "mailbox__address")
    )
    for ticket_id, message_id, mailbox_address in rows:
        thread = threads[ticket_id]
        if message_id and message_id not in thread.inbound:
            thread.inbound.append(message_id)
        if mailbox_address and not thread.mailbox_address:
            thread.mailbox_address = mailbox_address
    by_mail = {
        ticket.pk for ticket in tickets if ticket.channel == Channel.EMAIL and threads[ticket.pk].inbound
    }
    for pk in by_mail:
        threads[pk].root = threads[pk].inbound[0]
    others = [pk for pk in threads if pk not in by_mail]
    if others:
        roots = (
            OutboundMessage.objects.filter(ticket_id__in=others, kind=NotificationKind.RECEIVED)
            .order_by("-created_at", "-id")
            .values_list("ticket_id", "message_id")
        )
        for ticket_id, message_id in roots:  # oldest last: it wins
            threads[ticket_id].root = message_id
        for pk in others:
            if not threads[pk].root and threads[pk].inbound:
                threads[pk].root = threads[pk].inbound[0]
    return threads


def ticket_to_rate(token: str) -> tuple[Ticket, User]:
    """The ticket and requester a rating link names. Raises ``RatingLinkExpired`` for an old
    link, ``RatingLinkInvalid`` for a forged one, or one whose ticket is gone, has another
    requester now, or whose requester is no longer active."""
    # Imported here: the outgoing package reads its mail threads from this module.
    from tierdesk.mail.outgoing.rating import RatingLinkInvalid, read_rating_token

    ticket_id, requester_id = read_rating_token(token)
    ticket = Ticket.objects.select_related("requester").filter(pk=ticket_id).first()
    if ticket is None or ticket.requester_id != requester_id or not ticket.requester.is_active:
        raise RatingLinkInvalid(token)
    return ticket, ticket.requester


# --- Received mail and mailboxes ---------------------------------------------------------------


def received_messages(user: User, *, state: str = "") -> QuerySet[InboundMessage]:
    """Received messages ``user`` may see, newest first (``state`` filters: ``held``,
    ``quarantined`` ... — the lists staff work through)."""
    rows = InboundMessage.objects.restrict(user).select_related("mailbox", "ticket", "handled_by")
    if state:
        rows = rows.filter(state=state)
    return rows.order_by("-received_at", "-id")


def get_received_message(user: User, pk: int) -> InboundMessage:
    try:
        return received_messages(user).get(pk=pk)
    except InboundMessage.DoesNotExist:
        raise Http404 from None


def mailboxes(user: User) -> QuerySet[Mailbox]:
    """Mailboxes are configuration: administrators only."""
    if not user.is_active or not user.is_admin:
        return Mailbox.objects.none()
    return Mailbox.objects.select_related("default_organisation", "team", "line", "category").order_by("name")


def get_mailbox(user: User, pk: int) -> Mailbox:
    try:
        return mailboxes(user).get(pk=pk)
    except Mailbox.DoesNotExist:
        raise Http404 from None


def failing_address(email: str) -> FailingAddress | None:
    """The bounce mark of an address, if mail to it is failing."""
    return FailingAddress.objects.filter(address=(email or "").strip().lower()).first()
