"""Writes of the customer portal: invitations, self-registration, requests with files and the
public web forms. Each runs in one transaction and is audited; failures change nothing."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tierdesk.audit.choices import EventType
from tierdesk.audit.services import record_event
from tierdesk.common.errors import DomainError, NotPermitted
from tierdesk.common.limits import BODY_MAX_CHARS, SUBJECT_MAX_CHARS, clean_text
from tierdesk.orgs.models import Organisation
from tierdesk.orgs.services import create_contact
from tierdesk.portal.models import Invitation, hash_invitation_token
from tierdesk.portal.selectors import find_contact, find_invitation, organisation_for_email
from tierdesk.tickets import services as tickets
from tierdesk.tickets.choices import Channel
from tierdesk.tickets.models import Category, Ticket, TicketEntry

if TYPE_CHECKING:
    from tierdesk.accounts.models import User

INVITATION_DAYS = 7
MAX_FILES = 10


# --- Invitations and registration -----------------------------------------------------------


@transaction.atomic
def create_invitation(
    organisation: Organisation, *, actor: User | None, email: str, days: int = INVITATION_DAYS
) -> tuple[Invitation, str]:
    """Invite ``email`` to register as a contact of ``organisation``.

    Managers invite to their own organisation, staff to any client. Returns the invitation and
    the raw token for the link, which is shown only now (only its hash is stored).
    """
    email = clean_text(email, field="email", max_chars=254)
    if "@" not in email:
        raise DomainError(_("Enter a valid e-mail address."), field="email")
    if (
        actor is not None
        and not actor.is_staff_member
        and (not actor.is_org_manager or actor.organisation_id != organisation.pk)
    ):
        raise NotPermitted(_("Only your organisation's manager can invite people."))
    if organisation.is_provider or not organisation.is_active:
        raise DomainError(_("Invitations are for active client organisations."), field="organisation")
    if find_contact(email) is not None:
        raise DomainError(
            _("A person with the e-mail %(email)s already has an account.") % {"email": email}, field="email"
        )
    raw_token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        organisation=organisation,
        email=email,
        token_hash=hash_invitation_token(raw_token),
        created_by=actor,
        expires_at=timezone.now() + timedelta(days=days),
    )
    record_event(
        invitation,
        event_type=EventType.INVITATION_CREATED,
        actor=actor,
        organisation=organisation,
        new=invitation.audit_snapshot(),
    )
    return invitation, raw_token


def _check_password(password: str, *, email: str, first_name: str, last_name: str) -> None:
    from tierdesk.accounts.models import User

    # An unsaved person, so the similarity validator can compare the password with his details.
    candidate = User(username=email.lower(), email=email, first_name=first_name, last_name=last_name)
    try:
        validate_password(password, candidate)
    except ValidationError as exc:
        raise DomainError(" ".join(str(m) for m in exc.messages), field="password") from None


@transaction.atomic
def register_customer(
    *,
    actor: User | None,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    phone: str = "",
    invitation_token: str | None = None,
) -> User:
    """Self-registration on the portal: a customer contact of the organisation whose portal
    domains include the e-mail's domain, or of the organisation an unused, unexpired
    invitation for this address names (the invitation is then used up)."""
    email = clean_text(email, field="email", max_chars=254)
    invitation: Invitation | None = None
    if invitation_token is not None:
        invitation = find_invitation(invitation_token)
        if invitation is None:
            raise DomainError(_("This invitation link is not valid."), code="invitation_invalid")
        invitation = (
            Invitation.objects.select_for_update().select_related("organisation").get(pk=invitation.pk)
        )
        if invitation.used_at is not None:
            raise DomainError(_("This invitation has already been used."), code="invitation_used")
        if invitation.expires_at <= timezone.now():
            raise DomainError(_("This invitation has expired; ask for a new one."), code="invitation_expired")
        if invitation.email.strip().lower() != email.lower():
            raise DomainError(
                _("This invitation is for another e-mail address."), field="email", code="invitation_email"
            )
        organisation = invitation.organisation
        if not organisation.is_active:
            raise DomainError(_("This invitation is no longer valid."), code="invitation_invalid")
    else:
        found = organisation_for_email(email)
        if found is None:
            raise DomainError(
                _(
                    "Self-registration is open only to addresses of our clients' domains. "
                    "Ask your organisation's manager for an invitation."
                ),
                field="email",
                code="domain_not_allowed",
            )
        organisation = found
    if find_contact(email) is not None:
        raise DomainError(
            _(
                "An account with this e-mail address already exists. Sign in, or reset your "
                "password if you do not know it."
            ),
            field="email",
            code="exists",
        )
    _check_password(password, email=email, first_name=first_name, last_name=last_name)
    user = create_contact(
        organisation,
        actor=None,
        email=email,
        first_name=first_name,
        last_name=last_name,
        phone=phone,
        password=password,
    )
    record_event(
        user,
        event_type=EventType.PORTAL_REGISTERED,
        actor=user,
        organisation=organisation,
        new={"email": email, "invitation": invitation.pk if invitation else None},
    )
    if invitation is not None:
        invitation.used_at = timezone.now()
        invitation.used_by = user
        invitation.save(update_fields=["used_at", "used_by"])
        record_event(
            invitation,
            event_type=EventType.INVITATION_USED,
            actor=user,
            organisation=organisation,
            new={"used_at": invitation.used_at.isoformat(), "used_by": user.pk},
        )
    return user


# --- Requests and replies -------------------------------------------------------------------


def _attach(ticket: Ticket, files: Sequence[UploadedFile], *, actor: User, entry: TicketEntry | None) -> None:
    if len(files) > MAX_FILES:
        raise DomainError(
            _("At most %(count)d files can be sent at once.") % {"count": MAX_FILES}, field="files"
        )
    for file in files:
        tickets.add_attachment(ticket, actor=actor, file=file, filename=file.name or "", entry=entry)


@transaction.atomic
def open_request(
    *,
    actor: User,
    subject: str,
    description: str,
    category: Category | None = None,
    files: Sequence[UploadedFile] = (),
) -> Ticket:
    """A customer's new request from the portal, with its files: all of it or nothing (a file
    over the size limit refuses the whole request)."""
    if actor.organisation is None:
        raise NotPermitted(_("Only contacts of a client organisation can open requests here."))
    ticket = tickets.create_ticket(
        actor=actor,
        organisation=actor.organisation,
        requester=actor,
        subject=subject,
        description=description,
        channel=Channel.PORTAL,
        category=category,
    )
    _attach(ticket, files, actor=actor, entry=None)
    return ticket


@transaction.atomic
def reply_to_request(
    ticket: Ticket, *, actor: User, body: str, files: Sequence[UploadedFile] = ()
) -> TicketEntry:
    """A customer's reply from the portal with its files, all or nothing."""
    entry = tickets.add_public_reply(ticket, actor=actor, body=body, channel=Channel.PORTAL)
    _attach(ticket, files, actor=actor, entry=entry)
    return entry


# --- Public forms (no account) --------------------------------------------------------------


def _split_name(name: str) -> tuple[str, str]:
    first, _sep, last = name.strip().partition(" ")
    return first[:150], last.strip()[:150]


def _requester_for(email: str, *, name: str, phone: str) -> tuple[Organisation, User]:
    email = clean_text(email, field="email", max_chars=254)
    organisation = organisation_for_email(email)
    if organisation is None:
        raise DomainError(
            _(
                "We do not recognise the domain of %(email)s. Please use your work e-mail address, "
                "or call the service desk."
            )
            % {"email": email},
            field="email",
            code="unknown_domain",
        )
    contact = find_contact(email)
    if contact is None:
        first, last = _split_name(name)
        contact = create_contact(
            organisation, actor=None, email=email, first_name=first, last_name=last, phone=phone
        )
    elif contact.organisation_id != organisation.pk or not contact.is_active or not contact.is_customer:
        raise DomainError(
            _("Requests for %(email)s cannot be taken through this form; please call the service desk.")
            % {"email": email},
            field="email",
        )
    return organisation, contact


@transaction.atomic
def submit_web_form(
    *, actor: User | None, name: str, email: str, subject: str, description: str, phone: str = ""
) -> Ticket:
    """A request from the public web form (embeddable on a client's intranet). The requester
    is the contact with that e-mail, or a new contact of the organisation owning its domain."""
    name = clean_text(name, field="name", max_chars=150)
    phone = clean_text(phone, field="phone", max_chars=40, required=False)
    subject = clean_text(subject, field="subject", max_chars=SUBJECT_MAX_CHARS)
    description = clean_text(description, field="description", max_chars=BODY_MAX_CHARS, required=False)
    organisation, contact = _requester_for(email, name=name, phone=phone)
    return tickets.create_ticket(
        actor=actor,
        organisation=organisation,
        requester=contact,
        subject=subject,
        description=description,
        channel=Channel.WEB_FORM,
    )


@transaction.atomic
def request_callback(
    *, actor: User | None, name: str, phone: str, email: str, about: str, convenient_time: str = ""
) -> Ticket:
    """A call-back request: a ticket on the phone channel asking the desk to ring back."""
    name = clean_text(name, field="name", max_chars=150)
    phone = clean_text(phone, field="phone", max_chars=40)
    about = clean_text(about, field="about", max_chars=2_000)
    convenient_time = clean_text(convenient_time, field="convenient_time", max_chars=200, required=False)
    organisation, contact = _requester_for(email, name=name, phone=phone)
    prefix = _("Call-back request: ")
    first_line = about.splitlines()[0] if about else ""
    subject = prefix + first_line[: SUBJECT_MAX_CHARS - len(prefix)]
    lines: list[Any] = [
        _("Please call back %(name)s at %(phone)s.") % {"name": name, "phone": phone},
        _("Convenient time: %(time)s") % {"time": convenient_time or _("any time")},
        "",
        about,
    ]
    return tickets.create_ticket(
        actor=actor,
        organisation=organisation,
        requester=contact,
        subject=subject,
        description="\n".join(str(line) for line in lines),
        channel=Channel.PHONE,
    )
