"""Importing e-mail: every received message, by whatever transport, goes through
``import_message``; and the changes staff make to received mail and mailboxes.

The import decides, in one transaction, what a message is — a new request, a reply to a ticket,
an automatic reply, a delivery failure report, mail nobody can place — and records the result
in an ``InboundMessage`` row keyed by the message's natural key. The key is unique, so a message
delivered twice (an MTA retry, an IMAP fetch repeated after a crash before the flag) is imported
once; the transports mark their source only after this transaction commits.

Nothing is dropped: a message that cannot be parsed is quarantined with the error and its raw
source; one from a sender no organisation claims is held for an agent to assign; automatic
replies and storms are recorded, never answered.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tierdesk.audit.choices import EventType
from tierdesk.audit.services import record_config_change, record_event, stored_snapshot
from tierdesk.common.errors import Conflict, DomainError, NotPermitted
from tierdesk.mail.choices import InboundState, NotificationKind, OutboundState, Transport
from tierdesk.mail.models import FailingAddress, InboundMessage, Mailbox, OutboundMessage, raw_message_path

# Notification templates are written by the outbox's rendering module; exported here so that
# every write of the e-mail app is found in its services.
from tierdesk.mail.outgoing.rendering import (
    delete_notification_template as delete_notification_template,
)
from tierdesk.mail.outgoing.rendering import (
    save_notification_template as save_notification_template,
)
from tierdesk.mail.parsing import MailParseError, ParsedAttachment, ParsedMessage, parse_message
from tierdesk.tickets.choices import Channel

if TYPE_CHECKING:
    from tierdesk.accounts.models import User
    from tierdesk.orgs.models import Organisation
    from tierdesk.tickets.models import Ticket, TicketEntry

logger = logging.getLogger(__name__)

# ``[TD-000123]`` anywhere in a subject (any prefix a provider configures, any case).
_NUMBER_IN_SUBJECT = re.compile(r"\[\s*([A-Za-z][A-Za-z0-9]{0,9})-(\d{1,18})\s*\]")


@dataclass
class _Outcome:
    """What processing a message decided (filled into its ``InboundMessage`` row)."""

    state: str
    reason: str = ""
    error: str = ""
    ticket: Ticket | None = None
    entry: TicketEntry | None = None


# --- Import ------------------------------------------------------------------------------------


def import_message(raw: bytes, *, transport: str, mailbox: Mailbox | None = None) -> InboundMessage:
    """Import one received message (its raw bytes as delivered) and return its record.

    Idempotent: a message whose key is already known returns the existing record (its
    ``duplicate`` set) and changes nothing. Raises only when the database itself fails (the
    caller must then not mark the message as processed, so it is delivered again); every other
    failure quarantines the message with the error.
    """
    raw = bytes(raw)
    digest = hashlib.sha256(raw).hexdigest()
    limit = settings.TIERDESK_MAIL_MAX_BYTES
    parsed: ParsedMessage | None = None
    error = ""
    try:
        parsed = parse_message(raw, max_bytes=limit)
    except MailParseError as exc:
        error = str(exc)
    key = parsed.key if parsed is not None else f"sha256:{digest}"
    existing = InboundMessage.objects.filter(key=key).first()
    if existing is not None:
        existing.duplicate = True
        return existing
    _store_raw(raw, digest)

    def record() -> InboundMessage:
        row = InboundMessage(
            key=key,
            transport=Transport(transport),
            mailbox=mailbox,
            raw_size=len(raw),
            raw_sha256=digest,
            state=InboundState.QUARANTINED,
            error=error,
        )
        row.raw.name = raw_message_path(row, "")
        if parsed is not None:
            _describe(row, parsed)
        return row

    try:
        try:
            with transaction.atomic():
                row = record()
                if parsed is not None:
                    _apply(row, _route(row, parsed, raw, mailbox=mailbox))
                row.save(force_insert=True)
        except DatabaseError:
            raise  # the database is down or refused (or the key race below): the transport retries
        except Exception as exc:  # a message that breaks an import rule, or a bug: keep it, say why
            # The failed attempt was rolled back whole (no savepoint on the common path); the
            # quarantine record goes in a transaction of its own.
            logger.exception("mail import failed for %s", key)
            with transaction.atomic():
                row = record()
                _apply(row, _Outcome(InboundState.QUARANTINED, error=f"{type(exc).__name__}: {exc}"))
                row.save(force_insert=True)
    except IntegrityError:
        # Another process imported the same message between our check and our INSERT.
        existing = InboundMessage.objects.filter(key=key).first()
        if existing is None:
            raise
        existing.duplicate = True
        return existing
    if row.state == InboundState.QUARANTINED:
        logger.warning("mail quarantined (%s): %s", key, row.error)
    return row


def _store_raw(raw: bytes, digest: str) -> None:
    """Keep the source under its hash (written before the transaction; an orphan left by a
    rollback is the same bytes the next attempt needs)."""
    name = raw_message_path(SimpleNamespace(raw_sha256=digest), "")
    if not default_storage.exists(name):
        default_storage.save(name, ContentFile(raw))


def _describe(row: InboundMessage, parsed: ParsedMessage) -> None:
    row.message_id = parsed.message_id[:255]
    row.sender = parsed.from_address[:254]
    row.sender_name = parsed.from_name[:200]
    row.subject = parsed.subject[:255]
    row.sent_at = parsed.date


def _apply(row: InboundMessage, outcome: _Outcome) -> None:
    row.state = outcome.state
    row.reason = outcome.reason[:255]
    row.error = outcome.error
    row.ticket = outcome.ticket
    row.entry = outcome.entry


def _process(row: InboundMessage, parsed: ParsedMessage, raw: bytes, *, mailbox: Mailbox | None) -> _Outcome:
    """``_route`` inside a savepoint, for a retry of a stored record: an error undoes the
    half-made ticket or reply and the record stays quarantined with the new error. (A first
    import needs no savepoint: it rolls back whole and records the quarantine afresh.)"""
    try:
        with transaction.atomic():
            return _route(row, parsed, raw, mailbox=mailbox)
    except DatabaseError:
        raise  # the database is down or refused: let the transport retry later
    except Exception as exc:  # a message that breaks an import rule or a bug: keep it, say why
        logger.exception("mail import failed for %s", row.key)
        return _Outcome(InboundState.QUARANTINED, error=f"{type(exc).__name__}: {exc}")


def _route(row: InboundMessage, parsed: ParsedMessage, raw: bytes, *, mailbox: Mailbox | None) -> _Outcome:
    if parsed.bounce is not None:
        return _handle_bounce(row, parsed, raw)
    if parsed.auto_reply:
        return _Outcome(InboundState.AUTO_REPLY, reason=parsed.auto_reply)
    sender_address = parsed.from_address
    if not sender_address:
        return _Outcome(InboundState.HELD, reason=_("The message has no sender address."))
    if _over_rate(sender_address):
        count, seconds = settings.TIERDESK_MAIL_SENDER_RATE
        return _Outcome(
            InboundState.RATE_LIMITED,
            reason=_("More than %(count)s messages from this sender in %(minutes)s minutes.")
            % {"count": count, "minutes": seconds // 60},
        )
    # A person who writes again is reachable again: cleared as by hand, and audited the same.
    failing = FailingAddress.objects.filter(address=sender_address).first()
    if failing is not None:
        _clear(failing, actor=None, message=_("A message from this address arrived: it works again."))
    sender = _find_person(sender_address)
    ticket = _thread(parsed, sender)
    if ticket is not None:
        return _reply(ticket, parsed, raw, sender=sender, mailbox=mailbox)
    return _new_request(parsed, raw, sender=sender, mailbox=mailbox)


def _over_rate(address: str) -> bool:
    count, seconds = settings.TIERDESK_MAIL_SENDER_RATE
    since = timezone.now() - timedelta(seconds=seconds)
    return InboundMessage.objects.filter(sender=address, received_at__gte=since).count() >= count


def _find_person(address: str) -> User | None:
    from tierdesk.portal.selectors import find_contact

    return find_contact(address)


# --- Threading ---------------------------------------------------------------------------------


def _thread(parsed: ParsedMessage, sender: User | None) -> Ticket | None:
    """The ticket this message continues: by the Message-IDs Tierdesk sent or received that
    the message names in In-Reply-To/References, then by a ticket number in the subject. Only
    a ticket the sender may write to counts; otherwise the message is a new request."""
    from tierdesk.tickets.models import Ticket

    ids = [i for i in (*parsed.in_reply_to, *reversed(parsed.references)) if i]
    candidates: list[int] = []
    if ids:
        sent = dict(
            OutboundMessage.objects.filter(message_id__in=ids, ticket__isnull=False).values_list(
                "message_id", "ticket_id"
            )
        )
        received = dict(
            InboundMessage.objects.filter(message_id__in=ids, ticket__isnull=False).values_list(
                "message_id", "ticket_id"
            )
        )
        for message_id in ids:  # the nearest message in the thread wins
            ticket_id = sent.get(message_id) or received.get(message_id)
            if ticket_id is not None and ticket_id not in candidates:
                candidates.append(ticket_id)
    number = _number_in_subject(parsed.subject)
    if number is not None and number not in candidates:
        candidates.append(number)
    if not candidates or sender is None:
        return None
    tickets = Ticket.objects.in_bulk(candidates)
    for ticket_id in candidates:
        ticket = tickets.get(ticket_id)
        if ticket is not None and ticket.merged_into_id is not None:
            # a merged duplicate continues in the ticket it was merged into
            ticket = Ticket.objects.filter(pk=ticket.merged_into_id).first()
        if ticket is not None and _may_write_to(ticket, sender):
            return ticket
    return None


def _number_in_subject(subject: str) -> int | None:
    for match in _NUMBER_IN_SUBJECT.finditer(subject or ""):
        if match.group(1).upper() == settings.TIERDESK_TICKET_PREFIX.upper():
            return int(match.group(2))
    return None


def _may_write_to(ticket: Ticket, person: User) -> bool:
    """Staff who may see the ticket, its requester, or a manager of its organisation."""
    from tierdesk.tickets.models import Ticket

    if not person.is_active:
        return False
    if person.is_staff_member:
        return Ticket.objects.restrict(person).filter(pk=ticket.pk).exists()
    return ticket.organisation_id == person.organisation_id and (
        ticket.requester_id == person.pk or person.is_org_manager
    )


# --- Replies -----------------------------------------------------------------------------------


def _reply(
    ticket: Ticket, parsed: ParsedMessage, raw: bytes, *, sender: User | None, mailbox: Mailbox | None
) -> _Outcome:
    """Add the message to ``ticket``: a customer's reply (reopening a resolved ticket within
    the window), or an agent's answer by mail — public when his line may talk to customers,
    an internal note otherwise. A closed ticket (or one past its reopen window) gets a new
    request linked to it instead."""
    from tierdesk.tickets import services as tickets

    assert sender is not None
    body = parsed.reply_text.strip() or _attachments_only(parsed.attachments)
    try:
        if sender.is_staff_member:
            if tickets.may_reply_publicly(ticket, sender):
                entry = tickets.add_public_reply(ticket, actor=sender, body=body, channel=Channel.EMAIL)
            else:
                entry = tickets.add_internal_note(ticket, actor=sender, body=body)
        else:
            entry = tickets.add_public_reply(ticket, actor=sender, body=body, channel=Channel.EMAIL)
    except (Conflict, DomainError) as exc:
        if sender.is_staff_member or isinstance(exc, NotPermitted):
            raise
        # closed, cancelled or past the reopen window: the customer is asking again
        organisation = ticket.organisation  # a customer only writes to his organisation's tickets
        outcome = _create_ticket_for(sender, organisation, parsed, raw, mailbox=mailbox)
        if outcome.ticket is not None:
            tickets.link_tickets(outcome.ticket, other=ticket, actor=None)
        return outcome
    _attach_all(ticket, parsed, raw, actor=sender, entry=entry)
    return _Outcome(InboundState.REPLY, ticket=ticket, entry=entry)


def _attachments_only(attachments: Iterable[ParsedAttachment]) -> str:
    names = ", ".join(a.filename for a in attachments if not a.inline)
    return _("(files only: %(names)s)") % {"names": names} if names else _("(empty message)")


def _attach_all(
    ticket: Ticket, parsed: ParsedMessage, raw: bytes, *, actor: User | None, entry: TicketEntry | None
) -> None:
    """Store the message's files and its original as ``.eml`` on ``entry``. A file over the
    attachment limit is left out with a system event saying so (the original keeps it, up to
    the mail limit)."""
    from tierdesk.tickets import services as tickets

    files, skipped = _acceptable_files(parsed, raw)
    tickets.add_attachments(ticket, actor=actor, files=files, entry=entry)
    if skipped:
        _report_skipped(ticket, skipped)


def _acceptable_files(parsed: ParsedMessage, raw: bytes) -> tuple[list[tuple[str, File[Any]]], list[str]]:
    """The message's files and its original (``.eml``) within the attachment limit, and the
    names of those over it."""
    limit = settings.TIERDESK_MAX_ATTACHMENT_BYTES
    named = [(a.filename or "attachment", a.data) for a in parsed.attachments if a.data]
    named.append((_("original message") + ".eml", raw))
    files: list[tuple[str, File[Any]]] = [
        (name, ContentFile(data)) for name, data in named if len(data) <= limit
    ]
    return files, [name for name, data in named if len(data) > limit]


def _report_skipped(ticket: Ticket, skipped: list[str]) -> None:
    from tierdesk.tickets import services as tickets

    tickets.add_system_event(
        ticket,
        event=EventType.TICKET_ATTACHMENT_ADDED,
        actor=None,
        body=_("Files of an e-mail over the size limit were not attached: %(names)s")
        % {"names": ", ".join(skipped)},
        data={"skipped": skipped},
    )


# --- New requests ------------------------------------------------------------------------------


def _new_request(
    parsed: ParsedMessage, raw: bytes, *, sender: User | None, mailbox: Mailbox | None
) -> _Outcome:
    """A message that continues no ticket. Known contacts get a ticket; unknown senders become
    contacts of the organisation that claims their domain (or the mailbox's default one);
    everyone else is held for an agent, never dropped."""
    from tierdesk.orgs.services import create_contact
    from tierdesk.portal.selectors import organisation_for_email

    if sender is not None:
        if not sender.is_active:
            return _Outcome(InboundState.HELD, reason=_("The sender's account is deactivated."))
        if sender.is_staff_member:
            return _Outcome(
                InboundState.HELD,
                reason=_("A message from staff that answers no ticket: assign it to the customer it is for."),
            )
        if sender.organisation is None or not sender.organisation.is_active:
            return _Outcome(InboundState.HELD, reason=_("The sender's organisation is not active."))
        return _create_ticket_for(sender, sender.organisation, parsed, raw, mailbox=mailbox)
    organisation = organisation_for_email(parsed.from_address) or (
        mailbox.default_organisation if mailbox else None
    )
    if organisation is None or not organisation.is_active or organisation.is_provider:
        return _Outcome(
            InboundState.HELD,
            reason=_(
                "No organisation claims the sender's domain: choose the organisation to create the request."
            ),
        )
    first, _sep, last = parsed.from_name.partition(" ")
    contact = create_contact(
        organisation, actor=None, email=parsed.from_address, first_name=first[:150], last_name=last[:150]
    )
    return _create_ticket_for(contact, organisation, parsed, raw, mailbox=mailbox)


def _create_ticket_for(
    requester: User, organisation: Organisation, parsed: ParsedMessage, raw: bytes, *, mailbox: Mailbox | None
) -> _Outcome:
    from tierdesk.tickets import services as tickets

    team = mailbox.team if mailbox else None
    line = mailbox.line if mailbox else None
    if team is not None and not _team_serves(team, organisation):
        team = None  # the mailbox's team does not serve this client: the line's queue decides
    if team is not None and line is not None and team.line_id != line.pk:
        team = None
    # The request's own files go in with the ticket (one transaction step, no second lock and
    # save); those over the attachment limit are named in a system event instead.
    files, skipped = _acceptable_files(parsed, raw)
    ticket = tickets.create_ticket(
        actor=None,
        files=files,
        organisation=organisation,
        requester=requester,
        subject=parsed.subject or _("(no subject)"),
        description=parsed.text.strip() or _attachments_only(parsed.attachments),
        channel=Channel.EMAIL,
        category=mailbox.category if mailbox and mailbox.category and mailbox.category.is_active else None,
        line=line if line is not None and line.is_active else None,
        team=team,
    )
    if skipped:
        _report_skipped(ticket, skipped)
    if parsed.suppress_auto_responses:
        # RFC 3834: mail from lists and robots, or that asks for no automatic answers, gets no
        # acknowledgement (the row stays, skipped, so the ticket shows why nothing was sent).
        OutboundMessage.objects.filter(
            ticket=ticket, kind=NotificationKind.RECEIVED, state=OutboundState.PENDING
        ).update(state=OutboundState.SKIPPED, last_error=_("The message asked for no automatic replies."))
    return _Outcome(InboundState.TICKET, ticket=ticket)


def _team_serves(team: Any, organisation: Organisation) -> bool:
    return bool(team.is_active and team.organisations.filter(pk=organisation.pk).exists())


# --- Delivery failure reports ------------------------------------------------------------------


def _handle_bounce(row: InboundMessage, parsed: ParsedMessage, raw: bytes) -> _Outcome:
    """A delivery status notification: mark each permanently failing address, and put the
    report on the ticket whose message bounced (found by the returned Message-ID)."""
    from tierdesk.tickets import services as tickets

    bounce = parsed.bounce
    assert bounce is not None
    outbound = (
        OutboundMessage.objects.filter(message_id=bounce.original_message_id).select_related("ticket").first()
        if bounce.original_message_id
        else None
    )
    now = timezone.now()
    if bounce.permanent:
        for address in bounce.failed_recipients:
            _mark_failing(address, reason=f"{bounce.status} {bounce.diagnostic}".strip(), at=now, report=row)
    if outbound is None or outbound.ticket is None:
        return _Outcome(InboundState.BOUNCE, reason=_("No message of ours matches the report."))
    if bounce.permanent and outbound.state != OutboundState.FAILED:
        OutboundMessage.objects.filter(pk=outbound.pk).update(
            state=OutboundState.FAILED, last_error=f"{bounce.status} {bounce.diagnostic}".strip()[:2000]
        )
    ticket = outbound.ticket
    addresses = ", ".join(bounce.failed_recipients) or outbound.to_address
    entry = tickets.add_system_event(
        ticket,
        event=EventType.TICKET_MAIL_BOUNCED,
        actor=None,
        body=_("E-mail to %(addresses)s was not delivered: %(status)s %(diagnostic)s")
        % {"addresses": addresses, "status": bounce.status, "diagnostic": bounce.diagnostic},
        data={"addresses": list(bounce.failed_recipients), "status": bounce.status, "outbound": outbound.pk},
    )
    tickets.add_attachment(
        ticket, actor=None, file=ContentFile(raw), filename=_("delivery report") + ".eml", entry=entry
    )
    return _Outcome(InboundState.BOUNCE, ticket=ticket, entry=entry)


def _mark_failing(address: str, *, reason: str, at: Any, report: InboundMessage | None) -> None:
    address = address.strip().lower()[:254]
    if not address:
        return
    failing, created = FailingAddress.objects.get_or_create(
        address=address, defaults={"reason": reason, "first_failed_at": at, "last_failed_at": at}
    )
    if not created:
        failing.failures += 1
        failing.reason = reason
        failing.last_failed_at = at
        failing.save(update_fields=["failures", "reason", "last_failed_at"])
    if report is not None and report.pk:
        FailingAddress.objects.filter(pk=failing.pk).update(last_report=report)
    record_event(
        failing,
        event_type=EventType.MAIL_ADDRESS_FAILING,
        actor=None,
        organisation=None,
        new={"address": address, "reason": reason, "failures": failing.failures},
    )


# --- What staff do with received mail ----------------------------------------------------------


def _require_staff(actor: User | None) -> None:
    if actor is None or not actor.is_active or not actor.is_staff_member:
        raise NotPermitted(_("Only staff handle received e-mail."))


def _require_admin(actor: User | None) -> None:
    if actor is None or not actor.is_active or not actor.is_admin:
        raise NotPermitted(_("Only administrators change mailboxes and the quarantine."))


def _locked(message: InboundMessage) -> InboundMessage:
    return InboundMessage.objects.select_for_update().get(pk=message.pk)


def _raw_of(message: InboundMessage) -> bytes:
    with default_storage.open(str(message.raw.name), "rb") as fh:
        data: bytes = fh.read()
    return data


@transaction.atomic
def retry_message(message: InboundMessage, *, actor: User | None) -> InboundMessage:
    """Parse a quarantined message again and import it (after a fix to the parser, or to the
    data that made the import fail). It stays quarantined, with the new error, if it fails
    again. Audited as ``mail.retried``."""
    _require_admin(actor)
    message = _locked(message)
    if message.state != InboundState.QUARANTINED:
        raise Conflict(_("Only quarantined messages can be retried."), code="not_quarantined")
    raw = _raw_of(message)
    old = {"state": message.state, "error": message.error}
    try:
        parsed = parse_message(raw, max_bytes=settings.TIERDESK_MAIL_MAX_BYTES)
    except MailParseError as exc:
        message.error = str(exc)
    else:
        _describe(message, parsed)
        _apply(message, _process(message, parsed, raw, mailbox=message.mailbox))
    message.handled_by = actor
    message.handled_at = timezone.now()
    message.save()
    record_event(
        message,
        event_type=EventType.MAIL_RETRIED,
        actor=actor,
        organisation=message.ticket.organisation_id if message.ticket else None,
        old=old,
        new={"state": message.state, "error": message.error, "ticket": message.ticket_id},
    )
    return message


@transaction.atomic
def discard_message(message: InboundMessage, *, actor: User | None, reason: str = "") -> InboundMessage:
    """Set a quarantined or held message aside for good (spam, a test). The record and the
    source stay, so the same message arriving again is still recognised. Audited."""
    _require_staff(actor)
    message = _locked(message)
    if message.state not in (InboundState.QUARANTINED, InboundState.HELD):
        raise Conflict(_("Only held or quarantined messages can be discarded."), code="not_open")
    if message.state == InboundState.QUARANTINED:
        _require_admin(actor)
    old = {"state": message.state}
    message.state = InboundState.DISCARDED
    message.reason = (reason or message.reason)[:255]
    message.handled_by = actor
    message.handled_at = timezone.now()
    message.save(update_fields=["state", "reason", "handled_by", "handled_at"])
    record_event(
        message,
        event_type=EventType.MAIL_DISCARDED,
        actor=actor,
        organisation=None,
        old=old,
        new={"state": message.state, "reason": message.reason},
    )
    return message


@transaction.atomic
def assign_message(
    message: InboundMessage, *, organisation: Organisation, actor: User | None
) -> InboundMessage:
    """Turn a held message into a request of ``organisation``: the sender becomes (or is) its
    contact and the ticket is created as if the message had just arrived. Audited."""
    from tierdesk.orgs.services import create_contact
    from tierdesk.tickets.selectors import agent_scope

    _require_staff(actor)
    assert actor is not None
    if organisation.is_provider or not organisation.is_active:
        raise DomainError(_("Choose an active client organisation."), field="organisation")
    if actor.is_agent:
        scope = agent_scope(actor)
        if not scope.all_organisations and organisation.pk not in scope.organisation_ids:
            raise NotPermitted(_("Your teams do not serve %(org)s.") % {"org": organisation})
    message = _locked(message)
    if message.state != InboundState.HELD:
        raise Conflict(_("Only held messages can be assigned."), code="not_held")
    raw = _raw_of(message)
    parsed = parse_message(raw, max_bytes=settings.TIERDESK_MAIL_MAX_BYTES)
    if not parsed.from_address:
        raise DomainError(
            _("The message has no sender address to create a contact from."), field="organisation"
        )
    sender = _find_person(parsed.from_address)
    if sender is None:
        first, _sep, last = parsed.from_name.partition(" ")
        sender = create_contact(
            organisation, actor=actor, email=parsed.from_address, first_name=first[:150], last_name=last[:150]
        )
    elif sender.organisation_id != organisation.pk or not sender.is_customer:
        raise DomainError(
            _("%(address)s belongs to someone who is not a contact of %(org)s.")
            % {"address": parsed.from_address, "org": organisation},
            field="organisation",
        )
    outcome = _create_ticket_for(sender, organisation, parsed, raw, mailbox=message.mailbox)
    old = {"state": message.state}
    _apply(message, outcome)
    message.handled_by = actor
    message.handled_at = timezone.now()
    message.save()
    record_event(
        message,
        event_type=EventType.MAIL_ASSIGNED,
        actor=actor,
        organisation=organisation,
        old=old,
        new={"state": message.state, "ticket": message.ticket_id, "organisation": organisation.pk},
    )
    return message


@transaction.atomic
def clear_failing_address(failing: FailingAddress, *, actor: User | None) -> None:
    """The address works again (the customer fixed his mailbox): mail to it resumes. Audited."""
    _require_staff(actor)
    _clear(failing, actor=actor)


def _clear(failing: FailingAddress, *, actor: User | None, message: str = "") -> None:
    """Forget a failing address, audited (``actor`` None: the import, labelled "mail")."""
    record_event(
        failing,
        event_type=EventType.MAIL_ADDRESS_CLEARED,
        actor=actor,
        organisation=None,
        old={"address": failing.address, "failures": failing.failures},
        message=message,
        system_label="mail",
    )
    failing.delete()


# --- Mailboxes ---------------------------------------------------------------------------------


@transaction.atomic
def save_mailbox(mailbox: Mailbox, *, actor: User | None) -> Mailbox:
    """Create or change a mailbox (administrators only; ``None`` is the system, e.g. a data
    migration). Audited without the password (``Mailbox.audit_snapshot``)."""
    if actor is not None:
        _require_admin(actor)
    mailbox.full_clean()
    before = stored_snapshot(mailbox, lock=True)
    mailbox.save()
    record_config_change(
        mailbox,
        before=before,
        actor=actor,
        created=EventType.MAILBOX_CREATED,
        updated=EventType.MAILBOX_UPDATED,
    )
    return mailbox
