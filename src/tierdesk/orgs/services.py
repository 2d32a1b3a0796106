"""Creating and changing organisations, their sites and contacts. Every change is audited."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _

from tierdesk.audit.choices import EventType
from tierdesk.audit.services import diff, record_event
from tierdesk.common.errors import DomainError, NotPermitted
from tierdesk.common.limits import BODY_MAX_CHARS, clean_text
from tierdesk.orgs.models import Organisation, Site

if TYPE_CHECKING:
    from tierdesk.accounts.models import User

ORG_FIELDS = frozenset(
    {"name", "short_name", "account_manager", "email_domains", "phone", "notes", "is_active"}
)


def _require_admin(actor: User | None) -> None:
    if actor is not None and not actor.is_admin:
        raise NotPermitted(_("Only administrators can manage organisations."))


def _clean_domains(domains: list[str]) -> list[str]:
    cleaned = sorted({d.strip().lower().lstrip("@") for d in domains if d and d.strip()})
    for domain in cleaned:
        if "." not in domain or any(c.isspace() or c in "@/" for c in domain):
            raise DomainError(
                _("“%(domain)s” is not an e-mail domain.") % {"domain": domain}, field="email_domains"
            )
    return cleaned


@transaction.atomic
def create_organisation(
    *,
    actor: User | None,
    name: str,
    short_name: str = "",
    is_provider: bool = False,
    account_manager: User | None = None,
    email_domains: list[str] | None = None,
    phone: str = "",
    notes: str = "",
) -> Organisation:
    """Register a client organisation (a tenant), or the provider itself (only one exists)."""
    _require_admin(actor)
    name = clean_text(name, field="name", max_chars=200)
    phone = clean_text(phone, field="phone", max_chars=40, required=False)
    notes = clean_text(notes, field="notes", max_chars=BODY_MAX_CHARS, required=False)
    if is_provider and Organisation.objects.filter(is_provider=True).exists():
        raise DomainError(_("There is already a provider organisation."), field="is_provider")
    if account_manager is not None and not account_manager.is_staff_member:
        raise DomainError(
            _("The account manager must be one of the provider's staff."), field="account_manager"
        )
    org = Organisation(
        name=name,
        short_name=short_name or slugify(name)[:50] or "org",
        is_provider=is_provider,
        account_manager=account_manager,
        email_domains=_clean_domains(email_domains or []),
        phone=phone.strip(),
        notes=notes,
    )
    org.full_clean()
    org.save()
    record_event(
        org,
        event_type=EventType.ORGANISATION_CREATED,
        actor=actor,
        organisation=org,
        new=org.audit_snapshot(),
    )
    return org


@transaction.atomic
def update_organisation(org: Organisation, *, actor: User | None, changes: dict[str, Any]) -> Organisation:
    """Change an organisation's details (name, account manager, portal domains, ...)."""
    _require_admin(actor)
    unknown = set(changes) - ORG_FIELDS
    if unknown:
        raise DomainError(
            _("These fields cannot be edited: %(fields)s.") % {"fields": ", ".join(sorted(unknown))}
        )
    before = org.audit_snapshot()
    values = dict(changes)
    if "email_domains" in values:
        values["email_domains"] = _clean_domains(values["email_domains"])
    manager = values.get("account_manager")
    if manager is not None and not manager.is_staff_member:
        raise DomainError(
            _("The account manager must be one of the provider's staff."), field="account_manager"
        )
    for key, value in values.items():
        setattr(org, key, value)
    org.full_clean()
    org.save()
    old, new = diff(before, org.audit_snapshot())
    if new:
        record_event(
            org, event_type=EventType.ORGANISATION_UPDATED, actor=actor, organisation=org, old=old, new=new
        )
    return org


@transaction.atomic
def save_site(site: Site, *, actor: User | None) -> Site:
    """Create or change a site of an organisation (admins, and agents serving it)."""
    if (
        actor is not None
        and not actor.is_admin
        and not (
            actor.is_agent and Organisation.objects.restrict(actor).filter(pk=site.organisation_id).exists()
        )
    ):
        raise NotPermitted(_("You cannot manage sites of this organisation."))
    before: dict[str, Any] = {}
    if site.pk is not None:
        stored = Site.objects.filter(pk=site.pk).first()
        before = stored.audit_snapshot() if stored else {}
    site.full_clean()
    site.save()
    old, new = diff(before, site.audit_snapshot())
    if before and not new:
        return site
    record_event(
        site,
        event_type=EventType.SITE_UPDATED if before else EventType.SITE_CREATED,
        actor=actor,
        organisation=site.organisation_id,
        old=old or None,
        new=new,
    )
    return site


def create_contact(
    organisation: Organisation,
    *,
    actor: User | None,
    email: str,
    first_name: str = "",
    last_name: str = "",
    phone: str = "",
    is_org_manager: bool = False,
    password: str | None = None,
    username: str | None = None,
) -> User:
    """A customer contact of ``organisation`` (e.g. a caller registered at the phone)."""
    from tierdesk.accounts.services import create_user

    email = email.strip()
    if not email or "@" not in email:
        raise DomainError(_("A contact needs an e-mail address."), field="email")
    return create_user(
        actor=actor,
        username=username or email.lower(),
        organisation=organisation,
        role="customer",
        email=email,
        first_name=first_name,
        last_name=last_name,
        phone=phone,
        is_org_manager=is_org_manager,
        password=password,
    )
