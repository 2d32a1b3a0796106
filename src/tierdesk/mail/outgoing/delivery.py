"""Delivering the outbox: the worker renders each due message, sends it over SMTP and records
what happened, retrying with backoff.

Rows are claimed, not held: a short transaction takes the due rows (``FOR UPDATE SKIP LOCKED``
on PostgreSQL, where any number of workers may deliver at once; SQLite serialises writers),
counts the attempt and pushes their next attempt ``CLAIM`` ahead, and commits. The mails are
then sent with no transaction open, and each outcome is written at once by its own UPDATE. So
no row lock waits on a mail server, another worker never takes a claimed row, and a worker that
dies mid-batch loses nothing: its rows come due again when the claim runs out (a message the
server had accepted just before the crash may then go out twice, the usual at-least-once of
mail). A batch stops well within its claim; what it did not reach is handed back.
"""

from __future__ import annotations

import logging
import smtplib
import time
from collections.abc import Iterable, Sequence
from datetime import timedelta
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from tierdesk.mail.choices import NotificationKind, OutboundState
from tierdesk.mail.models import FailingAddress, NotificationTemplate, OutboundMessage
from tierdesk.mail.outgoing.rendering import Rendered, render_message
from tierdesk.mail.selectors import MailThread, mail_threads

logger = logging.getLogger(__name__)

# Waits before the 2nd, 3rd, ... attempt; after the last one fails the message has failed.
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=12),
)
# How long a claimed row is left alone by other workers; a batch stops after half of it.
CLAIM = timedelta(minutes=15)
# Seconds to wait for the mail server per operation (unless EMAIL_TIMEOUT says otherwise).
SMTP_TIMEOUT = 60
DUE_STATES = (OutboundState.PENDING, OutboundState.RETRYING)
ERROR_MAX_CHARS = 2000

# A person's answer; everything else is an automatic notice (RFC 3834).
PERSONAL_KINDS = frozenset({NotificationKind.AGENT_REPLIED})


def deliver_due_messages(*, limit: int = 100) -> int:
    """Send up to ``limit`` due messages of the outbox (pending, or retrying whose time has
    come). Returns how many it took on: sent, skipped, failed, rescheduled or handed back."""
    claimed = _claim(limit)
    if not claimed:
        return 0
    messages = list(
        OutboundMessage.objects.filter(pk__in=claimed)
        .select_related(
            "ticket", "ticket__organisation", "ticket__current_line", "recipient", "entry", "entry__author"
        )
        .order_by("created_at", "id")
    )
    templates = {
        (t.kind, t.language): t
        for t in NotificationTemplate.objects.filter(
            kind__in={m.kind for m in messages}, language__in={m.language for m in messages}
        )
    }
    failing = _failing_addresses(m.to_address for m in messages)
    threads = mail_threads({m.ticket_id: m.ticket for m in messages if m.ticket is not None}.values())
    sender = _Sender()
    started = time.monotonic()
    try:
        for index, message in enumerate(messages):
            if time.monotonic() - started > CLAIM.total_seconds() / 2:
                _hand_back(messages[index:])
                break
            thread = threads.get(message.ticket_id or 0, MailThread())
            if not _deliver(message, sender, templates=templates, failing=failing, thread=thread):
                _hand_back(messages[index + 1 :])  # the server is unreachable: try them later
                break
    finally:
        sender.close()
    return len(messages)


def _claim(limit: int) -> list[int]:
    """Take the due rows: count the attempt and move their next attempt past the claim."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            OutboundMessage.objects.select_for_update(skip_locked=True)
            .filter(state__in=DUE_STATES, next_attempt_at__lte=now)  # the partial index outbound_due_idx
            .order_by("next_attempt_at", "id")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            OutboundMessage.objects.filter(pk__in=ids).update(
                attempts=F("attempts") + 1, next_attempt_at=now + CLAIM
            )
    return ids


def _deliver(
    message: OutboundMessage,
    sender: _Sender,
    *,
    templates: dict[tuple[str, str], NotificationTemplate],
    failing: dict[str, str],
    thread: MailThread,
) -> bool:
    """Render, send and record one message; ``False`` when the mail server cannot be reached
    (the rest of the batch should wait)."""
    person = message.recipient
    if message.ticket is None:
        _skip(message, _("The ticket no longer exists."))
        return True
    if person is not None and not person.is_active:
        _skip(message, _("The recipient is no longer active."))
        return True
    if message.to_address.lower() in failing:
        reason = failing[message.to_address.lower()]
        _skip(
            message,
            _("Mail to %(address)s bounces; it is not sent there until the address is cleared. %(reason)s")
            % {"address": message.to_address, "reason": reason},
        )
        return True
    template = templates.get((message.kind, message.language))
    if template is not None and not template.is_active:
        _skip(message, _("This notification is switched off for this language."))
        return True
    retry = bool(message.subject)  # a retry sends the very message tried before
    try:
        rendered = (
            Rendered(message.subject, message.body) if retry else render_message(message, template=template)
        )
    except Exception as exc:
        logger.exception("Outgoing message %s could not be rendered.", message.pk)
        _record(message, state=OutboundState.FAILED, last_error=_error_text(exc))
        return True
    if retry:
        in_reply_to, references = message.in_reply_to, message.references.split()
    else:
        in_reply_to, references = thread.headers_for(message.message_id)
    written = {
        "subject": rendered.subject,
        "body": rendered.body,
        "in_reply_to": in_reply_to,
        "references": " ".join(references),
    }
    email = EmailMessage(
        subject=rendered.subject,
        body=rendered.body,
        from_email=_from_address(thread),
        to=[message.to_address],
        headers=_headers(message, in_reply_to, references),
    )
    try:
        sender.send(email)
    except Exception as exc:
        sender.reset()
        _record_failure(message, exc, written)
        return not _unreachable(exc)
    _record(message, state=OutboundState.SENT, sent_at=timezone.now(), last_error="", **written)
    return True


def _headers(message: OutboundMessage, in_reply_to: str, references: Sequence[str]) -> dict[str, str]:
    ticket = message.ticket
    headers = {"Message-ID": f"<{message.message_id}>"}
    if in_reply_to:
        headers["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        headers["References"] = " ".join(f"<{mid}>" for mid in references)
    if message.kind not in PERSONAL_KINDS:
        headers["Auto-Submitted"] = "auto-generated"
        headers["X-Auto-Response-Suppress"] = "All"  # no out-of-office replies to notices
    if ticket is not None:
        headers["X-Tierdesk-Ticket"] = ticket.number
    return headers


def _from_address(thread: MailThread) -> str:
    """The mailbox the ticket came in through (customers answer where they wrote), else the
    desk's address; the display name of ``DEFAULT_FROM_EMAIL`` either way."""
    if not thread.mailbox_address:
        return str(settings.DEFAULT_FROM_EMAIL)
    name = parseaddr(str(settings.DEFAULT_FROM_EMAIL))[0]
    return formataddr((name, thread.mailbox_address)) if name else thread.mailbox_address


def _record_failure(message: OutboundMessage, exc: Exception, written: dict[str, str]) -> None:
    """A permanent refusal fails the message at once; anything else is tried again after the
    next wait of ``BACKOFF``, until they are used up."""
    error = _error_text(exc)
    if _permanent(exc) or message.attempts > len(BACKOFF):
        logger.warning("Outgoing message %s to %s failed: %s", message.pk, message.to_address, error)
        _record(message, state=OutboundState.FAILED, last_error=error, **written)
        return
    _record(
        message,
        state=OutboundState.RETRYING,
        next_attempt_at=timezone.now() + BACKOFF[message.attempts - 1],
        last_error=error,
        **written,
    )


def _permanent(exc: Exception) -> bool:
    """A 5xx answer about this message (recipient, sender or content refused), or a message
    that cannot be built: retrying cannot help. Connection, greeting and log-in problems are
    the server's, not the message's, and are retried."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _text in exc.recipients.values()]
        return bool(codes) and all(500 <= code < 600 for code in codes)
    if isinstance(exc, smtplib.SMTPAuthenticationError | smtplib.SMTPHeloError | smtplib.SMTPConnectError):
        return False
    if isinstance(exc, smtplib.SMTPResponseException):
        return 500 <= exc.smtp_code < 600
    return not isinstance(exc, OSError)  # e.g. a header Django refuses to write


def _unreachable(exc: Exception) -> bool:
    """The server cannot be talked to at all (refused connection, time-out, log-in refused)."""
    if isinstance(
        exc,
        smtplib.SMTPServerDisconnected
        | smtplib.SMTPConnectError
        | smtplib.SMTPAuthenticationError
        | smtplib.SMTPHeloError,
    ):
        return True
    return isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)


def _error_text(exc: Exception) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text[:ERROR_MAX_CHARS]


def _skip(message: OutboundMessage, reason: str) -> None:
    # Nothing was tried: the attempt the claim counted is taken back.
    _record(message, state=OutboundState.SKIPPED, last_error=reason, attempts=max(message.attempts - 1, 0))


def _record(message: OutboundMessage, **values: object) -> None:
    """Write an outcome, unless another worker has claimed the row since (its claim ran out)."""
    OutboundMessage.objects.filter(pk=message.pk, attempts=message.attempts).update(**values)


def _hand_back(messages: Sequence[OutboundMessage]) -> None:
    """Rows claimed but not tried: the attempt is not counted; due again in a minute."""
    if messages:
        OutboundMessage.objects.filter(pk__in=[m.pk for m in messages]).update(
            attempts=F("attempts") - 1, next_attempt_at=timezone.now() + BACKOFF[0]
        )


def _failing_addresses(addresses: Iterable[str]) -> dict[str, str]:
    """Lower-cased failing addresses among ``addresses``, with the reason recorded."""
    wanted = set(addresses)
    wanted |= {address.lower() for address in wanted}
    rows = FailingAddress.objects.filter(address__in=wanted).values_list("address", "reason")
    return {address.lower(): reason for address, reason in rows}


class _Sender:
    """One SMTP connection for a batch, opened on first use and opened again after an error."""

    def __init__(self) -> None:
        self.backend: BaseEmailBackend | None = None

    def send(self, email: EmailMessage) -> None:
        if self.backend is None:
            timeout = getattr(settings, "EMAIL_TIMEOUT", None) or SMTP_TIMEOUT
            self.backend = get_connection(fail_silently=False, timeout=timeout)
            self.backend.open()
        email.connection = self.backend
        email.send()

    def reset(self) -> None:
        self.close()

    def close(self) -> None:
        backend, self.backend = self.backend, None
        if backend is not None:
            try:
                backend.close()
            except Exception:  # a dead connection may not even say goodbye
                logger.debug("Closing the SMTP connection failed.", exc_info=True)
