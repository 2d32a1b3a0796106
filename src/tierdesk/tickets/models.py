"""Support lines, teams, categories, the priority matrix, tickets and their conversation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tierdesk.sla.choices import SlaState
from tierdesk.tickets.choices import (
    OPEN_STATUSES,
    Channel,
    EntryKind,
    EscalationDirection,
    Impact,
    Priority,
    Status,
    TicketType,
    Urgency,
)

if TYPE_CHECKING:
    from tierdesk.accounts.models import User
    from tierdesk.sla.models import SlaPolicy  # noqa: F401  (lets the type checker resolve "sla.SlaPolicy")


class SupportLine(models.Model):
    """A support line: L0 dispatch, L1 first contact, L2 the bulk, L3 experts, L4 vendor.

    Lines are data, so a provider may use fewer of them. Each line says whether its people may
    talk to customers directly (L3 and L4 do not, by default: they work through L1/L2) and, for
    L1, the time budget an agent has before a ticket should go up to L2.
    """

    code = models.CharField(_("code"), max_length=8, unique=True)
    level = models.PositiveSmallIntegerField(
        _("level"), unique=True, validators=[MaxValueValidator(9)], help_text=_("0 for L0, 1 for L1, ...")
    )
    name = models.CharField(_("name"), max_length=100)
    may_contact_customer = models.BooleanField(
        _("may talk to customers"),
        default=True,
        help_text=_("If unset, agents on this line can only write internal notes."),
    )
    time_budget_minutes = models.PositiveIntegerField(
        _("time budget (minutes)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("How long this line may work a ticket before it should be escalated."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("support line")
        verbose_name_plural = _("support lines")
        ordering = ["level"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def audit_snapshot(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "level": self.level,
            "name": self.name,
            "may_contact_customer": self.may_contact_customer,
            "time_budget_minutes": self.time_budget_minutes,
            "is_active": self.is_active,
        }


class Team(models.Model):
    """A group of agents on one support line serving a set of client organisations.

    An agent may be in several teams (an L1 dispatcher who is also in an L2 network team);
    what he sees is the union of his teams' lines and organisations.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    line = models.ForeignKey(
        SupportLine, verbose_name=_("line"), on_delete=models.PROTECT, related_name="teams"
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("members"), related_name="teams", blank=True
    )
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("team lead"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="led_teams",
    )
    organisations = models.ManyToManyField(
        "orgs.Organisation", verbose_name=_("organisations served"), related_name="teams", blank=True
    )
    serves_all_organisations = models.BooleanField(
        _("serves all organisations"),
        default=False,
        help_text=_("For in-house IT or a team that takes every client's tickets."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["line__level", "name"]

    def __str__(self) -> str:
        return self.name

    def audit_snapshot(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "line": self.line_id,
            "lead": self.lead_id,
            "serves_all_organisations": self.serves_all_organisations,
            "is_active": self.is_active,
        }


class Category(models.Model):
    """What a ticket is about ("Hardware / Printer", "Access / VPN"), a two-level tree at most."""

    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["parent__name", "name"]
        constraints = [models.UniqueConstraint(fields=["parent", "name"], name="category_unique_name")]

    def __str__(self) -> str:
        return f"{self.parent.name} / {self.name}" if self.parent_id and self.parent else self.name

    def audit_snapshot(self) -> dict[str, Any]:
        return {"name": self.name, "parent": self.parent_id, "is_active": self.is_active}


class PriorityMatrixEntry(models.Model):
    """One cell of the impact x urgency -> priority matrix that admins edit."""

    impact = models.PositiveSmallIntegerField(_("impact"), choices=Impact.choices)
    urgency = models.PositiveSmallIntegerField(_("urgency"), choices=Urgency.choices)
    priority = models.PositiveSmallIntegerField(_("priority"), choices=Priority.choices)

    class Meta:
        verbose_name = _("priority matrix cell")
        verbose_name_plural = _("priority matrix")
        ordering = ["impact", "urgency"]
        constraints = [models.UniqueConstraint(fields=["impact", "urgency"], name="matrix_unique_cell")]

    def __str__(self) -> str:
        return f"{self.get_impact_display()} x {self.get_urgency_display()} = {self.get_priority_display()}"


class DeskSettings(models.Model):
    """Desk-wide workflow settings admins edit at run time (a single row, pk=1)."""

    reopen_window_days = models.PositiveIntegerField(
        _("reopen window (days)"),
        default=7,
        help_text=_("A customer's reply to a resolved ticket within this many days reopens it."),
    )

    class Meta:
        verbose_name = _("desk settings")
        verbose_name_plural = _("desk settings")

    def __str__(self) -> str:
        return str(_("Desk settings"))

    @classmethod
    def load(cls) -> DeskSettings:
        obj, _created = cls.objects.get_or_create(pk=1)
        return obj


class TicketQuerySet(models.QuerySet["Ticket"]):
    def restrict(self, user: User | None, action: str = "view", *, line: int | None = None) -> Self:
        """Tickets ``user`` may act on (only those on ``line``, if given).

        * administrators: all;
        * agents: for each of their teams, the tickets on that team's line of the organisations
          that team serves; plus any ticket assigned to them;
        * customer managers: every ticket of their organisation (to view and to reply);
        * other customers: the tickets they requested.
        ``action`` is "view" or "change"; customers can "view" (and reply) but never "change"
        fields, which the services check separately.

        Passing ``line`` (a queue of one line) is the same as filtering by it afterwards, but
        gives the database one plain condition per line instead of an OR over all the agent's
        lines, which PostgreSQL misestimates into scanning a whole line's open tickets.
        """
        qs = self if line is None else self.filter(current_line_id=line)
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_admin:
            return qs
        if user.is_agent:
            from tierdesk.tickets.selectors import agent_scope

            coverage = agent_scope(user).coverage()
            if line is not None:
                if line not in coverage:
                    return qs.filter(assignee=user)
                organisations = coverage[line]
                if organisations is None:
                    return qs
                return qs.filter(Q(organisation_id__in=sorted(organisations)) | Q(assignee=user))
            # Per team, not a cross product: a team serves its organisations on its own line.
            served = Q(assignee=user)
            for line_id, organisation_ids in coverage.items():
                if organisation_ids is None:
                    served |= Q(current_line_id=line_id)
                elif organisation_ids:
                    served |= Q(current_line_id=line_id, organisation_id__in=sorted(organisation_ids))
            return qs.filter(served)
        if user.organisation_id is None:
            return self.none()
        if user.is_org_manager:
            return qs.filter(organisation_id=user.organisation_id)
        return qs.filter(requester=user, organisation_id=user.organisation_id)


class Ticket(models.Model):
    """A request for help: an incident, a service request or a question.

    It belongs to one client organisation and one requester, sits on one support line (and
    possibly a team and an assignee there), and moves through statuses only along
    ``choices.TRANSITIONS``. Priority is derived from impact x urgency via the matrix.
    ``number`` is the readable id customers quote on the phone (``TD-000123``).
    ``version`` grows with every change, so a stale edit can be detected instead of silently
    overwriting someone else's work.
    """

    type = models.CharField(_("type"), max_length=16, choices=TicketType.choices, default=TicketType.INCIDENT)
    # No single-column index on organisation, requester and current line: the composite
    # indexes below start with each of them and serve the same lookups (and the checks of
    # PROTECT). Each index costs every ticket INSERT and every UPDATE that changes its column.
    organisation = models.ForeignKey(
        "orgs.Organisation",
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        related_name="tickets",
        db_index=False,
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requester"),
        on_delete=models.PROTECT,
        related_name="requested_tickets",
        db_index=False,
    )
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices, default=Channel.PORTAL)
    category = models.ForeignKey(
        Category,
        verbose_name=_("category"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tickets",
    )
    subject = models.CharField(_("subject"), max_length=250)
    description = models.TextField(_("description"), blank=True)
    impact = models.PositiveSmallIntegerField(_("impact"), choices=Impact.choices, default=Impact.MEDIUM)
    urgency = models.PositiveSmallIntegerField(_("urgency"), choices=Urgency.choices, default=Urgency.MEDIUM)
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=Priority.choices, default=Priority.MEDIUM
    )
    status = models.CharField(_("status"), max_length=24, choices=Status.choices, default=Status.NEW)
    current_line = models.ForeignKey(
        SupportLine, verbose_name=_("line"), on_delete=models.PROTECT, related_name="tickets", db_index=False
    )
    team = models.ForeignKey(
        Team, verbose_name=_("team"), on_delete=models.SET_NULL, null=True, blank=True, related_name="tickets"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tickets",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    first_response_at = models.DateTimeField(_("first response at"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    escalation_count = models.PositiveIntegerField(_("escalations"), default=0)
    reopen_count = models.PositiveIntegerField(_("reopenings"), default=0)
    first_contact_resolution = models.BooleanField(
        _("first-contact resolution"),
        null=True,
        blank=True,
        help_text=_("Resolved at L1 with no escalation and no reopening; empty while not resolved."),
    )
    version = models.PositiveIntegerField(_("version"), default=1)
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="merged_tickets",
        help_text=_("Set when this ticket was a duplicate and its work continues in another one."),
    )
    # The requester's verdict on the resolution (1 = very poor .. 5 = excellent): the CSAT KPI.
    rating = models.PositiveSmallIntegerField(
        _("rating"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    rating_comment = models.TextField(_("rating comment"), blank=True)
    rated_at = models.DateTimeField(_("rated at"), null=True, blank=True)

    # --- The SLA clock (kept by tierdesk.sla.clock; see its docstring) ---------------------
    # On the ticket rather than beside it: creation writes them in its one INSERT, and queues
    # sort and filter by the deadlines through indexes of this table.
    sla_policy = models.ForeignKey(
        "sla.SlaPolicy",
        verbose_name=_("service level"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tickets",
    )
    response_due_at = models.DateTimeField(_("first response due"), null=True, blank=True)
    resolution_due_at = models.DateTimeField(_("resolution due"), null=True, blank=True)
    next_response_due_at = models.DateTimeField(_("next response due"), null=True, blank=True)
    response_sla = models.CharField(
        _("first response SLA"), max_length=10, choices=SlaState.choices, blank=True, default=""
    )
    resolution_sla = models.CharField(
        _("resolution SLA"), max_length=10, choices=SlaState.choices, blank=True, default=""
    )
    next_response_started_at = models.DateTimeField(_("customer waiting since"), null=True, blank=True)
    next_response_cycle = models.PositiveIntegerField(_("customer replies answered"), default=0)
    next_response_pause_base = models.PositiveIntegerField(default=0, editable=False)
    sla_paused_since = models.DateTimeField(_("SLA clock paused since"), null=True, blank=True)
    sla_paused_seconds = models.PositiveIntegerField(_("SLA clock paused (business seconds)"), default=0)
    line_entered_at = models.DateTimeField(_("on this line since"), null=True, blank=True)
    sla_next_check_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = TicketQuerySet.as_manager()

    class Meta:
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        indexes = [
            # Queues are about open work. Partial indexes over open tickets only, in queue order
            # (most urgent, then oldest), let PostgreSQL read the first page straight off the
            # index instead of fetching every matching row from a million-row table and sorting.
            models.Index(
                fields=["current_line", "priority", "created_at", "id"],
                condition=Q(status__in=sorted(OPEN_STATUSES)),
                name="ticket_open_line_idx",
            ),
            models.Index(
                fields=["team", "priority", "created_at", "id"],
                condition=Q(status__in=sorted(OPEN_STATUSES)),
                name="ticket_open_team_idx",
            ),
            models.Index(
                fields=["assignee", "priority", "created_at", "id"],
                condition=Q(status__in=sorted(OPEN_STATUSES)),
                name="ticket_open_assignee_idx",
            ),
            # Any status (closed work, reports): a line's or organisation's tickets by status.
            models.Index(
                fields=["current_line", "status", "priority", "created_at", "id"], name="ticket_queue_idx"
            ),
            models.Index(fields=["organisation", "status", "priority", "created_at"], name="ticket_org_idx"),
            models.Index(fields=["requester", "created_at"], name="ticket_requester_idx"),
            models.Index(fields=["status", "priority", "created_at", "id"], name="ticket_status_idx"),
            # Every ticket in queue order (no status filter): "all I may see", the text filter.
            models.Index(fields=["priority", "created_at", "id"], name="ticket_priority_idx"),
            models.Index(fields=["created_at", "id"], name="ticket_created_idx"),
            models.Index(fields=["updated_at", "id"], name="ticket_updated_idx"),  # "recently changed"
            # The SLA sweep reads the tickets due for a look, oldest first: its cost follows the
            # number due, not the number open (closed tickets have no next check).
            models.Index(
                fields=["sla_next_check_at", "id"],
                condition=Q(sla_next_check_at__isnull=False),
                name="ticket_sla_check_idx",
            ),
            # "Due first" queues: open tickets by their resolution deadline.
            models.Index(
                fields=["resolution_due_at", "id"],
                condition=Q(status__in=sorted(OPEN_STATUSES)),
                name="ticket_open_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.subject}"

    @property
    def number(self) -> str:
        return format_ticket_number(self.pk)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


def format_ticket_number(pk: int | None) -> str:
    return f"{settings.TIERDESK_TICKET_PREFIX}-{pk or 0:06d}"


def parse_ticket_number(ref: str) -> int | None:
    """``"TD-000123"``, ``"td-123"`` or ``"123"`` -> 123; anything else -> None."""
    ref = ref.strip()
    prefix = f"{settings.TIERDESK_TICKET_PREFIX}-"
    if ref.upper().startswith(prefix.upper()):
        ref = ref[len(prefix) :]
    # isdigit() alone accepts "³" and other Unicode digits that int() refuses.
    return int(ref) if ref.isascii() and ref.isdigit() and len(ref) <= 18 else None


class TicketEntry(models.Model):
    """One entry of a ticket's conversation, in order: a public reply the customer sees, an
    internal note only staff see, or a system event (status change, escalation) for context."""

    ticket = models.ForeignKey(
        Ticket, verbose_name=_("ticket"), on_delete=models.CASCADE, related_name="entries"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=EntryKind.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    body = models.TextField(_("text"), blank=True)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices, blank=True)
    # For system events: what happened and its particulars, rendered in the reader's language.
    event = models.CharField(_("event"), max_length=64, blank=True)
    data = models.JSONField(_("details"), null=True, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("conversation entry")
        verbose_name_plural = _("conversation entries")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at", "id"], name="entry_ticket_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


def attachment_path(instance: Attachment, filename: str) -> str:
    """Files are stored under their content hash: identical uploads share one file."""
    return f"attachments/{instance.sha256[:2]}/{instance.sha256[2:4]}/{instance.sha256}"


class Attachment(models.Model):
    """A file on a ticket, optionally tied to the conversation entry it came with.

    The bytes live in Django's storage under their SHA-256 (deduplicated); the record keeps
    the sanitised original name for downloads. Served only to those who may see the ticket,
    and customers only get files of public entries (or files attached to no entry).
    """

    ticket = models.ForeignKey(
        Ticket, verbose_name=_("ticket"), on_delete=models.CASCADE, related_name="attachments"
    )
    entry = models.ForeignKey(
        TicketEntry,
        verbose_name=_("entry"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="attachments",
    )
    file = models.FileField(_("file"), upload_to=attachment_path, max_length=200)
    filename = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("content type"), max_length=100)
    size = models.PositiveBigIntegerField(_("size"))
    sha256 = models.CharField(_("SHA-256"), max_length=64, db_index=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    is_internal = models.BooleanField(
        _("internal"), default=False, help_text=_("Visible to staff only (attached to an internal note).")
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.filename


class TicketLink(models.Model):
    """Two tickets that are about related things (one outage reported by several people, a
    request that follows an incident). Symmetric: stored once, ``source`` with the lower id."""

    source = models.ForeignKey(Ticket, verbose_name=_("ticket"), on_delete=models.CASCADE, related_name="+")
    target = models.ForeignKey(
        Ticket, verbose_name=_("related ticket"), on_delete=models.CASCADE, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("ticket link")
        verbose_name_plural = _("ticket links")
        constraints = [
            models.UniqueConstraint(fields=["source", "target"], name="ticket_link_unique"),
            models.CheckConstraint(condition=Q(source__lt=F("target")), name="ticket_link_ordered"),
        ]
        indexes = [models.Index(fields=["target"], name="ticket_link_target_idx")]

    def __str__(self) -> str:
        return f"{self.source_id} <-> {self.target_id}"


class Escalation(models.Model):
    """A move of a ticket between support lines: up (escalation) or down (returned).

    Kept as its own record, with the reason, because escalations drive KPIs (first-contact
    resolution, per-line workload) and retrospectives.
    """

    ticket = models.ForeignKey(
        Ticket, verbose_name=_("ticket"), on_delete=models.CASCADE, related_name="escalations"
    )
    direction = models.CharField(_("direction"), max_length=8, choices=EscalationDirection.choices)
    from_line = models.ForeignKey(
        SupportLine, verbose_name=_("from line"), on_delete=models.PROTECT, related_name="+"
    )
    to_line = models.ForeignKey(
        SupportLine, verbose_name=_("to line"), on_delete=models.PROTECT, related_name="+"
    )
    from_team = models.ForeignKey(
        Team, verbose_name=_("from team"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    to_team = models.ForeignKey(
        Team, verbose_name=_("to team"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(_("reason"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("escalation")
        verbose_name_plural = _("escalations")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.ticket_id}: {self.from_line_id} -> {self.to_line_id}"
