"""States and kinds of the e-mail channel. Values are stable strings stored in the database."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Transport(models.TextChoices):
    """How a message reached Tierdesk."""

    IMAP = "imap", _("IMAP mailbox")
    LMTP = "lmtp", _("LMTP listener")
    PIPE = "pipe", _("Command (stdin)")
    API = "api", _("API")


class InboundState(models.TextChoices):
    """What became of a received message. Every received message keeps a row: nothing is
    dropped silently, and the row is the idempotency key."""

    TICKET = "ticket", _("Created a ticket")
    REPLY = "reply", _("Added to a ticket")
    HELD = "held", _("Held for an agent")
    AUTO_REPLY = "auto_reply", _("Ignored: automatic reply")
    BOUNCE = "bounce", _("Delivery failure report")
    RATE_LIMITED = "rate_limited", _("Ignored: too many messages from the sender")
    QUARANTINED = "quarantined", _("Quarantined")
    DISCARDED = "discarded", _("Discarded")


class OutboundState(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    SENT = "sent", _("Sent")
    RETRYING = "retrying", _("Failed, will retry")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Not sent")


class NotificationKind(models.TextChoices):
    """The notifications Tierdesk mails. Each has a shipped template in English and Russian
    that administrators may override per language."""

    # To the customer
    RECEIVED = "received", _("Request received")
    AGENT_REPLIED = "agent_replied", _("Agent replied")
    WAITING_FOR_CUSTOMER = "waiting_for_customer", _("Waiting for your answer")
    RESOLVED = "resolved", _("Request resolved")
    CLOSED = "closed", _("Request closed")
    # To staff
    ASSIGNED = "assigned", _("Ticket assigned to you")
    CUSTOMER_REPLIED = "customer_replied", _("Customer replied")
    SLA_WARNING = "sla_warning", _("Deadline at risk")
    SLA_BREACHED = "sla_breached", _("Deadline breached")
