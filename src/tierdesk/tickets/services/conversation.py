"""The conversation on a ticket: public replies, internal notes and attachments."""

from __future__ import annotations

import hashlib
import mimetypes
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _

from tierdesk.audit.choices import EventType
from tierdesk.common.errors import Conflict, DomainError, NotPermitted
from tierdesk.common.limits import (
    BODY_MAX_CHARS,
    FILENAME_MAX_CHARS,
    clean_text,
)
from tierdesk.tickets.choices import (
    EntryKind,
    Status,
)
from tierdesk.tickets.models import (
    Attachment,
    Ticket,
    TicketEntry,
    attachment_path,
)
from tierdesk.tickets.selectors import agent_scope

if TYPE_CHECKING:
    from tierdesk.accounts.models import User

from tierdesk.tickets.services.lifecycle import _ensure_within_reopen_window
from tierdesk.tickets.services.rules import (
    _audit,
    _change_status,
    _ensure_agent_covers,
    _ensure_customer_owns,
    _lock,
    _require_staff,
    _resume_status,
    _save,
)


class TooLarge(DomainError):
    """An upload over the configured size limit. HTTP 413."""

    status_code = 413
    code = "too_large"


# --- Conversation ---------------------------------------------------------------------------


def may_reply_publicly(ticket: Ticket, actor: User) -> bool:
    """Staff may write to the customer only from a line allowed to talk to customers."""
    if actor.is_admin:
        return True
    return any(t.may_contact_customer for t in agent_scope(actor).teams_serving(ticket.organisation_id))


@transaction.atomic
def add_public_reply(ticket: Ticket, *, actor: User, body: str, channel: str = "") -> TicketEntry:
    """A reply the customer sees.

    From staff: refused for agents whose lines may not talk to customers (L3/L4 by default);
    the first one sets ``first_response_at``. From the customer: refused on closed tickets;
    on a resolved ticket it reopens it within the reopen window; on a ticket waiting for the
    customer it hands the ticket back to the desk.
    """
    body = clean_text(body, field="body", max_chars=BODY_MAX_CHARS)
    _lock(ticket)
    fields: list[str] = []
    if actor.is_staff_member:
        _ensure_agent_covers(ticket, actor)
        if not may_reply_publicly(ticket, actor):
            raise NotPermitted(
                _(
                    "Your line does not talk to customers directly. Write an internal note and ask "
                    "the first or second line to answer."
                ),
                code="line_may_not_contact_customer",
            )
        if ticket.status in (Status.CLOSED, Status.CANCELLED):
            raise Conflict(_("This ticket is closed; no more replies can be added."), code="not_open")
        if ticket.first_response_at is None:
            ticket.first_response_at = timezone.now()
            fields.append("first_response_at")
    else:
        _ensure_customer_owns(ticket, actor)
        if ticket.status in (Status.CLOSED, Status.CANCELLED):
            raise Conflict(_("This request is closed; please open a new request."), code="not_open")
        if ticket.status == Status.RESOLVED:
            _ensure_within_reopen_window(ticket)
            fields += _change_status(ticket, _resume_status(ticket), actor=actor)
        elif ticket.status == Status.WAITING_CUSTOMER:
            fields += _change_status(ticket, _resume_status(ticket), actor=actor)
    entry = TicketEntry.objects.create(
        ticket=ticket, kind=EntryKind.PUBLIC, author=actor, body=body, channel=channel or ""
    )
    _audit(
        ticket,
        EventType.TICKET_REPLIED,
        actor=actor,
        new={"entry": entry.pk, "length": len(body)},
    )
    _save(
        ticket,
        fields,
        actor=actor,
        staff_replied=actor.is_staff_member,
        customer_replied=not actor.is_staff_member,
    )
    return entry


@transaction.atomic
def add_internal_note(ticket: Ticket, *, actor: User, body: str) -> TicketEntry:
    """A note only staff see: how far the investigation got, questions for another line."""
    _require_staff(actor)
    body = clean_text(body, field="body", max_chars=BODY_MAX_CHARS)
    _lock(ticket)
    _ensure_agent_covers(ticket, actor)
    entry = TicketEntry.objects.create(ticket=ticket, kind=EntryKind.INTERNAL, author=actor, body=body)
    _audit(
        ticket,
        EventType.TICKET_NOTE_ADDED,
        actor=actor,
        new={"entry": entry.pk, "length": len(body)},
    )
    _save(ticket, [], actor=actor)
    return entry


@transaction.atomic
def add_system_event(
    ticket: Ticket,
    *,
    event: EventType,
    actor: User | None,
    body: str = "",
    data: dict[str, Any] | None = None,
) -> TicketEntry:
    """Something staff should see in the conversation that is neither a reply nor a note, such
    as a delivery failure report for a message about this ticket. Audited as ``event``."""
    body = clean_text(body, field="body", max_chars=BODY_MAX_CHARS, required=False)
    _lock(ticket)
    entry = TicketEntry.objects.create(
        ticket=ticket, kind=EntryKind.EVENT, author=actor, event=str(event), data=data or {}, body=body
    )
    _audit(ticket, event, actor=actor, new={"entry": entry.pk, **(data or {})})
    _save(ticket, [], actor=actor)
    return entry


def safe_filename(name: str) -> str:
    """A download name that cannot traverse paths or smuggle control characters.

    Keeps letters of any script (Cyrillic names stay readable), the extension, and at most
    ``FILENAME_MAX_CHARS`` characters.
    """
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    try:
        name = get_valid_filename(name)
    except Exception:  # Django raises SuspiciousFileOperation for "", "." and ".."
        name = ""
    name = name.lstrip(".")
    if len(name) > FILENAME_MAX_CHARS:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:20] if dot else ""
        name = (stem if dot else name)[: FILENAME_MAX_CHARS - len(ext) - 1] + ("." + ext if ext else "")
    return name or "attachment"


@transaction.atomic
def add_attachment(
    ticket: Ticket, *, actor: User | None, file: File[Any], filename: str, entry: TicketEntry | None = None
) -> Attachment:
    """Store an uploaded file on the ticket.

    Refused when empty or larger than ``TIERDESK_MAX_ATTACHMENT_BYTES``. Stored by content hash,
    so the same file uploaded twice is kept once. A file attached to an internal note, or
    uploaded by staff without an entry, stays internal only if tied to an internal note.
    ``actor=None`` is the system itself (a delivery report kept on the ticket).
    """
    check_file_size(file)
    _lock_for_files(ticket, actor=actor, entry=entry)
    attachment = _store_file(ticket, actor=actor, file=file, filename=filename, entry=entry)
    _save(ticket, [], actor=actor)
    return attachment


@transaction.atomic
def add_attachments(
    ticket: Ticket,
    *,
    actor: User | None,
    files: Sequence[tuple[str, File[Any]]],
    entry: TicketEntry | None = None,
) -> tuple[list[Attachment], list[str]]:
    """Store several files at once (an e-mail's attachments and its original): the same rules
    as ``add_attachment`` with one lock and one save of the ticket. Returns the stored files and
    the names of those refused as empty or too large (the others are still stored); each stored
    file is audited."""
    _lock_for_files(ticket, actor=actor, entry=entry)
    stored: list[Attachment] = []
    refused: list[str] = []
    for filename, file in files:
        try:
            check_file_size(file)
        except DomainError:
            refused.append(filename)
            continue
        stored.append(_store_file(ticket, actor=actor, file=file, filename=filename, entry=entry))
    if stored:
        _save(ticket, [], actor=actor)
    return stored, refused


def check_file_size(file: File[Any]) -> None:
    """Refuse an empty file or one over ``TIERDESK_MAX_ATTACHMENT_BYTES`` (ticket and article
    files alike) with a message naming the limit."""
    limit = settings.TIERDESK_MAX_ATTACHMENT_BYTES
    size = file.size or 0
    if size > limit:
        raise TooLarge(
            _("The file is %(size)s bytes; attachments may be at most %(limit)s bytes.")
            % {"size": size, "limit": limit},
            field="file",
        )
    if size == 0:
        raise DomainError(_("The file is empty."), field="file")


def _lock_for_files(ticket: Ticket, *, actor: User | None, entry: TicketEntry | None) -> None:
    _lock(ticket)
    if actor is None:
        pass
    elif actor.is_staff_member:
        _ensure_agent_covers(ticket, actor)
    else:
        _ensure_customer_owns(ticket, actor)
        if ticket.status in (Status.CLOSED, Status.CANCELLED):
            raise Conflict(_("This request is closed; please open a new request."), code="not_open")
    if entry is not None and entry.ticket_id != ticket.pk:
        raise DomainError(_("The entry belongs to another ticket."), field="entry")


def _store_file(
    ticket: Ticket, *, actor: User | None, file: File[Any], filename: str, entry: TicketEntry | None
) -> Attachment:
    size = file.size or 0
    digest = hashlib.sha256()
    for chunk in file.chunks():
        digest.update(chunk)
    clean_name = safe_filename(filename)
    attachment = Attachment(
        ticket=ticket,
        entry=entry,
        filename=clean_name,
        content_type=mimetypes.guess_type(clean_name)[0] or "application/octet-stream",
        size=size,
        sha256=digest.hexdigest(),
        uploaded_by=actor,
        is_internal=entry is not None and entry.kind != EntryKind.PUBLIC,
    )
    storage_name = attachment_path(attachment, clean_name)
    if default_storage.exists(storage_name):
        attachment.file.name = storage_name
    else:
        file.seek(0)
        attachment.file.save(storage_name, file, save=False)
    attachment.save()
    _audit(
        ticket,
        EventType.TICKET_ATTACHMENT_ADDED,
        actor=actor,
        new={"attachment": attachment.pk, "filename": clean_name, "size": size, "sha256": attachment.sha256},
    )
    return attachment
