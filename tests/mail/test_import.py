"""Importing received mail: new requests, replies threaded by headers and by number, agents
answering by mail, held and quarantined messages, bounces, loops and storms, exactly once."""

from __future__ import annotations

import io
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from tests.factories import World
from tierdesk.accounts.models import User
from tierdesk.audit.models import AuditEvent
from tierdesk.common.errors import Conflict, DomainError, NotPermitted
from tierdesk.mail import services
from tierdesk.mail.choices import InboundState, NotificationKind, OutboundState, Transport
from tierdesk.mail.models import FailingAddress, InboundMessage, Mailbox, OutboundMessage
from tierdesk.tickets import services as tickets
from tierdesk.tickets.choices import Channel, EntryKind, Status
from tierdesk.tickets.models import Ticket, TicketLink

pytestmark = pytest.mark.django_db


def mail(
    *,
    sender: str,
    subject: str = "The printer on floor 3 jams",
    body: str = "Every second page jams since this morning.\n",
    to: str = "support@desk.test",
    message_id: str | None = None,
    in_reply_to: str = "",
    references: str = "",
    headers: dict[str, str] | None = None,
    attachments: list[tuple[str, bytes, str]] = (),  # type: ignore[assignment]
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(timezone.now())
    msg["Message-ID"] = message_id or make_msgid(domain="client.test")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    for filename, data, ctype in attachments:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def receive(raw: bytes, mailbox: Mailbox | None = None) -> InboundMessage:
    return services.import_message(raw, transport=Transport.IMAP, mailbox=mailbox)


@pytest.fixture
def mailbox(world: World) -> Mailbox:
    return services.save_mailbox(
        Mailbox(name="Support", address="support@desk.test", category=world.category), actor=world.admin
    )


def outbound(ticket: Ticket, to: User) -> OutboundMessage:
    """A notification as the outbox writes it (the Message-ID a customer's reply names)."""
    return OutboundMessage.objects.create(
        ticket=ticket,
        kind=NotificationKind.RECEIVED,
        recipient=to,
        to_address=to.email,
        language="en",
        message_id=f"td.{ticket.pk}.x{OutboundMessage.objects.count()}@desk.test",
    )


# --- New requests ------------------------------------------------------------------------------


def test_a_known_contact_opens_a_ticket_with_his_files_and_the_original(
    world: World, mailbox: Mailbox
) -> None:
    raw = mail(
        sender="Alex <alex@alpha.test>", attachments=[("jam.jpg", b"\xff\xd8jpeg bytes", "image/jpeg")]
    )
    row = receive(raw, mailbox)
    assert row.state == InboundState.TICKET
    ticket = row.ticket
    assert ticket is not None
    assert ticket.requester == world.customer_a
    assert ticket.organisation == world.org_a
    assert ticket.channel == Channel.EMAIL
    assert ticket.category == world.category
    assert ticket.subject == "The printer on floor 3 jams"
    assert "Every second page jams" in ticket.description
    files = {a.filename: a for a in ticket.attachments.all()}
    assert files["jam.jpg"].file.read() == b"\xff\xd8jpeg bytes"
    original = next(a for name, a in files.items() if name.endswith(".eml"))
    assert original.file.read() == raw
    assert not original.is_internal
    assert row.sender == "alex@alpha.test"
    assert row.mailbox == mailbox
    with row.raw.open("rb") as fh:
        assert fh.read() == raw


def test_the_same_message_twice_is_imported_once(world: World, mailbox: Mailbox) -> None:
    raw = mail(sender="alex@alpha.test")
    first = receive(raw, mailbox)
    again = services.import_message(raw, transport=Transport.LMTP, mailbox=None)
    assert again.pk == first.pk
    assert Ticket.objects.filter(requester=world.customer_a).count() == 1
    assert InboundMessage.objects.count() == 1


def test_without_message_id_the_content_is_the_key(world: World) -> None:
    raw = mail(sender="alex@alpha.test").replace(b"Message-ID:", b"X-Old-Id:")
    assert receive(raw).pk == receive(raw).pk
    other = receive(raw.replace(b"Every second page", b"Every third page"))
    assert other.key != InboundMessage.objects.order_by("id").first().key  # type: ignore[union-attr]
    assert Ticket.objects.filter(requester=world.customer_a).count() == 2


def test_an_unknown_sender_of_a_client_domain_becomes_its_contact(world: World) -> None:
    row = receive(mail(sender="Carl Jung <carl@beta.test>"))
    assert row.state == InboundState.TICKET
    contact = User.objects.get(email="carl@beta.test")
    assert contact.organisation == world.org_b
    assert contact.is_customer
    assert (contact.first_name, contact.last_name) == ("Carl", "Jung")
    assert not contact.has_usable_password()
    assert row.ticket is not None and row.ticket.requester == contact


def test_the_mailbox_default_organisation_takes_unknown_domains(world: World, mailbox: Mailbox) -> None:
    mailbox.default_organisation = world.org_a
    services.save_mailbox(mailbox, actor=world.admin)
    row = receive(mail(sender="someone@gmail.test"), mailbox)
    assert row.state == InboundState.TICKET
    assert User.objects.get(email="someone@gmail.test").organisation == world.org_a


def test_nobody_claims_the_sender_the_message_is_held_then_assigned(world: World, mailbox: Mailbox) -> None:
    row = receive(mail(sender="Stranger <stranger@nowhere.test>"), mailbox)
    assert row.state == InboundState.HELD
    assert row.ticket is None
    assert "organisation" in row.reason
    assert not User.objects.filter(email="stranger@nowhere.test").exists()

    with pytest.raises(NotPermitted):
        services.assign_message(row, organisation=world.org_b, actor=world.customer_b)
    with pytest.raises(NotPermitted):  # l1b serves only org B
        services.assign_message(row, organisation=world.org_a, actor=world.l1_b_only)
    with pytest.raises(DomainError):
        services.assign_message(row, organisation=world.provider, actor=world.admin)
    row.refresh_from_db()
    assert row.state == InboundState.HELD
    services.assign_message(row, organisation=world.org_b, actor=world.l1)
    row.refresh_from_db()
    assert row.state == InboundState.TICKET
    assert row.handled_by == world.l1
    assert row.ticket is not None and row.ticket.organisation == world.org_b
    assert row.ticket.requester.email == "stranger@nowhere.test"
    event = AuditEvent.objects.get(event_type="mail.assigned")
    assert event.actor == world.l1 and event.new["ticket"] == row.ticket.pk
    with pytest.raises(Conflict):
        services.assign_message(row, organisation=world.org_b, actor=world.l1)


def test_a_held_message_cannot_be_given_to_someone_elses_contact(world: World) -> None:
    row = receive(mail(sender="alex@alpha.test", subject="x"))  # a known contact of org A ...
    assert row.state == InboundState.TICKET
    other = receive(mail(sender="l2@provider.test", subject="Please open a ticket for Alpha"))
    assert other.state == InboundState.HELD  # staff writing in with no ticket
    with pytest.raises(DomainError):
        services.assign_message(other, organisation=world.org_a, actor=world.l1)


def test_a_message_without_sender_is_held(world: World) -> None:
    raw = mail(sender="alex@alpha.test").replace(b"From: alex@alpha.test\n", b"")
    row = receive(raw)
    assert row.state == InboundState.HELD
    assert row.ticket is None


# --- Replies -----------------------------------------------------------------------------------


def test_a_reply_to_our_notification_threads_into_the_ticket(world: World) -> None:
    ticket = world.ticket()
    sent = outbound(ticket, world.customer_a)
    raw = mail(
        sender="alex@alpha.test",
        subject="Re: your request",  # no number: the headers alone thread it
        body="It still jams.\n\nOn Mon, Alex wrote:\n> old text\n",
        in_reply_to=f"<{sent.message_id}>",
        references=f"<{sent.message_id}>",
    )
    row = receive(raw)
    assert row.state == InboundState.REPLY
    assert row.ticket == ticket
    assert row.entry is not None
    assert row.entry.kind == EntryKind.PUBLIC
    assert row.entry.channel == Channel.EMAIL
    assert row.entry.author == world.customer_a
    assert "It still jams." in row.entry.body
    assert "old text" not in row.entry.body  # quoted history stripped ...
    eml = ticket.attachments.get(entry=row.entry, filename__endswith=".eml")
    assert b"old text" in eml.file.read()  # ... and kept in the original
    assert Ticket.objects.count() == 1


def test_a_reply_by_number_in_the_subject(world: World) -> None:
    ticket = world.ticket()
    row = receive(mail(sender="alex@alpha.test", subject=f"RE: [{ticket.number}] printer"))
    assert row.state == InboundState.REPLY
    assert row.ticket == ticket


def test_another_organisations_customer_cannot_write_into_a_ticket_by_its_number(world: World) -> None:
    ticket = world.ticket()  # org A's
    row = receive(mail(sender="bob@beta.test", subject=f"[{ticket.number}] let me in"))
    assert row.state == InboundState.TICKET
    assert row.ticket is not None and row.ticket != ticket
    assert row.ticket.organisation == world.org_b
    assert not ticket.entries.filter(kind=EntryKind.PUBLIC).exists()


def test_a_reply_to_our_message_from_another_organisation_does_not_thread(world: World) -> None:
    ticket = world.ticket()
    sent = outbound(ticket, world.customer_a)
    row = receive(mail(sender="bob@beta.test", in_reply_to=f"<{sent.message_id}>"))
    assert row.ticket is not None and row.ticket.organisation == world.org_b


def test_a_reply_reopens_a_resolved_ticket(world: World) -> None:
    ticket = world.ticket()
    tickets.assign_ticket(ticket, assignee=world.l1, actor=world.l1)
    tickets.transition_ticket(ticket, to_status=Status.RESOLVED, actor=world.l1)
    row = receive(
        mail(sender="alex@alpha.test", subject=f"Re: [{ticket.number}] done?", body="No, it is not.")
    )
    ticket.refresh_from_db()
    assert row.state == InboundState.REPLY
    assert ticket.status == Status.IN_PROGRESS


def test_a_reply_to_a_closed_ticket_opens_a_linked_request(world: World) -> None:
    ticket = world.ticket()
    tickets.assign_ticket(ticket, assignee=world.l1, actor=world.l1)
    tickets.transition_ticket(ticket, to_status=Status.RESOLVED, actor=world.l1)
    tickets.transition_ticket(ticket, to_status=Status.CLOSED, actor=world.l1)
    row = receive(mail(sender="alex@alpha.test", subject=f"Re: [{ticket.number}] again"))
    assert row.state == InboundState.TICKET
    assert row.ticket is not None and row.ticket != ticket
    assert TicketLink.objects.filter(source=ticket, target=row.ticket).exists()  # (lower number first)


def test_an_agent_answers_by_mail_publicly_from_l1_privately_from_l3(world: World) -> None:
    ticket = world.ticket()
    first = receive(mail(sender="l1@provider.test", subject=f"Re: [{ticket.number}]", body="Try the tray."))
    assert first.state == InboundState.REPLY
    assert first.entry is not None and first.entry.kind == EntryKind.PUBLIC
    assert first.entry.author == world.l1
    ticket.refresh_from_db()
    assert ticket.first_response_at is not None

    tickets.escalate_ticket(ticket, to_line=world.lines["L3"], actor=world.l1, reason="needs an expert")
    second = receive(mail(sender="l3@provider.test", subject=f"Re: [{ticket.number}]", body="Fuser is worn."))
    assert second.entry is not None and second.entry.kind == EntryKind.INTERNAL
    eml = ticket.attachments.get(entry=second.entry)
    assert eml.is_internal  # the agent's original mail stays internal too


def test_an_agent_who_does_not_serve_the_organisation_cannot_write_by_mail(world: World) -> None:
    ticket = world.ticket()  # org A; l1b serves only org B
    row = receive(mail(sender="l1b@provider.test", subject=f"Re: [{ticket.number}]"))
    assert row.state == InboundState.HELD
    assert not ticket.entries.filter(author=world.l1_b_only).exists()


# --- Loops, noise, storms ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"X-Autoreply": "yes"},
        {"Precedence": "bulk"},
    ],
)
def test_automatic_replies_create_nothing(world: World, headers: dict[str, str]) -> None:
    ticket = world.ticket()
    row = receive(mail(sender="alex@alpha.test", subject=f"Re: [{ticket.number}]", headers=headers))
    assert row.state == InboundState.AUTO_REPLY
    assert row.reason
    assert row.ticket is None
    assert Ticket.objects.count() == 1
    assert not ticket.entries.filter(kind=EntryKind.PUBLIC).exists()
    assert not OutboundMessage.objects.filter(ticket=ticket, kind=NotificationKind.CUSTOMER_REPLIED).exists()


def test_a_russian_out_of_office_subject_creates_nothing(world: World) -> None:
    row = receive(mail(sender="alex@alpha.test", subject="Автоответ: Нет на месте до 5 декабря"))
    assert row.state == InboundState.AUTO_REPLY
    assert not Ticket.objects.exists()


def test_a_storm_from_one_sender_is_cut_off(world: World, settings: Any) -> None:
    settings.TIERDESK_MAIL_SENDER_RATE = (3, 3600)
    rows = [receive(mail(sender="carl@beta.test", subject=f"loop {i}")) for i in range(5)]
    assert [r.state for r in rows] == [InboundState.TICKET] * 3 + [InboundState.RATE_LIMITED] * 2
    assert Ticket.objects.count() == 3
    assert rows[-1].reason


def test_a_bounce_marks_the_address_and_lands_on_the_ticket(world: World) -> None:
    ticket = world.ticket()
    sent = outbound(ticket, world.customer_a)
    raw = (
        "From: MAILER-DAEMON@mx.alpha.test (Mail Delivery System)\r\n"
        "To: support@desk.test\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce.1@mx.alpha.test>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
        "This is the mail system at host mx.alpha.test. I'm sorry to have to inform you...\r\n"
        "\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.alpha.test\r\n\r\n"
        "Final-Recipient: rfc822; alex@alpha.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <alex@alpha.test>: Recipient address rejected: User unknown\r\n"
        "\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: support@desk.test\r\nTo: alex@alpha.test\r\nMessage-ID: <{sent.message_id}>\r\nSubject: x\r\n"
        "\r\n--B--\r\n"
    ).encode()

    row = receive(raw)
    assert row.state == InboundState.BOUNCE
    assert row.ticket == ticket
    failing = FailingAddress.objects.get(address="alex@alpha.test")
    assert "5.1.1" in failing.reason
    sent.refresh_from_db()
    assert sent.state == OutboundState.FAILED
    event = ticket.entries.get(kind=EntryKind.EVENT, event="ticket.mail_bounced")
    assert "alex@alpha.test" in event.body
    assert ticket.attachments.get(entry=event).is_internal
    assert Ticket.objects.count() == 1  # a bounce is never a request

    # The customer writes again: his address works, and the audit trail says why.
    receive(mail(sender="alex@alpha.test", subject=f"Re: [{ticket.number}] fixed my mailbox"))
    assert not FailingAddress.objects.filter(address="alex@alpha.test").exists()
    cleared = AuditEvent.objects.get(event_type="mail.address_cleared")
    assert (cleared.actor_id, cleared.actor_label) == (None, "mail")
    assert cleared.old == {"address": "alex@alpha.test", "failures": 1}
    assert "arrived" in cleared.message


# --- Quarantine --------------------------------------------------------------------------------


def test_bytes_that_are_no_mail_are_quarantined_retried_and_discarded(world: World) -> None:
    raw = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    row = receive(raw)
    assert row.state == InboundState.QUARANTINED
    assert row.error
    assert row.key.startswith("sha256:")
    assert receive(raw).pk == row.pk  # still exactly once

    with pytest.raises(NotPermitted):
        services.retry_message(row, actor=world.l1)
    services.retry_message(row, actor=world.admin)
    row.refresh_from_db()
    assert row.state == InboundState.QUARANTINED
    assert AuditEvent.objects.filter(event_type="mail.retried", actor=world.admin).exists()

    services.discard_message(row, actor=world.admin, reason="junk")
    row.refresh_from_db()
    assert row.state == InboundState.DISCARDED
    assert receive(raw).state == InboundState.DISCARDED  # and it stays discarded


def test_a_message_over_the_limit_is_quarantined_not_imported(world: World, settings: Any) -> None:
    settings.TIERDESK_MAIL_MAX_BYTES = 10_000
    row = receive(
        mail(sender="alex@alpha.test", attachments=[("big.bin", b"x" * 20_000, "application/octet-stream")])
    )
    assert row.state == InboundState.QUARANTINED
    assert not Ticket.objects.exists()


def test_a_quarantined_message_imports_on_retry_once_the_cause_is_fixed(world: World, settings: Any) -> None:
    settings.TIERDESK_MAIL_MAX_BYTES = 1_000
    row = receive(mail(sender="alex@alpha.test", body="x" * 2_000))
    assert row.state == InboundState.QUARANTINED
    settings.TIERDESK_MAIL_MAX_BYTES = 1_000_000
    services.retry_message(row, actor=world.admin)
    row.refresh_from_db()
    assert row.state == InboundState.TICKET
    assert row.ticket is not None and row.ticket.requester == world.customer_a


# --- Permissions on received mail --------------------------------------------------------------


def test_customers_see_no_received_mail_agents_only_what_they_may(world: World) -> None:
    a = receive(mail(sender="alex@alpha.test"))
    b = receive(mail(sender="bob@beta.test"))
    held = receive(mail(sender="x@nowhere.test"))
    assert not InboundMessage.objects.restrict(world.customer_a).exists()
    assert not InboundMessage.objects.restrict(world.manager_a).exists()
    assert set(InboundMessage.objects.restrict(world.l1_b_only)) == {b, held}
    assert set(InboundMessage.objects.restrict(world.admin)) == {a, b, held}


# --- Mailboxes ---------------------------------------------------------------------------------


def test_mailbox_changes_are_audited_without_the_password(world: World) -> None:
    box = services.save_mailbox(
        Mailbox(
            name="IT",
            address="it@desk.test",
            imap_host="127.0.0.1",
            imap_username="it",
            imap_password="s3cret",
        ),
        actor=world.admin,
    )
    box.imap_password = "n3w-s3cret"
    services.save_mailbox(box, actor=world.admin)
    events = list(AuditEvent.objects.filter(event_type__startswith="mailbox.").order_by("id"))
    assert [e.event_type for e in events] == ["mailbox.created", "mailbox.updated"]
    text = repr([(e.old, e.new) for e in events])
    assert "s3cret" not in text
    assert "imap_password" in events[1].new
    with pytest.raises(NotPermitted):
        services.save_mailbox(box, actor=world.l1)


# --- The stdin command -------------------------------------------------------------------------


def _run_import_mail(raw: bytes, *args: str, monkeypatch: pytest.MonkeyPatch) -> str:
    class Stdin:
        buffer = io.BytesIO(raw)

    monkeypatch.setattr("sys.stdin", Stdin)
    out = io.StringIO()
    call_command("import_mail", *args, stdout=out)
    return out.getvalue()


def test_import_mail_reads_one_message_from_stdin(
    world: World, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _run_import_mail(
        mail(sender="alex@alpha.test"), "--mailbox", "support@desk.test", monkeypatch=monkeypatch
    )
    ticket = Ticket.objects.get()
    assert ticket.number in out
    assert InboundMessage.objects.get().transport == Transport.PIPE
    assert InboundMessage.objects.get().mailbox == mailbox


def test_import_mail_refuses_empty_or_oversized_input(
    world: World, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(CommandError) as empty:
        _run_import_mail(b"   ", monkeypatch=monkeypatch)
    assert empty.value.returncode == 65
    settings.TIERDESK_MAIL_MAX_BYTES = 100
    with pytest.raises(CommandError) as big:
        _run_import_mail(mail(sender="alex@alpha.test"), monkeypatch=monkeypatch)
    assert big.value.returncode == 65
    assert not InboundMessage.objects.exists()


def test_mail_that_asks_for_no_automatic_answers_gets_no_acknowledgement(world: World) -> None:
    quiet = receive(mail(sender="alex@alpha.test", headers={"X-Auto-Response-Suppress": "All"}))
    loud = receive(mail(sender="alex@alpha.test", subject="Another one"))
    assert quiet.state == loud.state == InboundState.TICKET
    skipped = OutboundMessage.objects.get(ticket=quiet.ticket, kind=NotificationKind.RECEIVED)
    assert skipped.state == OutboundState.SKIPPED and skipped.last_error
    sent = OutboundMessage.objects.get(ticket=loud.ticket, kind=NotificationKind.RECEIVED)
    assert sent.state == OutboundState.PENDING
