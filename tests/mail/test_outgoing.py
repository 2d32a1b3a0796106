"""Outgoing mail: the outbox written in the transaction of each ticket change, and its delivery
over real SMTP (an aiosmtpd sink on 127.0.0.1) with threading headers, templates in the
recipient's language, retries with backoff, refusals and failing addresses, concurrent workers,
and the one-click rating page of "resolved" mails."""

from __future__ import annotations

import datetime as dt
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import suppress
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.core import signing
from django.db import close_old_connections, connection, transaction
from django.test import Client
from django.test.signals import template_rendered
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import formats, timezone

from tests.factories import World
from tests.mail.smtp import SmtpSink, serving, start_sink
from tierdesk.accounts.models import User
from tierdesk.audit.models import AuditEvent
from tierdesk.mail import tasks
from tierdesk.mail.choices import NotificationKind, OutboundState, Transport
from tierdesk.mail.models import (
    FailingAddress,
    InboundMessage,
    Mailbox,
    NotificationTemplate,
    OutboundMessage,
)
from tierdesk.mail.outgoing import (
    BACKOFF,
    deliver_due_messages,
    queue_sla_notifications,
    rating_token,
    save_notification_template,
)
from tierdesk.mail.outgoing import outbox as outbox_module
from tierdesk.mail.selectors import MAX_REFERENCES, MailThread
from tierdesk.tickets import services
from tierdesk.tickets.choices import Channel, Status
from tierdesk.tickets.models import Ticket
from tierdesk.tickets.signals import ticket_changed

pytestmark = pytest.mark.django_db

Kind = NotificationKind


@pytest.fixture
def sink(settings: Any) -> Iterator[SmtpSink]:
    """The SMTP sink of tests/mail/smtp.py, Django's mail going to it."""
    with serving(settings) as running:
        yield running


def sent_to(ticket: Ticket) -> list[tuple[str, str]]:
    """(kind, address) of the ticket's outbox rows, in order."""
    return list(
        OutboundMessage.objects.filter(ticket=ticket).order_by("id").values_list("kind", "to_address")
    )


def row(ticket: Ticket, kind: str) -> OutboundMessage:
    return OutboundMessage.objects.get(ticket=ticket, kind=kind)


def deliver_all() -> int:
    total = 0
    while taken := deliver_due_messages():
        total += taken
    return total


def resolve(world: World, ticket: Ticket) -> Ticket:
    services.assign_ticket(ticket, assignee=world.l1, actor=world.l1)
    return services.transition_ticket(ticket, to_status=Status.RESOLVED, actor=world.l1)


def inbound(ticket: Ticket, message_id: str, *, mailbox: Mailbox | None = None, minutes: int = 0) -> None:
    """A received message on ``ticket``, as the import service records it."""
    InboundMessage.objects.create(
        key=message_id,
        message_id=message_id,
        transport=Transport.IMAP,
        mailbox=mailbox,
        sender="alex@alpha.test",
        state="ticket",
        ticket=ticket,
        received_at=timezone.now() + dt.timedelta(minutes=minutes),
        raw="mail/raw/x.eml",
        raw_size=1,
        raw_sha256="0" * 64,
    )


# --- The outbox, written with the change --------------------------------------------------------


def test_each_change_tells_the_right_person_and_never_the_actor(world: World) -> None:
    a, l1 = world.customer_a, world.l1
    ticket = world.ticket()  # filed by the requester himself: the acknowledgement still goes
    assert sent_to(ticket) == [(Kind.RECEIVED, a.email)]

    services.assign_ticket(ticket, assignee=l1, actor=l1)  # he took it himself
    services.add_internal_note(ticket, actor=l1, body="Looking")
    assert len(sent_to(ticket)) == 1

    entry = services.add_public_reply(ticket, actor=l1, body="Restart it, please")
    assert sent_to(ticket)[-1] == (Kind.AGENT_REPLIED, a.email)
    assert row(ticket, Kind.AGENT_REPLIED).entry_id == entry.pk

    services.transition_ticket(ticket, to_status=Status.WAITING_CUSTOMER, actor=l1)
    assert sent_to(ticket)[-1] == (Kind.WAITING_FOR_CUSTOMER, a.email)

    answer = services.add_public_reply(ticket, actor=a, body="Done, still broken")  # back in progress
    assert sent_to(ticket)[-1] == (Kind.CUSTOMER_REPLIED, l1.email)
    assert row(ticket, Kind.CUSTOMER_REPLIED).entry_id == answer.pk
    services.add_public_reply(ticket, actor=world.manager_a, body="Urgent for us")  # his manager
    assert sent_to(ticket)[-1] == (Kind.CUSTOMER_REPLIED, l1.email)

    services.transition_ticket(ticket, to_status=Status.RESOLVED, actor=l1)
    assert sent_to(ticket)[-1] == (Kind.RESOLVED, a.email)
    count = len(sent_to(ticket))
    services.transition_ticket(ticket, to_status=Status.CLOSED, actor=a)  # he closes it himself
    assert len(sent_to(ticket)) == count

    other = world.ticket(requester=world.customer_b)
    services.assign_ticket(other, assignee=world.l1_b_only, actor=world.admin)  # someone else assigns him
    assert sent_to(other)[-1] == (Kind.ASSIGNED, world.l1_b_only.email)
    services.transition_ticket(other, to_status=Status.RESOLVED, actor=world.l1_b_only)
    services.transition_ticket(other, to_status=Status.CLOSED, actor=world.l1_b_only)
    assert sent_to(other)[-2:] == [
        (Kind.RESOLVED, world.customer_b.email),
        (Kind.CLOSED, world.customer_b.email),
    ]
    # Nothing about the other organisation's ticket was addressed to anyone of Alpha.
    assert {address for _kind, address in sent_to(other)} == {world.customer_b.email, world.l1_b_only.email}


def test_inactive_people_and_people_without_an_address_are_not_mailed(world: World) -> None:
    User.objects.filter(pk=world.customer_a2.pk).update(email="")
    ticket = world.ticket(requester=User.objects.get(pk=world.customer_a2.pk))
    assert sent_to(ticket) == []
    ticket = world.ticket()
    services.assign_ticket(ticket, assignee=world.l1, actor=world.admin)
    User.objects.filter(pk=world.l1.pk).update(is_active=False)
    services.add_public_reply(ticket, actor=world.customer_a, body="Hello?")
    assert [kind for kind, _address in sent_to(ticket)] == [Kind.RECEIVED, Kind.ASSIGNED]


def test_the_row_has_the_recipients_language_and_a_message_id_of_the_ticket(world: World) -> None:
    User.objects.filter(pk=world.customer_a.pk).update(language="ru")
    russian = world.ticket(requester=User.objects.get(pk=world.customer_a.pk))
    default = world.ticket(requester=world.customer_a2)
    assert row(russian, Kind.RECEIVED).language == "ru"
    assert row(default, Kind.RECEIVED).language == settings.LANGUAGE_CODE
    message_id = row(russian, Kind.RECEIVED).message_id
    assert re.fullmatch(
        rf"td\.{russian.pk}\.[0-9a-f]{{16}}@{re.escape(settings.TIERDESK_MAIL_DOMAIN)}", message_id
    )
    assert settings.TIERDESK_MAIL_DOMAIN == "localhost"  # from DEFAULT_FROM_EMAIL's address


def test_a_rolled_back_change_mails_nobody(world: World) -> None:
    class Boom(Exception):
        pass

    with suppress(Boom), transaction.atomic():
        world.ticket(subject="Never happened")
        raise Boom
    assert not Ticket.objects.filter(subject="Never happened").exists()
    assert not OutboundMessage.objects.exists()
    ticket = world.ticket()
    with suppress(Boom), transaction.atomic():
        services.add_public_reply(ticket, actor=world.l1, body="Rolled back")
        raise Boom
    assert sent_to(ticket) == [(Kind.RECEIVED, world.customer_a.email)]


def test_the_worker_is_asked_once_per_transaction_after_the_commit(world: World) -> None:
    def asks() -> list[bool]:
        return [
            robust for _s, func, robust in connection.run_on_commit if func is outbox_module._start_delivery
        ]

    with transaction.atomic():
        with suppress(ZeroDivisionError), transaction.atomic():
            world.ticket()
            assert asks() == [True]
            1 / 0  # noqa: B018 -- the savepoint rolls back, and its request to the worker with it
        assert asks() == []
        first = world.ticket()
        world.ticket()
        services.add_public_reply(first, actor=world.l1, body="Hi")
        assert OutboundMessage.objects.count() == 3
        assert asks() == [True]  # once, robust: a broker that is down does not fail the commit


def test_commits_close_together_share_one_queued_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    """Queueing costs (0.6 ms with Redis, 15 ms with the SQLite broker): a task queued to start
    a moment later serves the commits of the first half of that moment too."""
    queued: list[dict[str, Any]] = []
    clock = [1000.0]
    monkeypatch.setattr(tasks.deliver, "apply_async", lambda **kwargs: queued.append(kwargs))
    monkeypatch.setattr(outbox_module, "_clock", lambda: clock[0])
    monkeypatch.setattr(outbox_module, "_queued_until", 0.0)
    conf = tasks.deliver.app.conf
    eager, conf.task_always_eager = conf.task_always_eager, False  # as with a real broker
    try:
        delay = outbox_module.DELIVERY_DELAY_SECONDS
        outbox_module._start_delivery()
        assert queued == [{"countdown": delay}]
        clock[0] += delay / 2 - 0.01  # well before the queued task starts: it serves this commit
        outbox_module._start_delivery()
        assert len(queued) == 1
        clock[0] += 0.02  # too close to its start (the clocks of two hosts): queue another
        outbox_module._start_delivery()
        assert len(queued) == 2
        conf.task_always_eager = True  # an eager task has run at once: never skipped
        outbox_module._start_delivery()
        assert len(queued) == 3
    finally:
        conf.task_always_eager = eager


def test_creating_a_ticket_by_api_writes_one_row_in_one_insert_and_renders_nothing(
    world: World, api: Any
) -> None:
    client = api(world.l1)
    body = {"organisation_id": world.org_a.pk, "requester_id": world.customer_a.pk, "subject": "Paper jam"}
    assert client.post("tickets", body).status_code == 201  # warms the process's snapshots
    rendered: list[Any] = []

    def count_rendering(sender: Any, **kwargs: Any) -> None:
        rendered.append(sender)

    template_rendered.connect(count_rendering)
    try:
        with CaptureQueriesContext(connection) as with_mail:
            response = client.post("tickets", body)
        assert response.status_code == 201
        ticket_changed.disconnect(dispatch_uid="tierdesk.mail.outbox")
        try:
            with CaptureQueriesContext(connection) as without_mail:
                assert client.post("tickets", body).status_code == 201
        finally:
            ticket_changed.connect(outbox_module.on_ticket_changed, dispatch_uid="tierdesk.mail.outbox")
        assert rendered == []
        ours = [q["sql"] for q in with_mail.captured_queries if '"mail_' in q["sql"]]
        assert len(ours) == 1 and ours[0].startswith("INSERT"), ours
        assert len(with_mail.captured_queries) == len(without_mail.captured_queries) + 1
        assert sent_to(Ticket.objects.get(pk=response.json()["id"])) == [
            (Kind.RECEIVED, world.customer_a.email)
        ]
        deliver_all()  # the positive control: delivering does render (the worker's job)
        assert rendered
    finally:
        template_rendered.disconnect(count_rendering)


# --- Delivery over SMTP -------------------------------------------------------------------------


def test_delivery_threads_a_portal_request_on_its_received_notice(world: World, sink: SmtpSink) -> None:
    ticket = world.ticket(subject="Printer & scanner")
    services.assign_ticket(ticket, assignee=world.l1, actor=world.l1)
    services.add_public_reply(ticket, actor=world.l1, body="Please restart the printer.\nThen try again.")
    assert deliver_all() == 2
    received, reply = row(ticket, Kind.RECEIVED), row(ticket, Kind.AGENT_REPLIED)
    first, second = sink.messages
    assert first.rcpt_tos == second.rcpt_tos == [world.customer_a.email]

    notice = first.message
    assert notice["Message-ID"] == f"<{received.message_id}>"
    assert notice["In-Reply-To"] is None and notice["References"] is None  # it is the root
    assert first.subject == f"[{ticket.number}] Request received: Printer & scanner"
    assert notice["Auto-Submitted"] == "auto-generated" and notice["X-Tierdesk-Ticket"] == ticket.number
    assert notice["From"] == settings.DEFAULT_FROM_EMAIL
    assert f"{settings.TIERDESK_BASE_URL}/portal/r/{ticket.number}/" in first.text
    assert ticket.number in first.text

    answer = second.message
    assert answer["Message-ID"] == f"<{reply.message_id}>"
    assert answer["In-Reply-To"] == f"<{received.message_id}>"
    assert answer["References"] == f"<{received.message_id}>"
    assert second.subject == f"Re: [{ticket.number}] Printer & scanner"
    assert answer["Auto-Submitted"] is None  # a person's answer, not an automatic notice
    assert "Please restart the printer.\nThen try again." in second.text
    assert world.l1.get_full_name() in second.text

    # What was sent is kept on the row.
    assert reply.state == OutboundState.SENT and reply.sent_at is not None and reply.attempts == 1
    assert reply.subject == second.subject and reply.body.strip() == second.text.strip()
    assert reply.in_reply_to == received.message_id and reply.references == received.message_id
    assert deliver_all() == 0


def test_a_mailed_request_threads_on_the_customers_messages_and_answers_from_its_mailbox(
    world: World, sink: SmtpSink
) -> None:
    mailbox = Mailbox.objects.create(name="Support", address="support@desk.test")
    ticket = world.ticket(channel=Channel.EMAIL)
    inbound(ticket, "first@mail.alpha.test", mailbox=mailbox)
    deliver_all()
    [notice] = sink.messages
    assert notice.message["In-Reply-To"] == "<first@mail.alpha.test>"
    assert notice.message["References"] == "<first@mail.alpha.test>"
    assert notice.message["From"] == "Tierdesk <support@desk.test>"
    assert notice.mail_from == "support@desk.test"

    inbound(ticket, "second@mail.alpha.test", minutes=5)
    services.add_public_reply(ticket, actor=world.l1, body="On it")
    deliver_all()
    answer = sink.messages[-1].message
    assert answer["In-Reply-To"] == "<second@mail.alpha.test>"
    assert answer["References"] == "<first@mail.alpha.test> <second@mail.alpha.test>"
    assert answer["From"] == "Tierdesk <support@desk.test>"


def test_references_keep_the_root_and_the_latest_ids() -> None:
    thread = MailThread(root="root@x", inbound=["root@x", *(f"m{n}@x" for n in range(20))])
    in_reply_to, references = thread.headers_for("mine@x")
    assert in_reply_to == "m19@x"
    assert len(references) == MAX_REFERENCES
    assert references[0] == "root@x" and references[-1] == "m19@x"
    assert MailThread(root="mine@x").headers_for("mine@x") == ("", [])


def test_a_russian_contact_gets_the_russian_template(world: World, sink: SmtpSink) -> None:
    save_notification_template(
        NotificationTemplate(
            kind=Kind.RECEIVED,
            language="ru",
            subject="Заявка {{ ticket.number }} принята",
            body="\n".join(
                ["Здравствуйте, {{ recipient.name }}!", "Заявка «{{ ticket.subject }}» зарегистрирована."]
            ),
        ),
        actor=world.admin,
    )
    User.objects.filter(pk=world.customer_a.pk).update(language="ru")
    russian = world.ticket(requester=User.objects.get(pk=world.customer_a.pk), subject="Принтер")
    english = world.ticket(requester=world.customer_a2, subject="Printer")
    deliver_all()
    [to_russian] = sink.to(world.customer_a.email)
    [to_english] = sink.to(world.customer_a2.email)
    # The template names the number without brackets: the bracketed tag is added for threading.
    assert to_russian.subject == f"[{russian.number}] Заявка {russian.number} принята"
    greeting = f"Здравствуйте, {world.customer_a.get_full_name()}!"
    assert to_russian.text.strip().splitlines() == [greeting, "Заявка «Принтер» зарегистрирована."]
    assert to_english.subject == f"[{english.number}] Request received: Printer"
    assert "we have received your request" in to_english.text


def test_an_administrators_template_replaces_the_shipped_one_and_an_inactive_one_silences_it(
    world: World, sink: SmtpSink
) -> None:
    template = save_notification_template(
        NotificationTemplate(
            kind=Kind.RECEIVED,
            language="en",
            subject="Got it: {{ ticket.subject }}",
            body="We have {{ ticket.number }} for <b>{{ ticket.organisation }}</b>.{{ no.such.thing }}|",
        ),
        actor=world.admin,
    )
    ticket = world.ticket(subject="Paper & toner")
    deliver_all()
    [mail] = sink.messages
    assert mail.subject == f"[{ticket.number}] Got it: Paper & toner"  # plain text, no escaping
    assert mail.text.strip() == f"We have {ticket.number} for <b>Alpha Ltd</b>.|"

    template.is_active = False
    save_notification_template(template, actor=world.admin)
    silenced = world.ticket()
    User.objects.filter(pk=world.customer_b.pk).update(language="ru")
    other_language = world.ticket(requester=User.objects.get(pk=world.customer_b.pk))
    deliver_all()
    skipped = row(silenced, Kind.RECEIVED)
    assert skipped.state == OutboundState.SKIPPED and "switched off" in skipped.last_error
    assert [m.rcpt_tos for m in sink.messages[1:]] == [[world.customer_b.email]]
    assert row(other_language, Kind.RECEIVED).state == OutboundState.SENT


def test_a_template_broken_behind_the_services_back_falls_back_to_the_shipped_one(
    world: World, sink: SmtpSink
) -> None:
    NotificationTemplate.objects.create(
        kind=Kind.RECEIVED,
        language="en",
        subject="{% if %}",
        body="{% include 'mail/notifications/received.txt' %}",
    )
    ticket = world.ticket(subject="Monitor")
    deliver_all()
    [mail] = sink.messages
    assert mail.subject == f"[{ticket.number}] Request received: Monitor"
    assert "we have received your request" in mail.text
    assert row(ticket, Kind.RECEIVED).state == OutboundState.SENT


def test_a_temporary_refusal_is_retried_after_the_backoff(world: World, sink: SmtpSink) -> None:
    ticket = world.ticket()
    sink.refuse(451)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert deliver_due_messages() == 1
    message = row(ticket, Kind.RECEIVED)
    assert message.state == OutboundState.RETRYING and message.attempts == 1
    assert "451" in message.last_error and message.next_attempt_at == start + BACKOFF[0]
    assert message.subject.startswith(f"[{ticket.number}]")  # rendered once, kept for the retry
    assert sink.messages == []
    with time_machine.travel(start + BACKOFF[0] - dt.timedelta(seconds=1), tick=False):
        assert deliver_due_messages() == 0  # not due yet
    with time_machine.travel(start + BACKOFF[0] + dt.timedelta(seconds=1), tick=False):
        assert deliver_due_messages() == 1
    message.refresh_from_db()
    [mail] = sink.messages
    assert message.state == OutboundState.SENT and message.attempts == 2
    assert mail.message["Message-ID"] == f"<{message.message_id}>"  # the same message again


def test_the_backoff_grows_and_ends_in_failure(world: World, sink: SmtpSink) -> None:
    ticket = world.ticket()
    sink.refuse(451, times=None, at="data")
    moment = timezone.now()
    waits = []
    for _attempt in range(len(BACKOFF) + 1):
        with time_machine.travel(moment, tick=False):
            assert deliver_due_messages() == 1
        message = row(ticket, Kind.RECEIVED)
        if message.state == OutboundState.RETRYING:
            waits.append(message.next_attempt_at - moment)
            moment = message.next_attempt_at
    assert waits == list(BACKOFF)  # 1 min, 5 min, 30 min, 2 h, 12 h
    assert message.state == OutboundState.FAILED and message.attempts == len(BACKOFF) + 1
    assert "451" in message.last_error and len(sink.refusals) == len(BACKOFF) + 1
    with time_machine.travel(moment + dt.timedelta(days=1), tick=False):
        assert deliver_due_messages() == 0


@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_a_permanent_refusal_fails_at_once(world: World, sink: SmtpSink, stage: str) -> None:
    ticket = world.ticket()
    sink.refuse(550, times=None, at=stage)
    assert deliver_all() == 1
    message = row(ticket, Kind.RECEIVED)
    assert message.state == OutboundState.FAILED and message.attempts == 1 and "550" in message.last_error
    assert sink.messages == []


def test_a_failing_address_is_skipped_with_the_reason(world: World, sink: SmtpSink) -> None:
    FailingAddress.objects.create(address=world.customer_a.email, reason="550 5.1.1 mailbox unknown")
    skipped = world.ticket()
    delivered = world.ticket(requester=world.customer_a2)
    assert deliver_all() == 2
    message = row(skipped, Kind.RECEIVED)
    assert message.state == OutboundState.SKIPPED and message.sent_at is None
    assert "mailbox unknown" in message.last_error and world.customer_a.email in message.last_error
    assert [m.rcpt_tos for m in sink.messages] == [[world.customer_a2.email]]
    assert row(delivered, Kind.RECEIVED).state == OutboundState.SENT


def test_an_unreachable_server_loses_nothing(world: World, settings: Any) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed_port
    tickets = [world.ticket() for _ in range(3)]
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert deliver_due_messages() == 3
    first, *rest = (row(t, Kind.RECEIVED) for t in tickets)
    assert first.state == OutboundState.RETRYING and "Connection" in first.last_error
    # The others were not tried against a server that is down: handed back, uncounted.
    assert all(m.state == OutboundState.PENDING and m.attempts == 0 for m in rest)
    assert all(m.next_attempt_at == start + BACKOFF[0] for m in rest)

    sink, controller = start_sink()
    try:
        settings.EMAIL_PORT = sink.port
        with time_machine.travel(start + dt.timedelta(minutes=2), tick=False):
            assert tasks.deliver() == 3  # the task runs batches until nothing is due
        assert sorted(m.message["Message-ID"] for m in sink.messages) == sorted(
            f"<{row(t, Kind.RECEIVED).message_id}>" for t in tickets
        )
    finally:
        controller.stop()


def test_sla_notices_are_mailed_to_staff_with_the_deadline(world: World, sink: SmtpSink) -> None:
    ticket = world.ticket()
    due = ticket.resolution_due_at
    assert due is not None
    with transaction.atomic():
        written = queue_sla_notifications(
            [
                {"ticket": ticket.pk, "target": "resolution", "percent": 75, "recipients": [world.l1.pk]},
                {"ticket": ticket.pk, "target": "resolution", "percent": 100, "recipients": [world.admin.pk]},
            ],
            tickets={ticket.pk: ticket},
        )
    assert written == 2
    deliver_all()
    [warning] = sink.to(world.l1.email)
    [breach] = sink.to(world.admin.email)
    assert warning.subject == f"[{ticket.number}] Deadline at risk: {ticket.subject}"
    assert "75% of its resolution time" in warning.text
    # As the recipient's locale writes it ("1 p.m." on the hour in English, not "13:00").
    assert formats.date_format(timezone.localtime(due), "SHORT_DATETIME_FORMAT") in warning.text
    assert f"{settings.TIERDESK_BASE_URL}/desk/t/{ticket.number}/" in warning.text  # the workspace
    assert breach.subject == f"[{ticket.number}] Deadline breached: {ticket.subject}"
    assert "missed its resolution deadline" in breach.text


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="the in-memory SQLite test database cannot be shared by threads; a real SQLite file "
    "serialises the claims (BEGIN IMMEDIATE). CI runs this on PostgreSQL.",
)
def test_two_deliverers_at_once_send_each_message_once(
    committed_world: World, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks.deliver, "apply_async", lambda *args, **kwargs: None)  # no broker here
    monkeypatch.setattr(outbox_module, "_queued_until", 0.0)
    world = committed_world
    tickets = [world.ticket() for _ in range(24)]
    sink.delay = 0.005
    taken: list[int] = []
    errors: list[BaseException] = []

    def deliverer() -> None:
        try:
            while n := deliver_due_messages(limit=4):
                taken.append(n)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=deliverer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert sum(taken) == 24
    sent_ids = [m.message["Message-ID"] for m in sink.messages]
    assert sorted(sent_ids) == sorted(f"<{row(t, Kind.RECEIVED).message_id}>" for t in tickets)
    assert OutboundMessage.objects.filter(state=OutboundState.SENT, attempts=1).count() == 24


# --- The agent's ticket page ----------------------------------------------------------------------


def test_the_ticket_page_shows_staff_what_was_mailed(world: World, sink: SmtpSink, client: Client) -> None:
    ticket = world.ticket()
    sink.refuse(550, times=None)
    deliver_all()
    services.add_public_reply(ticket, actor=world.l1, body="Hello")
    client.force_login(world.l1)
    html = client.get(reverse("workspace:ticket", args=[ticket.number])).content.decode()
    section = html[html.index('id="mail-h"') :]
    assert "Request received" in section and "Agent replied" in section
    assert world.customer_a.email in section
    assert "Failed" in section and "550" in section and "Waiting to be sent" in section
    client.force_login(world.customer_a)
    assert client.get(reverse("workspace:ticket", args=[ticket.number])).status_code in (302, 404)
    portal = client.get(reverse("portal:ticket", args=[ticket.number])).content.decode()
    assert "550" not in portal and "Waiting to be sent" not in portal


# --- The rating link ----------------------------------------------------------------------------


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def test_the_resolved_mail_links_to_a_rating_page_that_only_a_post_uses(world: World, sink: SmtpSink) -> None:
    ticket = resolve(world, world.ticket())
    deliver_all()
    [mail] = [m for m in sink.messages if "resolved" in m.subject]
    [link] = re.findall(rf"{re.escape(settings.TIERDESK_BASE_URL)}/portal/rating/\S+", mail.text)
    path = link.removeprefix(settings.TIERDESK_BASE_URL)
    client = Client(enforce_csrf_checks=True)  # nobody signed in

    page = client.get(path + "?score=5")  # what a mail scanner's prefetch does
    assert page.status_code == 200
    html = page.content.decode()
    assert re.search(r'value="5"[^>]*checked', html) and ticket.number in html
    ticket.refresh_from_db()
    assert ticket.rating is None and not AuditEvent.objects.filter(event_type="ticket.rated").exists()

    assert client.post(path, {"rating": 4}).status_code == 403  # no CSRF token: refused
    ticket.refresh_from_db()
    assert ticket.rating is None

    response = client.post(
        path, {"rating": 4, "comment": "Quick, thanks", "csrfmiddlewaretoken": csrf_of(html)}
    )
    assert response.status_code == 302 and response.url == path
    ticket.refresh_from_db()
    assert (ticket.rating, ticket.rating_comment) == (4, "Quick, thanks")
    assert AuditEvent.objects.get(event_type="ticket.rated").actor == world.customer_a
    assert "You rated it 4 of 5." in client.get(path).content.decode()


def test_a_forged_or_expired_rating_link_changes_nothing(world: World) -> None:
    ticket = resolve(world, world.ticket())
    token = rating_token(ticket.pk, world.customer_a.pk)
    client = Client()
    forged = [
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        signing.TimestampSigner(salt="another").sign(f"{ticket.pk}.{world.customer_a.pk}"),
        rating_token(ticket.pk, world.customer_a2.pk),  # genuine, but not the requester
        rating_token(999_999, world.customer_a.pk),
    ]
    for bad in forged:
        url = reverse("portal:rate_by_link", args=[bad])
        response = client.get(url)
        assert response.status_code == 404 and "not valid" in response.content.decode()
        assert client.post(url, {"rating": 1}).status_code in (403, 404)
    url = reverse("portal:rate_by_link", args=[token])
    with time_machine.travel(timezone.now() + dt.timedelta(days=31)):
        response = client.get(url)
        assert response.status_code == 400 and "expired" in response.content.decode()
        post = Client(enforce_csrf_checks=False).post(url, {"rating": 1})
        assert post.status_code == 400
    ticket.refresh_from_db()
    assert ticket.rating is None


def test_a_reopened_request_cannot_be_rated_by_link(world: World) -> None:
    ticket = resolve(world, world.ticket())
    services.transition_ticket(ticket, to_status=Status.IN_PROGRESS, actor=world.customer_a)
    url = reverse("portal:rate_by_link", args=[rating_token(ticket.pk, world.customer_a.pk)])
    client = Client()
    assert "cannot be rated" in client.get(url).content.decode()
    assert client.post(url, {"rating": 5}).status_code == 409
    ticket.refresh_from_db()
    assert ticket.rating is None
