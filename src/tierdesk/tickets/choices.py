"""Ticket vocabularies and the status transition table."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class TicketType(models.TextChoices):
    """ITIL record types handled by the desk (problems and changes get their own apps)."""

    INCIDENT = "incident", _("Incident")
    SERVICE_REQUEST = "request", _("Service request")
    QUESTION = "question", _("Question")


class Channel(models.TextChoices):
    """How the request reached the desk. All channels land in the same queues."""

    PORTAL = "portal", _("Portal")
    EMAIL = "email", _("E-mail")
    PHONE = "phone", _("Phone")
    WEB_FORM = "web_form", _("Web form")
    CHAT = "chat", _("Chat")
    MESSENGER = "messenger", _("Messenger")
    API = "api", _("API")
    MONITORING = "monitoring", _("Monitoring")
    INVENTORY = "inventory", _("Inventory")


# Impact, urgency and priority share the English words, not the Russian ones: the adjective
# agrees with «влияние» (neuter), «срочность» (feminine) and «приоритет» (masculine).
class Impact(models.IntegerChoices):
    """How much of the business is affected."""

    HIGH = 1, pgettext_lazy("impact", "High")
    MEDIUM = 2, pgettext_lazy("impact", "Medium")
    LOW = 3, pgettext_lazy("impact", "Low")


class Urgency(models.IntegerChoices):
    """How soon the business needs it fixed."""

    HIGH = 1, pgettext_lazy("urgency", "High")
    MEDIUM = 2, pgettext_lazy("urgency", "Medium")
    LOW = 3, pgettext_lazy("urgency", "Low")


class Priority(models.IntegerChoices):
    """Derived from impact x urgency through the editable priority matrix; 1 is most urgent."""

    CRITICAL = 1, _("Critical")
    HIGH = 2, _("High")
    MEDIUM = 3, _("Medium")
    LOW = 4, _("Low")
    PLANNING = 5, _("Planning")


# The ITIL default matrix, seeded by a migration; admins edit the rows afterwards.
DEFAULT_PRIORITY_MATRIX: dict[tuple[int, int], int] = {
    (Impact.HIGH, Urgency.HIGH): Priority.CRITICAL,
    (Impact.HIGH, Urgency.MEDIUM): Priority.HIGH,
    (Impact.HIGH, Urgency.LOW): Priority.MEDIUM,
    (Impact.MEDIUM, Urgency.HIGH): Priority.HIGH,
    (Impact.MEDIUM, Urgency.MEDIUM): Priority.MEDIUM,
    (Impact.MEDIUM, Urgency.LOW): Priority.LOW,
    (Impact.LOW, Urgency.HIGH): Priority.MEDIUM,
    (Impact.LOW, Urgency.MEDIUM): Priority.LOW,
    (Impact.LOW, Urgency.LOW): Priority.PLANNING,
}


class Status(models.TextChoices):
    NEW = "new", _("New")
    ASSIGNED = "assigned", _("Assigned")
    IN_PROGRESS = "in_progress", _("In progress")
    WAITING_CUSTOMER = "waiting_customer", _("Waiting for customer")
    WAITING_THIRD_PARTY = "waiting_third_party", _("Waiting for third party")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")
    CANCELLED = "cancelled", _("Cancelled")


# Open statuses: the ticket still needs work from someone.
OPEN_STATUSES = frozenset(
    {Status.NEW, Status.ASSIGNED, Status.IN_PROGRESS, Status.WAITING_CUSTOMER, Status.WAITING_THIRD_PARTY}
)

# The one table of allowed status changes; services refuse anything not listed.
# "new" always means "in a line's queue with nobody on it": a ticket returns there when it is
# unassigned, escalated to a line where nobody has taken it yet, or answered/reopened while
# nobody holds it. Resolved -> in progress (or new) is a reopening. Invariants the services
# keep: new <=> no assignee for new/assigned/in progress; assigned and in progress need one.
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.NEW: frozenset(
        {
            Status.ASSIGNED,
            Status.IN_PROGRESS,
            Status.WAITING_CUSTOMER,
            Status.WAITING_THIRD_PARTY,
            Status.RESOLVED,
            Status.CANCELLED,
        }
    ),
    Status.ASSIGNED: frozenset(
        {
            Status.NEW,
            Status.IN_PROGRESS,
            Status.WAITING_CUSTOMER,
            Status.WAITING_THIRD_PARTY,
            Status.RESOLVED,
            Status.CANCELLED,
        }
    ),
    Status.IN_PROGRESS: frozenset(
        {
            Status.NEW,
            Status.ASSIGNED,
            Status.WAITING_CUSTOMER,
            Status.WAITING_THIRD_PARTY,
            Status.RESOLVED,
            Status.CANCELLED,
        }
    ),
    Status.WAITING_CUSTOMER: frozenset({Status.NEW, Status.IN_PROGRESS, Status.RESOLVED, Status.CANCELLED}),
    Status.WAITING_THIRD_PARTY: frozenset(
        {Status.NEW, Status.IN_PROGRESS, Status.RESOLVED, Status.CANCELLED}
    ),
    Status.RESOLVED: frozenset({Status.CLOSED, Status.IN_PROGRESS, Status.NEW}),
    Status.CLOSED: frozenset(),
    Status.CANCELLED: frozenset(),
}

# What a customer may do to his own ticket: withdraw it, accept a resolution, or reject it.
CUSTOMER_TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {(s, Status.CANCELLED) for s in OPEN_STATUSES}
    | {(Status.RESOLVED, Status.CLOSED), (Status.RESOLVED, Status.IN_PROGRESS), (Status.RESOLVED, Status.NEW)}
)
# Statuses in which the ticket is assigned to someone.
STAFFED_STATUSES = frozenset({Status.ASSIGNED, Status.IN_PROGRESS})


class EntryKind(models.TextChoices):
    """What a conversation entry is; customers only ever see public replies."""

    PUBLIC = "public", _("Public reply")
    INTERNAL = "internal", _("Internal note")
    EVENT = "event", _("System event")


class EscalationDirection(models.TextChoices):
    UP = "up", _("Escalation")
    DOWN = "down", _("Return to a lower line")
