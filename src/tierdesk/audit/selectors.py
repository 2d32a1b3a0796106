"""Reading the audit trail."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import QuerySet

from tierdesk.audit.models import AuditEvent


def events_for(target: models.Model) -> QuerySet[AuditEvent]:
    """The full history of one object, oldest first."""
    return (
        AuditEvent.objects.filter(target_type=ContentType.objects.get_for_model(target), target_id=target.pk)
        .select_related("actor")
        .order_by("id")
    )
