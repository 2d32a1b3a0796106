"""The audit trail."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.Model):
    """One change to something in Tierdesk: who did what to which object, from what to what.

    Written by the service that makes the change, inside the same database transaction, so a
    change without its event (or an event without its change) cannot exist. ``actor`` is the
    person (or the integration's token user) who acted; it is empty for the system itself (SLA
    timers, importers), in which case ``actor_label`` says which part of the system acted.
    ``organisation`` is the tenant the change belongs to, so a client's manager can later be
    shown his own organisation's trail. ``old`` and ``new`` hold only the fields that changed.
    ``request_id`` ties together all events of one HTTP request or background task.

    Example: an L1 agent escalates TD-000042 to L2 -> ``event_type="ticket.escalated"``,
    ``target`` = the ticket, ``old={"line": "L1", "team": 3}``, ``new={"line": "L2", "team": 7}``,
    ``message`` = the reason he gave.
    """

    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_label = models.CharField(_("actor name"), max_length=150, blank=True)
    organisation = models.ForeignKey(
        "orgs.Organisation",
        verbose_name=_("organisation"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    event_type = models.CharField(_("event"), max_length=64)
    target_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    target_id = models.BigIntegerField()
    target_repr = models.CharField(_("object"), max_length=200)
    old = models.JSONField(_("old values"), null=True, blank=True)
    new = models.JSONField(_("new values"), null=True, blank=True)
    message = models.TextField(_("message"), blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [
            models.Index(fields=["target_type", "target_id", "id"], name="audit_target_idx"),
            models.Index(fields=["organisation", "created_at"], name="audit_org_time_idx"),
            models.Index(fields=["event_type", "created_at"], name="audit_type_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.event_type} {self.target_repr}"
