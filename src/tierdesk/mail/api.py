"""HTTP API of the e-mail channel: mailboxes (administrators), received mail — the held and
quarantined lists staff work through — and raw message delivery for integrations."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import File, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import Field

from tierdesk.common.api import Id, InputSchema, caller
from tierdesk.common.errors import NotPermitted
from tierdesk.mail import selectors, services
from tierdesk.mail.choices import InboundState, Transport
from tierdesk.mail.models import Mailbox
from tierdesk.orgs.selectors import get_organisation
from tierdesk.tickets.services import TooLarge

router = Router(tags=["e-mail"])


class MailboxOut(Schema):
    id: int
    name: str
    address: str
    imap_host: str
    imap_port: int
    imap_security: str
    imap_username: str
    imap_password_set: bool
    imap_folder: str
    processed_folder: str
    default_organisation_id: int | None
    team_id: int | None
    line_id: int | None
    category_id: int | None
    is_active: bool
    last_polled_at: dt.datetime | None
    last_error: str

    @staticmethod
    def resolve_imap_password_set(obj: Mailbox) -> bool:
        return bool(obj.imap_password)


class MailboxIn(InputSchema):
    name: str = Field(..., max_length=100)
    address: str = Field(..., max_length=254)
    imap_host: str = Field("", max_length=255)
    imap_port: int = Field(993, ge=1, le=65535)
    imap_security: Mailbox.Security = Mailbox.Security.SSL
    imap_username: str = Field("", max_length=255)
    imap_password: str | None = Field(None, max_length=255, description="Omit to keep the stored one.")
    imap_folder: str = Field("INBOX", max_length=255)
    processed_folder: str = Field("", max_length=255)
    default_organisation_id: Id | None = None
    team_id: Id | None = None
    line_id: Id | None = None
    category_id: Id | None = None
    is_active: bool = True


class ReceivedOut(Schema):
    id: int
    key: str
    message_id: str
    transport: str
    mailbox_id: int | None
    sender: str
    sender_name: str
    subject: str
    sent_at: dt.datetime | None
    received_at: dt.datetime
    state: str
    reason: str
    error: str
    ticket: str | None
    raw_size: int

    @staticmethod
    def resolve_ticket(obj: Any) -> str | None:
        return obj.ticket.number if obj.ticket_id else None


class AssignIn(InputSchema):
    organisation_id: Id


class DiscardIn(InputSchema):
    reason: str = Field("", max_length=255)


def _apply(mailbox: Mailbox, payload: MailboxIn) -> Mailbox:
    for name, value in payload.model_dump(exclude={"imap_password"}).items():
        setattr(mailbox, name, value)
    if payload.imap_password is not None:
        mailbox.imap_password = payload.imap_password
    return mailbox


@router.get("/mailboxes", response=list[MailboxOut], summary="Mailboxes (administrators)")
def list_mailboxes(request: HttpRequest) -> Any:
    return selectors.mailboxes(caller(request))


@router.post("/mailboxes", response={201: MailboxOut}, summary="Add a mailbox (administrators)")
def create_mailbox(request: HttpRequest, payload: MailboxIn) -> Any:
    return Status(201, services.save_mailbox(_apply(Mailbox(), payload), actor=caller(request)))


@router.put("/mailboxes/{mailbox_id}", response=MailboxOut, summary="Change a mailbox (administrators)")
def update_mailbox(request: HttpRequest, mailbox_id: Id, payload: MailboxIn) -> Any:
    user = caller(request)
    return services.save_mailbox(_apply(selectors.get_mailbox(user, mailbox_id), payload), actor=user)


@router.get(
    "/messages", response=list[ReceivedOut], summary="Received mail (staff; newest first, 200 at most)"
)
def list_received(request: HttpRequest, state: InboundState | None = None) -> Any:
    return selectors.received_messages(caller(request), state=state or "")[:200]


@router.get("/messages/{message_id}", response=ReceivedOut, summary="One received message")
def read_received(request: HttpRequest, message_id: Id) -> Any:
    return selectors.get_received_message(caller(request), message_id)


@router.post("/messages/{message_id}/assign", response=ReceivedOut, summary="Make a held message a request")
def assign_received(request: HttpRequest, message_id: Id, payload: AssignIn) -> Any:
    user = caller(request)
    message = selectors.get_received_message(user, message_id)
    organisation = get_organisation(user, payload.organisation_id)
    return services.assign_message(message, organisation=organisation, actor=user)


@router.post(
    "/messages/{message_id}/retry", response=ReceivedOut, summary="Import a quarantined message again"
)
def retry_received(request: HttpRequest, message_id: Id) -> Any:
    user = caller(request)
    return services.retry_message(selectors.get_received_message(user, message_id), actor=user)


@router.post(
    "/messages/{message_id}/discard", response=ReceivedOut, summary="Discard a held or quarantined message"
)
def discard_received(request: HttpRequest, message_id: Id, payload: DiscardIn) -> Any:
    user = caller(request)
    message = selectors.get_received_message(user, message_id)
    return services.discard_message(message, actor=user, reason=payload.reason)


@router.post(
    "/inbound",
    response={201: ReceivedOut, 200: ReceivedOut},
    summary="Deliver one raw message (RFC 5322 bytes) as a mail gateway would (administrators)",
)
def deliver_raw(request: HttpRequest, message: File[UploadedFile], mailbox_id: Id | None = None) -> Any:
    user = caller(request)
    if not user.is_admin:
        raise NotPermitted(_("Only administrators deliver raw mail."))
    mailbox = selectors.get_mailbox(user, mailbox_id) if mailbox_id else None
    limit = settings.TIERDESK_MAIL_MAX_BYTES
    if (message.size or 0) > limit:
        raise TooLarge(
            _("The message is %(size)s bytes; at most %(limit)s are accepted.")
            % {"size": message.size, "limit": limit},
            field="message",
        )
    row = services.import_message(message.read(), transport=Transport.API, mailbox=mailbox)
    return Status(200 if row.duplicate else 201, row)
