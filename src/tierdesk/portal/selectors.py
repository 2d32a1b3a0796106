"""Reads for the customer portal: a customer's requests, their public conversation, lookups by
e-mail domain and invitation token."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet
from django.db.models.functions import Lower
from django.utils.encoding import force_str
from django.utils.functional import Promise
from django.utils.http import urlsafe_base64_decode
from django.utils.translation import gettext_lazy as _

from tierdesk.accounts.choices import Role
from tierdesk.accounts.models import User
from tierdesk.common.pagination import Page
from tierdesk.orgs.models import Organisation
from tierdesk.portal.models import AccountClaim, Invitation, PendingRegistration, hash_invitation_token
from tierdesk.portal.tokens import activation_tokens, claim_tokens
from tierdesk.sla.status import sla_overview
from tierdesk.tickets.choices import EntryKind, Status
from tierdesk.tickets.models import Attachment, Category, Ticket, TicketEntry
from tierdesk.tickets.selectors import TicketFilters, ticket_page

# How a customer reads a status: what it means for him, not the desk's internal steps.
CUSTOMER_STATUS: dict[str, Promise] = {
    Status.NEW: _("Received"),
    Status.ASSIGNED: _("Received"),
    Status.IN_PROGRESS: _("Being worked on"),
    Status.WAITING_CUSTOMER: _("Waiting for your reply"),
    Status.WAITING_THIRD_PARTY: _("Waiting for a supplier"),
    Status.RESOLVED: _("Resolved — please confirm"),
    Status.CLOSED: _("Closed"),
    Status.CANCELLED: _("Withdrawn"),
}

# The status filter of the portal list, in customer words: each choice is a group of statuses.
STATUS_FILTERS: dict[str, tuple[Promise, list[str]]] = {
    "open": (
        _("All open"),
        [
            Status.NEW,
            Status.ASSIGNED,
            Status.IN_PROGRESS,
            Status.WAITING_CUSTOMER,
            Status.WAITING_THIRD_PARTY,
        ],
    ),
    "received": (_("Received"), [Status.NEW, Status.ASSIGNED]),
    "in_progress": (_("Being worked on"), [Status.IN_PROGRESS]),
    "waiting_customer": (_("Waiting for your reply"), [Status.WAITING_CUSTOMER]),
    "waiting_third_party": (_("Waiting for a supplier"), [Status.WAITING_THIRD_PARTY]),
    "resolved": (_("Resolved — please confirm"), [Status.RESOLVED]),
    "closed": (_("Closed"), [Status.CLOSED]),
    "cancelled": (_("Withdrawn"), [Status.CANCELLED]),
}

PAGE_SIZE = 25


def customer_status(status: str) -> str:
    """The status in the words a customer understands."""
    label = CUSTOMER_STATUS.get(status)
    return str(label) if label is not None else status


@dataclass
class PortalFilters:
    """What the portal list may be filtered by (requester only for organisation managers)."""

    status: str = ""
    requester: int | None = None
    q: str = ""


def my_requests(user: User, *, filters: PortalFilters, cursor: str | None = None) -> Page:
    """One page of the requests ``user`` may see, newest first: his own, or all of his
    organisation's when he is its manager (``Ticket.objects.restrict`` decides)."""
    statuses = STATUS_FILTERS[filters.status][1] if filters.status in STATUS_FILTERS else None
    requester = filters.requester if user.is_org_manager else None
    return ticket_page(
        user,
        filters=TicketFilters(status=statuses, requester=requester, q=filters.q or None),
        ordering="-created",
        cursor=cursor,
        limit=PAGE_SIZE,
    )


def organisation_requesters(user: User) -> QuerySet[User]:
    """The contacts a manager may filter his organisation's list by."""
    if not user.is_org_manager or user.organisation_id is None:
        return User.objects.none()
    return User.objects.filter(organisation_id=user.organisation_id, role=Role.CUSTOMER).order_by(
        "last_name", "first_name", "id"
    )


def public_conversation(ticket: Ticket) -> list[TicketEntry]:
    """The public replies of ``ticket``, oldest first, with their public files. Internal notes
    and system events never reach the portal, whoever looks at it."""
    return list(
        ticket.entries.filter(kind=EntryKind.PUBLIC)
        .select_related("author")
        .prefetch_related(
            Prefetch("attachments", queryset=Attachment.objects.filter(is_internal=False).order_by("id"))
        )
        .order_by("created_at", "id")
    )


def request_files(ticket: Ticket) -> list[Attachment]:
    """Files sent with the request itself (tied to no conversation entry)."""
    return list(ticket.attachments.filter(entry__isnull=True, is_internal=False).order_by("id"))


def active_categories() -> QuerySet[Category]:
    """Categories a customer may choose for a new request."""
    return Category.objects.filter(is_active=True).select_related("parent").order_by("parent__name", "name")


def email_domain(email: str) -> str:
    """The lower-case domain of an e-mail address ("" when there is none)."""
    _local, at, domain = (email or "").strip().rpartition("@")
    return domain.strip().lower() if at else ""


def organisation_for_email(email: str) -> Organisation | None:
    """The active client organisation whose portal domains include the address's domain."""
    domain = email_domain(email)
    if not domain:
        return None
    # A text pre-filter narrows the rows; the exact match is checked on the decoded list
    # (SQLite has no JSON "contains" lookup).
    candidates = Organisation.objects.filter(
        is_active=True, is_provider=False, email_domains__icontains=domain
    ).order_by("id")
    for org in candidates:
        if domain in [str(d).lower() for d in org.email_domains]:
            return org
    return None


def find_contact(email: str) -> User | None:
    """The person with this e-mail address (case-insensitive), if any, with his organisation.

    Compared as ``lower(email)``, the expression of the unique index ``user_email_unique_ci``
    (``iexact`` would compare ``UPPER()`` and read every person)."""
    address = (email or "").strip().lower()
    return (
        User.objects.annotate(email_lower=Lower("email"))
        .filter(email_lower=address)
        .exclude(email="")  # the index is partial: this condition lets PostgreSQL use it
        .select_related("organisation")
        .order_by("id")
        .first()
    )


def find_invitation(raw_token: str) -> Invitation | None:
    """The invitation a link's token belongs to (used or expired ones too, so the page can say
    which), or ``None``."""
    if not raw_token or len(raw_token) > 200:
        return None
    return (
        Invitation.objects.select_related("organisation")
        .filter(token_hash=hash_invitation_token(raw_token))
        .first()
    )


def pending_registration(user: User) -> PendingRegistration | None:
    """The self-registration of ``user`` still waiting for its address to be confirmed, or
    ``None``. An account an administrator switched off, or one that was ever used, never counts
    as pending, so no link and no new registration can bring it back."""
    if user.is_active or user.last_login is not None:
        return None
    return PendingRegistration.objects.filter(user=user, confirmed_at__isnull=True).first()


def _user_id(uidb64: str) -> int | None:
    """The person's id a confirmation link carries (in base64), or ``None`` when it is no id."""
    try:
        user_id = int(force_str(urlsafe_base64_decode(uidb64)))
    except (ValueError, TypeError, OverflowError):
        return None
    if not 0 < user_id < 2**63:  # beyond a database integer: no such row, and no query
        return None
    return user_id


def find_pending_registration(uidb64: str) -> PendingRegistration | None:
    """The registration a confirmation link names (by the person's id in base64), or ``None``.
    Whether the link's token is good is for ``activate_registration`` to decide."""
    user_id = _user_id(uidb64)
    if user_id is None:
        return None
    return PendingRegistration.objects.select_related("user__organisation").filter(user_id=user_id).first()


def activation_link_is_valid(pending: PendingRegistration, token: str) -> bool:
    """Whether a confirmation link (its registration and token) can still confirm the address:
    still pending, token genuine and unexpired, organisation active."""
    user = pending.user
    organisation = user.organisation
    return (
        pending.confirmed_at is None
        and not user.is_active
        and organisation is not None
        and organisation.is_active
        and activation_tokens.check_token(user, token)
    )


def may_claim(user: User, organisation: Organisation) -> bool:
    """Whether ``user`` is a contact the desk created without a password (from a call, a mail,
    the web form) who may take the account over by registering as a contact of
    ``organisation`` (the one his address's domain or his invitation names).

    Never someone with a password (he signs in, or resets it), an account an administrator
    switched off, staff, or a contact of another organisation: an address of one client's
    domain does not open the account of another client's contact.
    """
    return bool(
        user.is_active
        and user.is_customer
        and not user.has_usable_password()
        and user.organisation_id == organisation.pk
        and organisation.is_active
        and not organisation.is_provider
    )


def find_claim(uidb64: str) -> AccountClaim | None:
    """The account claim a confirmation link names (by the person's id in base64), or ``None``.
    Whether it can still be confirmed is ``claim_link_is_valid``'s question."""
    user_id = _user_id(uidb64)
    if user_id is None:
        return None
    return (
        AccountClaim.objects.select_related("user__organisation", "organisation")
        .filter(user_id=user_id)
        .first()
    )


def claim_link_is_valid(claim: AccountClaim, token: str) -> bool:
    """Whether a claim's confirmation link can still set the chosen password: not confirmed yet,
    the contact still claimable for the claim's organisation, the token genuine and unexpired."""
    return (
        claim.confirmed_at is None
        and may_claim(claim.user, claim.organisation)
        and claim_tokens.check_claim_token(claim, token)
    )


def organisation_invitations(user: User) -> QuerySet[Invitation]:
    """The invitations of the manager's organisation, newest first."""
    if not user.is_org_manager or user.organisation_id is None:
        return Invitation.objects.none()
    return Invitation.objects.filter(organisation_id=user.organisation_id).order_by("-created_at", "-id")[:50]


@dataclass(frozen=True)
class Commitment:
    """One promise of the service level, as the customer reads it: "First answer by 14:30"."""

    label: str
    when: dt.datetime | None
    note: str = ""


def service_commitments(ticket: Ticket) -> list[Commitment]:
    """What the desk promised on this request and by when, in a customer's words: the first
    answer and the resolution by their deadlines (business time already counted in), or when
    they were given; that the clock waits while the request waits for the customer. Nothing of
    the desk's internals (at risk, breached, escalation). Empty for closed requests and those
    without a service level. No query: the service levels are a per-process snapshot."""
    if ticket.status in (Status.CLOSED, Status.CANCELLED):
        return []
    overview = sla_overview(ticket)
    if overview is None:
        return []
    found: list[Commitment] = []
    response = overview.first_response
    if response is not None:
        if response.achieved_at is not None:
            found.append(Commitment(str(_("First answer")), response.achieved_at, str(_("given"))))
        elif response.due_at is not None:
            found.append(Commitment(str(_("First answer by")), response.due_at))
    resolution = overview.resolution
    if resolution is not None and resolution.achieved_at is None:
        if resolution.due_at is not None:
            found.append(Commitment(str(_("Resolution planned by")), resolution.due_at))
        elif overview.paused_since is not None:
            note = (
                _("The deadline waits while we wait for your answer.")
                if ticket.status == Status.WAITING_CUSTOMER
                else _("The deadline is on hold for now.")
            )
            found.append(Commitment(str(_("Resolution")), None, str(note)))
    return found
