"""The e-mail channel: mailboxes polled over IMAP, every received message (the idempotency
key and the quarantine), the notifications Tierdesk sends (an outbox the worker delivers) and
their templates, and the addresses that bounce."""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tierdesk.accounts.choices import Language
from tierdesk.mail.choices import InboundState, NotificationKind, OutboundState, Transport


def raw_message_path(instance: Any, filename: str) -> str:
    """Raw sources are stored under their SHA-256 where attachments are: the ``.eml`` kept on
    the ticket is the same file, written once."""
    digest = instance.raw_sha256
    return f"attachments/{digest[:2]}/{digest[2:4]}/{digest}"


def _is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1); names are not resolved."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Mailbox(models.Model):
    """An IMAP account the worker polls, and the queue its new requests land in.

    A provider may run several addresses (support@, it@ of a client, a client's own support
    address forwarded to us): each routes new requests to a default organisation (for senders
    no organisation's e-mail domain claims), team, line and category. Replies are threaded by
    headers and ticket numbers whatever mailbox they arrive in.
    """

    class Security(models.TextChoices):
        SSL = "ssl", _("TLS (IMAPS, port 993)")
        STARTTLS = "starttls", _("STARTTLS (port 143)")
        NONE = "none", _("None (local servers only)")

    name = models.CharField(_("name"), max_length=100, unique=True)
    address = models.EmailField(
        _("address"), help_text=_("The desk's address customers write to; replies go out from it.")
    )
    imap_host = models.CharField(_("IMAP server"), max_length=255, blank=True)
    imap_port = models.PositiveIntegerField(_("IMAP port"), default=993)
    imap_security = models.CharField(
        _("connection security"), max_length=8, choices=Security.choices, default=Security.SSL
    )
    imap_username = models.CharField(_("IMAP user"), max_length=255, blank=True)
    imap_password = models.CharField(_("IMAP password"), max_length=255, blank=True)
    imap_folder = models.CharField(_("folder"), max_length=255, default="INBOX")
    processed_folder = models.CharField(
        _("move processed mail to"),
        max_length=255,
        blank=True,
        help_text=_("Empty keeps imported messages in the folder, flagged as seen."),
    )
    default_organisation = models.ForeignKey(
        "orgs.Organisation",
        verbose_name=_("default organisation"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_(
            "Senders whose domain no organisation claims become contacts here. Empty holds such "
            "messages for an agent."
        ),
    )
    team = models.ForeignKey(
        "tickets.Team",
        verbose_name=_("team"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    line = models.ForeignKey(
        "tickets.SupportLine",
        verbose_name=_("line"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty: the intake line."),
    )
    category = models.ForeignKey(
        "tickets.Category",
        verbose_name=_("category"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    is_active = models.BooleanField(_("active"), default=True)
    last_polled_at = models.DateTimeField(_("last polled"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("mailbox")
        verbose_name_plural = _("mailboxes")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>"

    def clean(self) -> None:
        """Without TLS the IMAP password and the mail cross the network in clear: allowed for a
        server on this machine only, as the choice's label says."""
        super().clean()
        host = self.imap_host.strip().strip("[]").lower()
        if self.imap_security == self.Security.NONE and host and not _is_loopback(host):
            raise ValidationError(
                {
                    "imap_security": _(
                        "Without TLS the password and the mail cross the network in clear: choose "
                        "TLS or STARTTLS for %(host)s (no encryption is for a server on this "
                        "machine only)."
                    )
                    % {"host": self.imap_host}
                }
            )

    def audit_snapshot(self) -> dict[str, Any]:
        """What the audit trail keeps: every setting, but of the password only whether it is set
        and a short fingerprint that shows when it changed."""
        snapshot = {
            f.attname: getattr(self, f.attname)
            for f in self._meta.concrete_fields
            if not f.primary_key
            and f.name not in ("imap_password", "last_polled_at", "last_error", "created_at")
        }
        snapshot["imap_password"] = (
            "sha256:" + hashlib.sha256(self.imap_password.encode()).hexdigest()[:12]
            if self.imap_password
            else ""
        )
        return snapshot

    @property
    def polls_imap(self) -> bool:
        return bool(self.imap_host and self.imap_username)


class InboundMessageQuerySet(models.QuerySet["InboundMessage"]):
    def restrict(self, user: Any, action: str = "view") -> InboundMessageQuerySet:
        """Received mail is the desk's business: administrators see all of it, agents the
        messages held or quarantined (to sort them) and those of tickets they may see;
        customers none (they see their tickets' conversation)."""
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_admin:
            return self
        if user.is_agent:
            from tierdesk.tickets.models import Ticket

            visible = Ticket.objects.restrict(user).values("pk")
            return self.filter(Q(ticket__in=visible) | Q(ticket__isnull=True, state=InboundState.HELD))
        return self.none()


class InboundMessage(models.Model):
    """One message received by any transport, and what became of it.

    ``key`` is the message's natural key (its Message-ID, or ``sha256:<digest of the bytes>``
    when it has none): it is unique, so the same message delivered twice, or fetched again
    after a crash between the commit and the IMAP flag, is imported once. The raw source is
    kept (content-addressed) for every message: it is the ``.eml`` attached to the ticket, the
    quarantine's evidence, and what a retry parses again.
    """

    key = models.CharField(_("key"), max_length=255, unique=True)
    message_id = models.CharField(_("Message-ID"), max_length=255, blank=True, db_index=True)
    transport = models.CharField(_("received by"), max_length=8, choices=Transport.choices)
    mailbox = models.ForeignKey(
        Mailbox,
        verbose_name=_("mailbox"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
    )
    sender = models.CharField(_("sender"), max_length=254, blank=True)
    sender_name = models.CharField(_("sender name"), max_length=200, blank=True)
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    state = models.CharField(_("state"), max_length=16, choices=InboundState.choices)
    reason = models.CharField(
        _("reason"), max_length=255, blank=True, help_text=_("Why the message was ignored or held.")
    )
    error = models.TextField(_("error"), blank=True)
    ticket = models.ForeignKey(
        "tickets.Ticket",
        verbose_name=_("ticket"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="inbound_messages",
    )
    entry = models.ForeignKey(
        "tickets.TicketEntry",
        verbose_name=_("entry"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    raw = models.FileField(_("source"), upload_to=raw_message_path, max_length=200)
    raw_size = models.PositiveIntegerField(_("size"))
    raw_sha256 = models.CharField(_("SHA-256"), max_length=64)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("handled by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    handled_at = models.DateTimeField(_("handled"), null=True, blank=True)

    objects = InboundMessageQuerySet.as_manager()

    # Not a column: set by ``import_message`` on the record it returns for a message it had
    # already imported (the API answers 200 instead of 201).
    duplicate: bool = False

    class Meta:
        verbose_name = _("received message")
        verbose_name_plural = _("received messages")
        ordering = ["-received_at", "-id"]
        indexes = [
            # the per-sender rate limit counts a sender's recent messages
            models.Index(fields=["sender", "received_at"], name="inbound_sender_idx"),
            # the lists an agent works: held and quarantined messages
            models.Index(
                fields=["state", "received_at"],
                name="inbound_open_idx",
                condition=Q(state__in=[InboundState.HELD, InboundState.QUARANTINED]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sender or '?'}: {self.subject or self.key}"[:200]


class OutboundMessage(models.Model):
    """One e-mail Tierdesk sends: a row of the outbox, written in the transaction of the change
    that causes it, delivered by the worker after the commit and retried with backoff.

    ``message_id`` is generated when the row is written and recorded, so a customer's reply
    to it threads back to ``ticket`` by its In-Reply-To/References. Subject and body are
    rendered by the worker from the notification template in the recipient's language and kept
    as sent.
    """

    ticket = models.ForeignKey(
        "tickets.Ticket",
        verbose_name=_("ticket"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="outbound_messages",
    )
    entry = models.ForeignKey(
        "tickets.TicketEntry",
        verbose_name=_("entry"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    kind = models.CharField(_("kind"), max_length=32, choices=NotificationKind.choices)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recipient"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    to_address = models.CharField(_("to"), max_length=254)
    language = models.CharField(_("language"), max_length=8, choices=Language.choices)
    context = models.JSONField(_("details"), default=dict, blank=True)
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    body = models.TextField(_("text"), blank=True)
    message_id = models.CharField(_("Message-ID"), max_length=255, unique=True)
    in_reply_to = models.CharField(_("In-Reply-To"), max_length=255, blank=True)
    references = models.TextField(_("References"), blank=True)
    state = models.CharField(
        _("state"), max_length=16, choices=OutboundState.choices, default=OutboundState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("outgoing message")
        verbose_name_plural = _("outgoing messages")
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="outbound_due_idx",
                condition=Q(state__in=[OutboundState.PENDING, OutboundState.RETRYING]),
            ),
            models.Index(fields=["ticket", "created_at"], name="outbound_ticket_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.to_address}"


class NotificationTemplate(models.Model):
    """An administrator's version of a notification in one language (Django template syntax
    with the ticket, the recipient and the reply as variables). Without a row, the template
    shipped in ``mail/templates/mail/notifications/`` is used; an inactive row switches that
    notification off for that language."""

    kind = models.CharField(_("notification"), max_length=32, choices=NotificationKind.choices)
    language = models.CharField(_("language"), max_length=8, choices=Language.choices)
    subject = models.CharField(_("subject"), max_length=255)
    body = models.TextField(_("text"))
    is_active = models.BooleanField(_("send"), default=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("notification template")
        verbose_name_plural = _("notification templates")
        ordering = ["kind", "language"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "language"], name="notification_template_unique")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.language})"


class FailingAddress(models.Model):
    """An address mail to which has bounced. Agents see the mark on the contact; the outbox
    does not keep mailing it until it is cleared or a message from it arrives again."""

    address = models.CharField(_("address"), max_length=254, unique=True)
    reason = models.TextField(_("reason"), blank=True)
    failures = models.PositiveIntegerField(_("failures"), default=1)
    first_failed_at = models.DateTimeField(_("first failure"), default=timezone.now)
    last_failed_at = models.DateTimeField(_("last failure"), default=timezone.now)
    last_report = models.ForeignKey(
        InboundMessage,
        verbose_name=_("last report"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("failing address")
        verbose_name_plural = _("failing addresses")
        ordering = ["-last_failed_at"]

    def __str__(self) -> str:
        return self.address
