"""Writes of the customer portal: invitations, self-registration (and contacts claiming the
account the desk keeps for them), requests with files and the public web forms. Each runs in one
transaction and is audited; failures change nothing."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from tierdesk.accounts.models import User
from tierdesk.accounts.services import save_user, update_user
from tierdesk.audit.choices import EventType
from tierdesk.audit.services import record_event
from tierdesk.common.errors import DomainError, NotPermitted
from tierdesk.common.limits import BODY_MAX_CHARS, SUBJECT_MAX_CHARS, clean_text
from tierdesk.orgs.models import Organisation
from tierdesk.orgs.services import create_contact
from tierdesk.portal.mail import queue_mail
from tierdesk.portal.models import AccountClaim, Invitation, PendingRegistration, hash_invitation_token
from tierdesk.portal.selectors import (
    activation_link_is_valid,
    claim_link_is_valid,
    find_contact,
    find_invitation,
    may_claim,
    organisation_for_email,
    pending_registration,
)
from tierdesk.portal.tokens import activation_tokens, claim_tokens
from tierdesk.tickets import services as tickets
from tierdesk.tickets.choices import Channel
from tierdesk.tickets.models import Category, Ticket, TicketEntry

INVITATION_DAYS = 7
MAX_FILES = 10
# Registering an unconfirmed address (or claiming an account) again mails a new link at most
# this often.
ACTIVATION_RESEND_INTERVAL = timedelta(minutes=2)
# One answer for forged, expired and used confirmation links: a guessed link learns nothing.
ACTIVATION_LINK_UNUSABLE = gettext_lazy(
    "This confirmation link cannot be used: it has expired, it was already used, or it is "
    "incomplete. If you have confirmed your address, sign in; otherwise register again with "
    "the same address to get a new link."
)


# --- Invitations and registration -----------------------------------------------------------


@transaction.atomic
def create_invitation(
    organisation: Organisation,
    *,
    actor: User | None,
    email: str,
    site_url: str,
    days: int = INVITATION_DAYS,
) -> tuple[Invitation, str]:
    """Invite ``email`` to register as a contact of ``organisation`` and mail him the link.

    Managers invite to their own organisation, staff to any client. ``site_url`` is the
    portal's address as people reach it (``https://desk.example.com``), for the link. The mail
    speaks the inviter's language (the desk's default when he chose none). Returns the
    invitation and the raw token of the link, which exists only now (only its hash is stored).
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
    existing = find_contact(email)
    # A contact the desk keeps without a password may be invited: registering through the
    # invitation then gives him his account (see ``register_customer``).
    if existing is not None and not may_claim(existing, organisation):
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
    queue_mail(
        to=email,
        template="invitation",
        context={
            "organisation": organisation.name,
            "inviter": (actor.get_full_name() or actor.email) if actor is not None else "",
            "email": email,
            "link": _absolute(site_url, reverse("portal:register_invited", args=[raw_token])),
            "days": days,
        },
        language=(actor.language if actor is not None else "") or settings.LANGUAGE_CODE,
    )
    return invitation, raw_token


def _absolute(site_url: str, path: str) -> str:
    return site_url.rstrip("/") + path


def _check_password(password: str, *, email: str, first_name: str, last_name: str) -> None:
    # An unsaved person, so the similarity validator can compare the password with his details.
    candidate = User(username=email.lower(), email=email, first_name=first_name, last_name=last_name)
    try:
        validate_password(password, candidate)
    except ValidationError as exc:
        raise DomainError(" ".join(str(m) for m in exc.messages), field="password") from None


@dataclass(frozen=True)
class Registration:
    """What a registration did. ``confirmed`` when an invitation (which came by mail) vouched
    for the address: ``user`` may sign in now. Otherwise the confirmation link was mailed now,
    or, when ``link_sent`` is false, a few minutes ago and not again; until it is followed a new
    ``user`` is inactive, and a contact claiming his account is left as he was (still active,
    still without a password), so ``user.is_active`` says nothing about the registration."""

    user: User
    confirmed: bool = False
    link_sent: bool = False


@transaction.atomic
def register_customer(
    *,
    actor: User | None,
    email: str,
    password: str,
    site_url: str,
    first_name: str = "",
    last_name: str = "",
    phone: str = "",
    invitation_token: str | None = None,
) -> Registration:
    """Self-registration on the portal, as a customer contact of the organisation whose portal
    domains include the e-mail's domain, or of the organisation an unused, unexpired
    invitation for this address names (the invitation is then used up).

    An invitation came by mail, so it proves the address: the account is ready at once. By
    domain, the account is created inactive and a link to confirm the address is mailed (see
    ``activate_registration``); registering the same address again before that mails a new
    link (at most one per ``ACTIVATION_RESEND_INTERVAL``) and takes the new details and
    password, so whoever holds the mailbox decides, instead of creating a second account.

    The address may belong to a contact the desk created without a password (from a call, a
    mail, the web form) who now wants to use the portal: if ``may_claim`` lets him, the
    registration becomes a claim of that account. By invitation it is taken over at once; by
    domain the chosen password waits in an ``AccountClaim`` and a link is mailed (see
    ``confirm_claim``), and nothing about the contact changes before it is followed. Anyone
    else with the address gets "already exists" (with a password, he can reset it).
    """
    email = clean_text(email, field="email", max_chars=254)
    if invitation_token is not None:
        user = _register_invited(
            invitation_token,
            email=email,
            password=password,
            first_name=first_name,
            last_name=last_name,
            phone=phone,
        )
        return Registration(user=user, confirmed=True)
    organisation = organisation_for_email(email)
    if organisation is None:
        raise DomainError(
            _(
                "Self-registration is open only to addresses of our clients' domains. "
                "Ask your organisation's manager for an invitation."
            ),
            field="email",
            code="domain_not_allowed",
        )
    existing = find_contact(email)
    if existing is not None:
        pending = pending_registration(existing)
        if pending is not None:
            return _register_again(
                pending,
                password=password,
                first_name=first_name,
                last_name=last_name,
                phone=phone,
                site_url=site_url,
            )
        if may_claim(existing, organisation):
            return _claim_account(
                existing,
                organisation=organisation,
                password=password,
                first_name=first_name,
                last_name=last_name,
                phone=phone,
                site_url=site_url,
            )
        raise _exists_error(existing)
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
    # Contacts are created active; this one waits for its address to be confirmed.
    user = update_user(user, actor=None, changes={"is_active": False})
    PendingRegistration.objects.create(user=user)
    _mail_activation_link(user, site_url=site_url)
    return Registration(user=user, link_sent=True)


def _exists_error(existing: User) -> DomainError:
    if existing.has_usable_password():
        message = _(
            "An account with this e-mail address already exists. Sign in, or reset your "
            "password if you do not know it."
        )
    else:
        # Switched off by an administrator, or a contact of another organisation: a password
        # reset would not help him (Django mails none to an account without a password).
        message = _(
            "An account with this e-mail address already exists, but it cannot be opened here. "
            "Please contact the service desk."
        )
    return DomainError(message, field="email", code="exists")


def _register_invited(
    token: str, *, email: str, password: str, first_name: str, last_name: str, phone: str
) -> User:
    invitation = find_invitation(token)
    if invitation is None:
        raise DomainError(_("This invitation link is not valid."), code="invitation_invalid")
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("organisation")
        .get(pk=invitation.pk)
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
    existing = find_contact(email)
    if existing is not None and not may_claim(existing, organisation):
        raise _exists_error(existing)
    _check_password(password, email=email, first_name=first_name, last_name=last_name)
    if existing is not None:
        # The invitation proves the address as a confirmation link would: his account at once.
        user = _take_over(
            existing,
            password_hash=make_password(password),
            first_name=first_name,
            last_name=last_name,
            phone=phone,
        )
    else:
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
        new={"email": email, "invitation": invitation.pk, "claimed_contact": existing is not None},
    )
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


def _register_again(
    pending: PendingRegistration,
    *,
    password: str,
    first_name: str,
    last_name: str,
    phone: str,
    site_url: str,
) -> Registration:
    pending = (
        PendingRegistration.objects.select_for_update(of=("self",)).select_related("user").get(pk=pending.pk)
    )
    user = pending.user
    if timezone.now() - pending.last_sent_at < ACTIVATION_RESEND_INTERVAL:
        # Keeps the form from flooding a mailbox; the link sent moments ago still works.
        return Registration(user=user, link_sent=False)
    _check_password(password, email=user.email, first_name=first_name, last_name=last_name)
    user.first_name = clean_text(first_name, field="first_name", max_chars=150, required=False)
    user.last_name = clean_text(last_name, field="last_name", max_chars=150, required=False)
    user.phone = clean_text(phone, field="phone", max_chars=40, required=False)
    # The latest registration's password wins: someone who registered another person's address
    # first cannot keep his password on it once the owner registers. A new password also voids
    # the links mailed before (the token covers the password hash).
    user.set_password(password)
    save_user(user, actor=None)
    pending.last_sent_at = timezone.now()
    pending.times_sent += 1
    pending.save(update_fields=["last_sent_at", "times_sent"])
    _mail_activation_link(user, site_url=site_url)
    return Registration(user=user, link_sent=True)


def _mail_activation_link(user: User, *, site_url: str) -> None:
    token = activation_tokens.make_token(user)
    _mail_link(user, template="activation", url_name="portal:activate", token=token, site_url=site_url)


def _mail_link(user: User, *, template: str, url_name: str, token: str, site_url: str) -> None:
    """Mail ``user`` the confirmation link ``url_name`` with ``token``, and its lifetime."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    path = reverse(url_name, args=[uid, token])
    lifetime = int(settings.PASSWORD_RESET_TIMEOUT)
    queue_mail(
        to=user.email,
        template=template,
        context={
            "name": user.first_name,
            "email": user.email,
            "organisation": user.organisation.name if user.organisation else "",
            "link": _absolute(site_url, path),
            # Whole days when the lifetime is whole days (the default three), else hours.
            "days": lifetime // 86_400,
            "hours": 0 if lifetime % 86_400 == 0 else max(1, lifetime // 3_600),
        },
        # The language the person registered in: he reads the page that says "check your mail".
        language=translation.get_language() or settings.LANGUAGE_CODE,
    )


@transaction.atomic
def activate_registration(pending: PendingRegistration, *, actor: User | None, token: str) -> User:
    """Confirm a self-registration's e-mail address with the token of the mailed link: the
    account becomes active (the view then signs the person in).

    ``actor`` is whoever is signed in while following the link (usually nobody); the audit
    names the registered person, whom the token identifies. A forged, expired or already used
    token, or a registration that is no longer pending, is refused and changes nothing.
    """
    pending = (
        PendingRegistration.objects.select_for_update(of=("self",))
        .select_related("user__organisation")
        .get(pk=pending.pk)
    )
    if not activation_link_is_valid(pending, token):
        raise DomainError(str(ACTIVATION_LINK_UNUSABLE), code="activation_invalid")
    user = pending.user
    update_user(user, actor=None, changes={"is_active": True})
    pending.confirmed_at = timezone.now()
    pending.save(update_fields=["confirmed_at"])
    record_event(
        user,
        event_type=EventType.PORTAL_REGISTERED,
        actor=user,
        organisation=user.organisation,
        new={"email": user.email, "invitation": None, "email_confirmed_at": pending.confirmed_at},
    )
    return user


def _claim_account(
    contact: User,
    *,
    organisation: Organisation,
    password: str,
    first_name: str,
    last_name: str,
    phone: str,
    site_url: str,
) -> Registration:
    # The contact's row is the lock: two claims of one address at once make one AccountClaim.
    contact = User.objects.select_for_update(of=("self",)).select_related("organisation").get(pk=contact.pk)
    if not may_claim(contact, organisation):  # changed since it was read, before the lock
        raise _exists_error(contact)
    claim = AccountClaim.objects.filter(user=contact).first()
    now = timezone.now()
    if (
        claim is not None
        and claim.confirmed_at is None
        and claim.organisation_id == organisation.pk
        and now - claim.last_sent_at < ACTIVATION_RESEND_INTERVAL
    ):
        # Keeps the form from flooding a mailbox; the link sent moments ago still works.
        return Registration(user=contact, link_sent=False)
    _check_password(password, email=contact.email, first_name=first_name, last_name=last_name)
    details = {
        "organisation": organisation,
        # Only the hash, made now, as the password field of the contact will hold it.
        "password": make_password(password),
        "first_name": clean_text(first_name, field="first_name", max_chars=150, required=False),
        "last_name": clean_text(last_name, field="last_name", max_chars=150, required=False),
        "phone": clean_text(phone, field="phone", max_chars=40, required=False),
    }
    if claim is None:
        claim = AccountClaim.objects.create(user=contact, **details)
    else:
        # As for registrations, the latest claim wins and voids the links mailed before (the
        # token covers the chosen password's hash). A claim confirmed long ago (the contact
        # has since lost his password) starts afresh.
        for name, value in details.items():
            setattr(claim, name, value)
        if claim.confirmed_at is not None:
            claim.created_at, claim.times_sent = now, 0
        claim.times_sent += 1
        claim.last_sent_at = now
        claim.confirmed_at = None
        claim.save()
    _mail_link(
        contact,
        template="claim",
        url_name="portal:claim",
        token=claim_tokens.make_claim_token(claim),
        site_url=site_url,
    )
    return Registration(user=contact, link_sent=True)


def purge_expired_claims(*, actor: User | None = None, now: datetime | None = None) -> int:
    """Forget the claims whose last link expired unconfirmed (``PASSWORD_RESET_TIMEOUT`` after
    it was sent): each holds the hash of a password chosen by someone who never proved the
    address was his, and can no longer be confirmed. The contact is untouched (a claim changed
    nothing on him), so nothing is audited; registering again makes a new claim. Confirmed
    claims, which keep no hash, stay. Run daily by the worker (``tierdesk.portal.purge_claims``).
    Returns how many were forgotten."""
    if actor is not None and not actor.is_admin:
        raise NotPermitted(_("Only administrators can purge account claims."))
    cutoff = (now or timezone.now()) - timedelta(seconds=int(settings.PASSWORD_RESET_TIMEOUT))
    expired = AccountClaim.objects.filter(confirmed_at__isnull=True, last_sent_at__lt=cutoff)
    deleted, _by_model = expired.delete()
    return deleted


def _take_over(contact: User, *, password_hash: str, first_name: str, last_name: str, phone: str) -> User:
    """Give a contact who had no password the one he chose (already hashed), audited."""
    contact.password = password_hash
    # The desk may have his name and phone from a call already; what he typed only fills gaps.
    filled = {
        "first_name": clean_text(first_name, field="first_name", max_chars=150, required=False),
        "last_name": clean_text(last_name, field="last_name", max_chars=150, required=False),
        "phone": clean_text(phone, field="phone", max_chars=40, required=False),
    }
    for name, value in filled.items():
        if value and not getattr(contact, name):
            setattr(contact, name, value)
    return save_user(contact, actor=None)


@transaction.atomic
def confirm_claim(claim: AccountClaim, *, actor: User | None, token: str) -> User:
    """Confirm a contact's claim of his account with the token of the mailed link: the password
    he chose when registering becomes his, his name and phone fill what the desk did not know,
    and the view signs him in; the requests he made by phone, mail or web form are his to see.

    ``actor`` is whoever is signed in while following the link (usually nobody); the audit
    names the contact, whom the token identifies. A forged, expired or used token, or a contact
    that can no longer be claimed (given a password, switched off, moved to another
    organisation), is refused and changes nothing.
    """
    claim = (
        AccountClaim.objects.select_for_update(of=("self",))
        .select_related("user__organisation", "organisation")
        .get(pk=claim.pk)
    )
    if not claim_link_is_valid(claim, token):
        raise DomainError(str(ACTIVATION_LINK_UNUSABLE), code="activation_invalid")
    user = _take_over(
        claim.user,
        password_hash=claim.password,
        first_name=claim.first_name,
        last_name=claim.last_name,
        phone=claim.phone,
    )
    claim.confirmed_at = timezone.now()
    claim.password = ""  # now on the account; no second copy of the hash is kept
    claim.save(update_fields=["confirmed_at", "password"])
    record_event(
        user,
        event_type=EventType.PORTAL_REGISTERED,
        actor=user,
        organisation=user.organisation,
        new={
            "email": user.email,
            "invitation": None,
            "claimed_contact": True,
            "email_confirmed_at": claim.confirmed_at,
        },
    )
    return user


# --- Requests and replies -------------------------------------------------------------------


def _attach(ticket: Ticket, files: Sequence[UploadedFile], *, actor: User, entry: TicketEntry | None) -> None:
    if len(files) > MAX_FILES:
        raise DomainError(
            ngettext(
                "At most %(count)d file can be sent at once.",
                "At most %(count)d files can be sent at once.",
                MAX_FILES,
            )
            % {"count": MAX_FILES},
            field="files",
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
    is the contact with that e-mail, or a new contact of the organisation owning its domain.

    ``actor`` is the signed-in person submitting, if any; the public form has none, and then the
    ticket is filed in the requester's name, so that its audit and ``created_by`` say who asked.
    Nobody checked that the sender owns the address: the channel (``web_form``) in the audit
    says the claim came from the unauthenticated form.
    """
    name = clean_text(name, field="name", max_chars=150)
    phone = clean_text(phone, field="phone", max_chars=40, required=False)
    subject = clean_text(subject, field="subject", max_chars=SUBJECT_MAX_CHARS)
    description = clean_text(description, field="description", max_chars=BODY_MAX_CHARS, required=False)
    organisation, contact = _requester_for(email, name=name, phone=phone)
    return tickets.create_ticket(
        actor=actor or contact,
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
    """A call-back request: a ticket on the phone channel asking the desk to ring back. Filed in
    the requester's name when nobody is signed in, as ``submit_web_form`` explains."""
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
        actor=actor or contact,
        organisation=organisation,
        requester=contact,
        subject=subject,
        description="\n".join(str(line) for line in lines),
        channel=Channel.PHONE,
    )
