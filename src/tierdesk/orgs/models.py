"""Organisations (tenants) and their sites."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from tierdesk.accounts.models import User


class OrganisationQuerySet(models.QuerySet["Organisation"]):
    def restrict(self, user: User | None, action: str = "view") -> Self:
        """Organisations ``user`` may see: an admin all; an agent the provider and the clients
        his teams serve; a customer only his own."""
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_admin:
            return self
        if user.is_agent:
            from tierdesk.tickets.selectors import agent_scope

            scope = agent_scope(user)
            if scope.all_organisations:
                return self
            return self.filter(Q(pk__in=scope.organisation_ids) | Q(is_provider=True))
        if action != "view":
            return self.none()
        return self.filter(pk=user.organisation_id)


class Organisation(models.Model):
    """A company the service desk supports (a tenant), or the provider itself.

    An IT outsourcer has one provider organisation (its own staff) and many clients. An
    in-house IT department is simply a provider whose one client is its own company. Customer
    contacts, tickets, configuration items and contracts all belong to exactly one
    organisation, and a customer never sees another organisation's data.
    """

    name = models.CharField(_("name"), max_length=200, unique=True)
    short_name = models.SlugField(_("short name"), max_length=50, unique=True)
    is_provider = models.BooleanField(
        _("provider"), default=False, help_text=_("The organisation whose staff provide the support.")
    )
    account_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("account manager"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="managed_accounts",
        help_text=_("The provider's person responsible for this client."),
    )
    email_domains = models.JSONField(
        _("e-mail domains"),
        default=list,
        blank=True,
        help_text=_("Domains whose people may register on the portal as contacts of this organisation."),
    )
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    objects = OrganisationQuerySet.as_manager()

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_provider"], condition=Q(is_provider=True), name="one_provider"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def audit_snapshot(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "short_name": self.short_name,
            "is_provider": self.is_provider,
            "account_manager": self.account_manager_id,
            "email_domains": list(self.email_domains),
            "phone": self.phone,
            "is_active": self.is_active,
        }


class SiteQuerySet(models.QuerySet["Site"]):
    def restrict(self, user: User | None, action: str = "view") -> Self:
        return self.filter(organisation__in=Organisation.objects.restrict(user, action))


class Site(models.Model):
    """A place where an organisation works (an office, a data centre, a shop).

    Engineers go to sites; configuration items and contacts are located at them.
    """

    organisation = models.ForeignKey(
        Organisation, verbose_name=_("organisation"), on_delete=models.CASCADE, related_name="sites"
    )
    name = models.CharField(_("name"), max_length=200)
    address = models.TextField(_("address"), blank=True)
    notes = models.TextField(_("notes"), blank=True)

    objects = SiteQuerySet.as_manager()

    class Meta:
        verbose_name = _("site")
        verbose_name_plural = _("sites")
        ordering = ["organisation", "name"]
        constraints = [models.UniqueConstraint(fields=["organisation", "name"], name="site_unique_name")]

    def __str__(self) -> str:
        return f"{self.organisation}: {self.name}"

    def audit_snapshot(self) -> dict[str, Any]:
        return {"organisation": self.organisation_id, "name": self.name, "address": self.address}
