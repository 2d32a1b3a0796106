"""Importing an IMAP batch in several processes: chains keep replies behind their requests and a
sender's messages in order; everything is imported once and marked only after its commit."""

from __future__ import annotations

import threading
import time

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.factories import World
from tests.mail.dovecot import Dovecot
from tests.mail.test_import import mail
from tierdesk.mail.choices import InboundState
from tierdesk.mail.imap import poll_mailbox
from tierdesk.mail.import_pool import ImportPool, chains
from tierdesk.mail.management.commands.watch_mailboxes import Command as WatchCommand
from tierdesk.mail.models import InboundMessage, Mailbox
from tierdesk.tickets.models import Ticket


def test_a_reply_and_the_request_it_answers_share_a_chain_in_uid_order() -> None:
    request = mail(sender="alex@alpha.test", subject="VPN down", message_id="<req@client.test>")
    reply = mail(sender="boss@alpha.test", subject="Re: VPN down", in_reply_to="<req@client.test>")
    later = mail(sender="carol@beta.test", subject="Later", references="<x@y> <req@client.test>")
    other = mail(sender="dave@beta.test", subject="Printer")
    found = chains([(7, later), (3, request), (5, other), (4, reply)])
    assert [[uid for uid, _raw in chain] for chain in found] == [[3, 4, 7], [5]]


def test_messages_of_one_sender_share_a_chain_whatever_the_case_of_the_address() -> None:
    first = mail(sender="Alex <Alex@Alpha.test>", subject="One")
    second = mail(sender="alex@alpha.test", subject="Two")
    third = mail(sender="bob@alpha.test", subject="Three")
    assert [[uid for uid, _ in chain] for chain in chains([(1, first), (2, third), (3, second)])] == [
        [1, 3],
        [2],
    ]


def test_a_message_without_readable_headers_is_a_chain_of_its_own() -> None:
    good = mail(sender="alex@alpha.test")
    assert [[uid for uid, _ in chain] for chain in chains([(1, b"\xff\xfe garbage"), (2, good)])] == [
        [1],
        [2],
    ]


@pytest.mark.skipif(
    "sqlite" in settings.DATABASES["default"]["ENGINE"],
    reason="an in-memory SQLite test database is invisible to another process; CI runs this on PostgreSQL",
)
def test_a_batch_imported_in_two_processes_threads_replies_and_marks_every_message(
    committed_world: World, dovecot: Dovecot
) -> None:
    world = committed_world
    dovecot.clear()
    mailbox = Mailbox.objects.create(
        name="Support", address="support@desk.test", **dovecot.mailbox_settings()
    )
    raws = [mail(sender=world.customer_a.email, subject="Mail server down", message_id="<first@client.test>")]
    # The manager's reply right behind the request, in the same fetch: it must join its ticket.
    raws.append(
        mail(sender=world.manager_a.email, subject="Re: Mail server down", in_reply_to="<first@client.test>")
    )
    for n in range(6):
        sender = (world.customer_b, world.manager_b, world.customer_a2)[n % 3]
        raws.append(mail(sender=sender.email, subject=f"Separate problem {n}"))
    dovecot.append_many(raws)

    with ImportPool(2) as pool:
        handled = poll_mailbox(mailbox, pool.handler(mailbox))
        assert handled == len(raws)
        assert all(flags == (b"\\Seen",) for _uid, flags, _raw in dovecot.messages())
        request = Ticket.objects.get(subject="Mail server down")
        assert InboundMessage.objects.get(subject="Re: Mail server down").ticket_id == request.pk
        assert InboundMessage.objects.filter(state=InboundState.TICKET).count() == 7
        assert Ticket.objects.filter(subject__startswith="Separate problem").count() == 6
        # Offered again (say the flags were lost): recognised, nothing new.
        with dovecot.client() as client:
            client.select_folder("INBOX")
            client.remove_flags(client.search("ALL"), [b"\\Seen"])
        assert poll_mailbox(mailbox, pool.handler(mailbox)) == len(raws)
    assert InboundMessage.objects.count() == len(raws)
    assert Ticket.objects.filter(organisation__in=[world.org_a, world.org_b]).count() == 7
    mailbox.refresh_from_db()
    assert mailbox.last_error == ""


def test_the_watcher_refuses_fewer_than_one_process() -> None:
    with pytest.raises(CommandError, match="at least 1"):
        call_command("watch_mailboxes", processes=0)


@pytest.mark.skipif(
    "sqlite" in settings.DATABASES["default"]["ENGINE"],
    reason="an in-memory SQLite test database is invisible to another process; CI runs this on PostgreSQL",
)
def test_the_watcher_imports_through_the_pool_as_mail_arrives(
    committed_world: World, dovecot: Dovecot
) -> None:
    """``watch_mailboxes --processes 2``: the IDLE watcher hands each fetched batch to the pool."""
    world = committed_world
    dovecot.clear()
    Mailbox.objects.create(name="Support", address="support@desk.test", **dovecot.mailbox_settings())
    stop = threading.Event()
    with ImportPool(2) as pool:
        pool.start()
        thread = threading.Thread(
            target=WatchCommand().watch,
            args=(stop,),
            kwargs={"handler_for": pool.handler, "reload_interval": 0.5},
            daemon=True,
        )
        thread.start()
        try:
            dovecot.append(
                mail(sender=world.customer_a.email, subject="Scanner broken", message_id="<s@c.test>")
            )
            dovecot.append(
                mail(sender=world.manager_a.email, subject="Re: Scanner broken", in_reply_to="<s@c.test>")
            )
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and InboundMessage.objects.count() < 2:
                time.sleep(0.1)
        finally:
            stop.set()
            thread.join(10)
    assert not thread.is_alive()
    request = Ticket.objects.get(subject="Scanner broken")
    assert InboundMessage.objects.get(subject="Re: Scanner broken").ticket_id == request.pk
    assert [flags for _uid, flags, _raw in dovecot.messages()] == [(b"\\Seen",), (b"\\Seen",)]
