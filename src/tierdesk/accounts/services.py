"""Creating people and API tokens. Every change is audited."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tierdesk.accounts.choices import Role
from tierdesk.accounts.models import ApiToken, User, hash_token_key
from tierdesk.audit.choices import EventType
from tierdesk.audit.services import diff, record_event
from tierdesk.common.errors import DomainError, NotPermitted
from tierdesk.common.limits import clean_text
from tierdesk.orgs.models import Organisation

TOKEN_PREFIX = "tdk"  # noqa: S105 - a public marker that makes leaked tokens easy to scan for


def user_snapshot(user: User) -> dict[str, Any]:
    """The audited fields of a person (never the password hash)."""
    return {
        "username": user.username,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "role": user.role,
        "organisation": user.organisation_id,
        "is_org_manager": user.is_org_manager,
        "is_active": user.is_active,
        "phone": user.phone,
        "language": user.language,
    }


def _check_role_organisation(role: str, organisation: Organisation) -> None:
    if role in (Role.ADMIN, Role.AGENT) and not organisation.is_provider:
        raise DomainError(
            _("Agents and administrators belong to the provider organisation."), field="organisation"
        )
    if role == Role.CUSTOMER and organisation.is_provider:
        raise DomainError(_("Customer contacts belong to a client organisation."), field="organisation")


@transaction.atomic
def create_user(
    *,
    actor: User | None,
    username: str,
    organisation: Organisation,
    role: str = Role.CUSTOMER,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    password: str | None = None,
    is_org_manager: bool = False,
    phone: str = "",
    language: str = "",
) -> User:
    """Create a person: provider staff (agent, admin) or a contact of a client organisation.

    Only administrators create staff; agents may create contacts for organisations they serve
    (a caller on the phone). Without a password the account cannot sign in until it is set.
    """
    role = Role(role)
    first_name = clean_text(first_name, field="first_name", max_chars=150, required=False)
    last_name = clean_text(last_name, field="last_name", max_chars=150, required=False)
    phone = clean_text(phone, field="phone", max_chars=40, required=False)
    email = clean_text(email, field="email", max_chars=254, required=False)
    username = clean_text(username, field="username", max_chars=150)
    if actor is not None and not actor.is_admin:
        if role != Role.CUSTOMER or not actor.is_agent:
            raise NotPermitted(_("Only administrators can create staff accounts."))
        if not Organisation.objects.restrict(actor).filter(pk=organisation.pk, is_provider=False).exists():
            raise NotPermitted(_("Your teams do not serve %(org)s.") % {"org": organisation})
    _check_role_organisation(role, organisation)
    email = email.strip()
    if email and User.objects.filter(email__iexact=email).exists():
        raise DomainError(
            _("A person with the e-mail %(email)s already exists.") % {"email": email}, field="email"
        )
    if User.objects.filter(username=username).exists():
        raise DomainError(_("The user name %(name)s is taken.") % {"name": username}, field="username")
    user = User(
        username=username,
        email=email,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        role=role,
        organisation=organisation,
        is_org_manager=is_org_manager and role == Role.CUSTOMER,
        phone=phone.strip(),
        language=language,
        is_staff=role == Role.ADMIN,
        is_superuser=False,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    record_event(
        user,
        event_type=EventType.USER_CREATED,
        actor=actor,
        organisation=organisation,
        new=user_snapshot(user),
    )
    return user


@transaction.atomic
def update_user(user: User, *, actor: User | None, changes: dict[str, Any]) -> User:
    """Change a person's details; role and organisation changes are for administrators."""
    allowed = {"email", "first_name", "last_name", "phone", "language", "job_title"}
    if actor is None or actor.is_admin:
        allowed |= {"role", "organisation", "is_org_manager", "is_active"}
    elif actor.pk != user.pk and not (
        actor.is_agent
        and user.is_customer
        and user.organisation_id is not None
        and Organisation.objects.restrict(actor).filter(pk=user.organisation_id, is_provider=False).exists()
    ):
        raise NotPermitted(_("You cannot change this person."))
    unknown = set(changes) - allowed
    if unknown:
        raise NotPermitted(_("You cannot change: %(fields)s.") % {"fields": ", ".join(sorted(unknown))})
    before = user_snapshot(user)
    for name, value in changes.items():
        if isinstance(value, str):
            value = clean_text(value, field=name, max_chars=254, required=False)
        setattr(user, name, value)
    _check_role_organisation(user.role, user.organisation) if user.organisation else None
    if user.email and User.objects.filter(email__iexact=user.email).exclude(pk=user.pk).exists():
        raise DomainError(
            _("A person with the e-mail %(email)s already exists.") % {"email": user.email}, field="email"
        )
    user.is_staff = user.role == Role.ADMIN or user.is_superuser
    user.full_clean(exclude=["password"])
    user.save()
    old, new = diff(before, user_snapshot(user))
    if new:
        record_event(
            user,
            event_type=EventType.USER_UPDATED,
            actor=actor,
            organisation=user.organisation_id,
            old=old,
            new=new,
        )
    return user


@transaction.atomic
def create_api_token(
    user: User, *, actor: User | None, name: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Issue a bearer token acting as ``user``. Returns the token and its raw key, which is
    shown only now; only its hash is stored."""
    if actor is not None and not actor.is_admin and actor.pk != user.pk:
        raise NotPermitted(_("You can only create tokens for yourself."))
    name = name.strip()
    if not name:
        raise DomainError(_("Give the token a name that says what uses it."), field="name")
    prefix = secrets.token_hex(4)
    raw_key = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        user=user, name=name[:100], prefix=prefix, key_hash=hash_token_key(raw_key), expires_at=expires_at
    )
    record_event(
        token,
        event_type=EventType.TOKEN_CREATED,
        actor=actor,
        organisation=user.organisation_id,
        new=token.audit_snapshot(),
    )
    return token, raw_key


@transaction.atomic
def revoke_api_token(token: ApiToken, *, actor: User | None) -> ApiToken:
    """Make the token unusable from now on (kept for the audit trail)."""
    if actor is not None and not actor.is_admin and actor.pk != token.user_id:
        raise NotPermitted(_("You can only revoke your own tokens."))
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record_event(
            token,
            event_type=EventType.TOKEN_REVOKED,
            actor=actor,
            organisation=token.user.organisation_id,
            new={"revoked_at": token.revoked_at},
        )
    return token


@transaction.atomic
def save_user(user: User, *, actor: User | None) -> User:
    """Save a user edited in the admin (forms validated it already), audited with the diff."""
    if actor is not None and not actor.is_admin:
        raise NotPermitted(_("Only administrators can manage users."))
    stored = User.objects.filter(pk=user.pk).first() if user.pk else None
    before = user_snapshot(stored) if stored else {}
    if user.organisation is not None:
        _check_role_organisation(user.role, user.organisation)
    user.is_staff = user.role == Role.ADMIN or user.is_superuser
    user.save()
    old, new = diff(before, user_snapshot(user))
    if stored is not None and stored.password != user.password:
        old["password"], new["password"] = "***", "*** (changed)"
    if new:
        record_event(
            user,
            event_type=EventType.USER_UPDATED if stored else EventType.USER_CREATED,
            actor=actor,
            organisation=user.organisation_id,
            old=old or None,
            new=new,
        )
    return user
