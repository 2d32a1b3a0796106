"""Users and API tokens."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, ClassVar, Self

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tierdesk.accounts.choices import Language, Role


class UserQuerySet(models.QuerySet["User"]):
    def restrict(self, user: User | None, action: str = "view") -> Self:
        """People ``user`` may see: an admin everyone; an agent the provider's staff and the
        contacts of the organisations he serves; a customer manager his organisation's contacts;
        any other customer only himself."""
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_admin:
            return self
        if user.is_agent:
            from tierdesk.tickets.selectors import agent_scope

            scope = agent_scope(user)
            staff = Q(role__in=[Role.ADMIN, Role.AGENT])
            if scope.all_organisations:
                return self.filter(staff | Q(role=Role.CUSTOMER))
            return self.filter(staff | Q(role=Role.CUSTOMER, organisation_id__in=scope.organisation_ids))
        if user.is_org_manager and action == "view":
            return self.filter(organisation_id=user.organisation_id)
        return self.filter(pk=user.pk)


def may_see_person(user: User | None, person: User, action: str = "view") -> bool:
    """Whether ``person`` is among ``UserQuerySet.restrict(user, action)``: the same rule for one
    person already loaded, so a hot read by id (``accounts.selectors.person_for``) needs no
    restricted query. tests/accounts/test_person_visibility.py checks that the two agree for
    every pair of people of a two-organisation desk."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_admin:
        return True
    if user.is_agent:
        from tierdesk.tickets.selectors import agent_scope

        if person.role in (Role.ADMIN, Role.AGENT):
            return True
        scope = agent_scope(user)
        return person.role == Role.CUSTOMER and (
            scope.all_organisations or person.organisation_id in scope.organisation_ids
        )
    if user.is_org_manager and action == "view":
        return person.organisation_id == user.organisation_id
    return person.pk == user.pk


class TierdeskUserManager(UserManager.from_queryset(UserQuerySet)):  # type: ignore[misc]
    pass


class User(AbstractUser):
    """A person who signs in to Tierdesk, or a contact who writes in without ever signing in.

    Every user belongs to an organisation: the provider's own staff (agents, administrators)
    to the provider, customer contacts to their client company. A contact created from a phone
    call or an e-mail has no usable password until he registers on the portal.
    """

    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.CUSTOMER)
    organisation = models.ForeignKey(
        "orgs.Organisation",
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        related_name="people",
        null=True,
        blank=True,
    )
    is_org_manager = models.BooleanField(
        _("organisation manager"),
        default=False,
        help_text=_("A customer contact who sees all tickets of his organisation."),
    )
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    job_title = models.CharField(_("job title"), max_length=120, blank=True)
    language = models.CharField(
        _("language"),
        max_length=8,
        choices=Language.choices,
        blank=True,
        help_text=_("The language Tierdesk speaks to this person; empty follows the browser."),
    )

    objects: ClassVar[TierdeskUserManager] = TierdeskUserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.UniqueConstraint(Lower("email"), condition=~Q(email=""), name="user_email_unique_ci"),
        ]
        indexes = [models.Index(fields=["organisation", "role"], name="user_org_role_idx")]

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    # The administrator role is the desk's full administrator: every admin permission, without
    # maintaining Django permission rows for each model.
    def has_perm(self, perm: str, obj: Any = None) -> bool:
        if self.is_active and self.role == Role.ADMIN:
            return True
        return super().has_perm(perm, obj)

    def has_module_perms(self, app_label: str) -> bool:
        if self.is_active and self.role == Role.ADMIN:
            return True
        return super().has_module_perms(app_label)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN or self.is_superuser

    @property
    def is_agent(self) -> bool:
        """Provider staff who work tickets (administrators are checked separately)."""
        return self.role == Role.AGENT and not self.is_superuser

    @property
    def is_customer(self) -> bool:
        return self.role == Role.CUSTOMER and not self.is_superuser

    @property
    def is_staff_member(self) -> bool:
        """Agent or administrator: someone on the provider's side of the desk."""
        return self.is_admin or self.is_agent


def hash_token_key(raw_key: str) -> str:
    """Tokens are stored only as SHA-256 hashes; the raw key is shown once at creation."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def usable(self) -> Self:
        """Tokens neither revoked nor expired (``ApiToken.is_usable`` says it of one token)."""
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))

    def restrict(self, user: User | None, action: str = "view") -> Self:
        if user is None or not user.is_authenticated:
            return self.none()
        return self if user.is_admin else self.filter(user=user)


class ApiToken(models.Model):
    """A bearer token for integrations (monitoring, scripts, other systems) acting as a user.

    The token acts with exactly its user's permissions. Only a hash of the key is kept; the
    readable ``prefix`` identifies a token in lists and logs without revealing it.
    """

    user = models.ForeignKey(
        User, verbose_name=_("user"), on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_usable(self, now: datetime) -> bool:
        """Neither revoked nor expired at ``now`` (the rule of ``ApiTokenQuerySet.usable``)."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def audit_snapshot(self) -> dict[str, Any]:
        return {
            "user": self.user_id,
            "name": self.name,
            "prefix": self.prefix,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }
