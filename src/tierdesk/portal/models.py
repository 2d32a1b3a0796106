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


class PendingRegistration(models.Model):
    """A self-registration waiting for the person to confirm his e-mail address.

    Registering with an address of a client's domain creates the contact inactive, with this
    row beside it, and mails a link; following it activates the account (``confirmed_at``).
    The row is what tells such an account from one an administrator switched off: only a
    pending registration may be activated by a link, or registered again (which mails a new
    link instead of creating a second account). ``last_sent_at`` keeps the resending of links
    to one address slow enough that the form cannot be used to flood a mailbox.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("person"),
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("registered at"), default=timezone.now, editable=False)
    last_sent_at = models.DateTimeField(_("link last sent at"), default=timezone.now)
    times_sent = models.PositiveIntegerField(_("links sent"), default=1)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("pending registration")
        verbose_name_plural = _("pending registrations")

    def __str__(self) -> str:
        return str(self.user_id)

    @property
    def is_pending(self) -> bool:
        return self.confirmed_at is None


class AccountClaim(models.Model):
    """A contact's request, made on the registration form, to take over the account the desk
    already keeps for him.

    Contacts created from a call, a mail or the public web form are active but have no
    password: they cannot sign in, and password reset ignores them. Registering with such an
    address keeps here what the person chose (the password's hash, his name and phone) and
    mails a link to the address; only following it sets the password on the contact
    (``confirmed_at``). Until then the contact is untouched and stays a requester like any
    other. ``organisation`` is the one the registration was made for (by domain or invitation):
    the link confirms nothing once the contact belongs elsewhere. ``last_sent_at`` keeps the
    resending of links to one address slow, as for ``PendingRegistration``.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("person"),
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="+",
    )
    organisation = models.ForeignKey(
        "orgs.Organisation", verbose_name=_("organisation"), on_delete=models.CASCADE, related_name="+"
    )
    # A hash made by Django's password hashers, never the password itself.
    password = models.CharField(_("chosen password"), max_length=128)
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    created_at = models.DateTimeField(_("claimed at"), default=timezone.now)
    last_sent_at = models.DateTimeField(_("link last sent at"), default=timezone.now)
    times_sent = models.PositiveIntegerField(_("links sent"), default=1)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("account claim")
        verbose_name_plural = _("account claims")

    def __str__(self) -> str:
        return str(self.user_id)
