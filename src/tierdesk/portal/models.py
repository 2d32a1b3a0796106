"""Invitations to the customer portal."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def hash_invitation_token(raw_token: str) -> str:
    """Only the SHA-256 of an invitation token is stored; the raw token travels in the link."""
    return hashlib.sha256(raw_token.encode()).hexdigest()


class Invitation(models.Model):
    """An invitation for one person (by e-mail) to register as a contact of an organisation.

    Created by the organisation's manager in the portal or by staff in the admin. The link
    carries a random token of which only the hash is kept; it works once (``used_at``) and
    only until ``expires_at``. Lets people register whose e-mail domain is not one of the
    organisation's portal domains (a freelancer, a private address).
    """

    organisation = models.ForeignKey(
        "orgs.Organisation",
        verbose_name=_("organisation"),
        on_delete=models.CASCADE,
        related_name="portal_invitations",
    )
    email = models.EmailField(_("e-mail"))
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("invited by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("expires at"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("used by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("portal invitation")
        verbose_name_plural = _("portal invitations")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organisation", "created_at"], name="invitation_org_idx")]

    def __str__(self) -> str:
        return f"{self.email} ({self.organisation_id})"

    @property
    def is_usable(self) -> bool:
        return self.used_at is None and self.expires_at > timezone.now()

    def audit_snapshot(self) -> dict[str, object]:
        return {
            "organisation": self.organisation_id,
            "email": self.email,
            "expires_at": self.expires_at.isoformat(),
            "used_at": self.used_at.isoformat() if self.used_at else None,
        }
