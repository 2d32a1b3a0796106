"""Writing the outbox: which ticket change mails whom.

A receiver of ``tickets.signals.ticket_changed`` runs inside the transaction of every audited
ticket change and writes the ``OutboundMessage`` rows the change calls for, so the outbox
commits or rolls back with the change: a rolled-back change mails nobody, a committed one is
never lost (the worker delivers the rows after the commit and retries them). Writing is kept
cheap because it sits in every ticket service, ticket creation included: one INSERT for all the
rows of an event, no template rendering (the worker renders in the recipient's language) and no
SELECT when the people are already in hand.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.db import transaction

from tierdesk.accounts.models import User
from tierdesk.audit.choices import EventType
from tierdesk.mail.choices import NotificationKind
from tierdesk.mail.models import OutboundMessage
from tierdesk.tickets.choices import Status
from tierdesk.tickets.models import Ticket

# What a ticket's requester is told when the status becomes one of these.
STATUS_NOTICES = {
    Status.WAITING_CUSTOMER: NotificationKind.WAITING_FOR_CUSTOMER,
    Status.RESOLVED: NotificationKind.RESOLVED,
    Status.CLOSED: NotificationKind.CLOSED,
}

# Notifications to the customer (they link to the portal); the others go to staff (workspace).
CUSTOMER_KINDS = frozenset(
    {
        NotificationKind.RECEIVED,
        NotificationKind.AGENT_REPLIED,
        NotificationKind.WAITING_FOR_CUSTOMER,
        NotificationKind.RESOLVED,
        NotificationKind.CLOSED,
    }
)

# The ticket column holding the deadline of each SLA target (sla.choices.TargetKind).
_DEADLINE_FIELDS = {
    "first_response": "response_due_at",
    "resolution": "resolution_due_at",
    "next_response": "next_response_due_at",
}

# The rule threshold from which an SLA notice reports a breach rather than a risk.
BREACH_PERCENT = 100


def new_message_id(ticket_id: int | None) -> str:
    """A Message-ID for a mail about ticket ``ticket_id``, without angle brackets (as the import
    side stores ids): ``td.<ticket>.<random>@<TIERDESK_MAIL_DOMAIN>``. The ticket number in it
    lets a reply thread back even when a mail client keeps only the In-Reply-To."""
    return f"td.{ticket_id or 0}.{secrets.token_hex(8)}@{settings.TIERDESK_MAIL_DOMAIN}"


def on_ticket_changed(
    sender: Any,
    *,
    ticket: Ticket,
    event: str,
    actor: User | None,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """``ticket_changed`` receiver (connected in ``MailConfig.ready``): queue the notifications
    the change calls for, in its transaction."""
    new = new or {}
    rows: list[OutboundMessage | None] = []
    if event == EventType.TICKET_CREATED:
        # The acknowledgement carries the ticket number the requester will quote, so it goes
        # to him on every channel, even when he filed the request himself (the one exception
        # to "never mail the actor").
        requester = _person(ticket, "requester", ticket.requester_id)
        rows.append(_message(ticket, NotificationKind.RECEIVED, requester, actor=None))
    elif event == EventType.TICKET_REPLIED and actor is not None:
        if actor.is_staff_member:
            requester = _person(ticket, "requester", ticket.requester_id)
            rows.append(
                _message(
                    ticket, NotificationKind.AGENT_REPLIED, requester, actor=actor, entry=new.get("entry")
                )
            )
        elif ticket.assignee_id is not None:
            assignee = _person(ticket, "assignee", ticket.assignee_id)
            rows.append(
                _message(
                    ticket, NotificationKind.CUSTOMER_REPLIED, assignee, actor=actor, entry=new.get("entry")
                )
            )
    elif event == EventType.TICKET_STATUS_CHANGED and new.get("status") in STATUS_NOTICES:
        requester = _person(ticket, "requester", ticket.requester_id)
        rows.append(_message(ticket, STATUS_NOTICES[new["status"]], requester, actor=actor))
    elif event == EventType.TICKET_ASSIGNED and new.get("assignee") is not None:
        assignee = _person(ticket, "assignee", new["assignee"])
        rows.append(_message(ticket, NotificationKind.ASSIGNED, assignee, actor=actor))
    write_messages(row for row in rows if row is not None)


def queue_sla_notifications(notices: Iterable[Mapping[str, Any]], *, tickets: Mapping[int, Ticket]) -> int:
    """Queue the notices of the SLA sweep's fired escalation rules (``sla.services._notice``:
    ticket, target, rule threshold, recipients) for each recipient, in the sweep's transaction.
    A rule at 100 % or more reports a breach, below it a deadline at risk. Returns the number of
    rows written."""
    notices = list(notices)
    people = User.objects.in_bulk(sorted({pk for notice in notices for pk in notice["recipients"]}))
    rows = []
    for notice in notices:
        ticket = tickets.get(notice["ticket"])
        if ticket is None:
            continue
        kind = (
            NotificationKind.SLA_BREACHED
            if notice["percent"] >= BREACH_PERCENT
            else NotificationKind.SLA_WARNING
        )
        deadline = getattr(ticket, _DEADLINE_FIELDS.get(notice["target"], ""), None)
        context = {
            "target": notice["target"],
            "percent": notice["percent"],
            "deadline": deadline.isoformat() if isinstance(deadline, dt.datetime) else None,
        }
        for pk in notice["recipients"]:
            row = _message(ticket, kind, people.get(pk), actor=None, context=context)
            if row is not None:
                rows.append(row)
    return write_messages(rows)


def write_messages(rows: Iterable[OutboundMessage]) -> int:
    """Insert outbox rows (one INSERT) and have the worker deliver them once the transaction
    commits."""
    rows = list(rows)
    if not rows:
        return 0
    OutboundMessage.objects.bulk_create(rows)
    _deliver_after_commit()
    return len(rows)


def _message(
    ticket: Ticket,
    kind: str,
    person: User | None,
    *,
    actor: User | None,
    entry: int | None = None,
    context: dict[str, Any] | None = None,
) -> OutboundMessage | None:
    """The outbox row telling ``person`` about ``ticket``, or ``None`` for nobody to tell: no
    person, an inactive one, one without an address, or the one who made the change."""
    if person is None or not person.is_active or not person.email:
        return None
    if actor is not None and person.pk == actor.pk:
        return None
    return OutboundMessage(
        ticket=ticket,
        entry_id=entry,
        kind=kind,
        recipient=person,
        to_address=person.email,
        language=person.language or settings.LANGUAGE_CODE,
        context=context or {},
        message_id=new_message_id(ticket.pk),
    )


def _person(ticket: Ticket, field: str, pk: int | None) -> User | None:
    """The person ``ticket.<field>`` points at: the instance the service already holds when it
    is the one meant (a new ticket's requester, a new assignee), otherwise one small SELECT."""
    if pk is None:
        return None
    cached = Ticket._meta.get_field(field).get_cached_value(ticket, default=None)  # type: ignore[union-attr]
    if isinstance(cached, User) and cached.pk == pk:
        return cached
    return User.objects.filter(pk=pk).only("id", "email", "is_active", "language").first()


def _deliver_after_commit() -> None:
    """Start the worker once per transaction that wrote outbox rows, after the commit.

    The pending callbacks of the connection are the record of whether this transaction has
    asked already; a rolled-back savepoint takes its callback with it, so a later write asks
    again. ``robust``: a broker that is down must not turn the committed change into an error;
    the periodic delivery (beat) picks the rows up.
    """
    connection = transaction.get_connection()
    if any(func is _start_delivery for _sids, func, _robust in connection.run_on_commit):
        return
    transaction.on_commit(_start_delivery, robust=True)


# Queueing a task costs 0.6 ms with Redis and 15 ms with the embedded SQLite broker, against
# 6.7 ms for a whole ticket creation at 150/s. So the task is queued to start a moment later
# (``DELIVERY_DELAY_SECONDS``), and commits of this process in the first half of that moment
# queue nothing: the queued task starts after they committed and sends their rows too. (The
# other half is the margin for the clocks of the web and worker hosts.) At most two queueings
# a second per process, for a notice a second or two later.
DELIVERY_DELAY_SECONDS = 2.0
_queued_until = 0.0  # _clock() time until which a queued task is sure to start later
_queue_lock = threading.Lock()
_clock = time.monotonic


def _start_delivery() -> None:
    global _queued_until
    from tierdesk.mail.tasks import deliver

    with _queue_lock:
        eager = deliver.app.conf.task_always_eager  # (tests, debugging) the task runs right here
        now = _clock()
        if not eager and now < _queued_until:
            return
        deliver.apply_async(countdown=DELIVERY_DELAY_SECONDS)
        if not eager:
            _queued_until = now + DELIVERY_DELAY_SECONDS / 2
