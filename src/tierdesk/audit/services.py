"""Recording audit events. Every service that changes data calls ``record_event``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction

from tierdesk.audit.choices import EventType
from tierdesk.audit.models import AuditEvent
from tierdesk.common.context import request_id

if TYPE_CHECKING:
    from tierdesk.accounts.models import User
    from tierdesk.orgs.models import Organisation

_encoder = DjangoJSONEncoder()


def _jsonable(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, models.Model):
            out[key] = value.pk
        elif value is None or isinstance(value, str | int | float | bool | list | dict):
            out[key] = value
        else:
            out[key] = _encoder.default(value)
    return out


def diff(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys whose values differ, as (old, new)."""
    changed = [key for key in new if old.get(key) != new[key]]
    return {k: old.get(k) for k in changed}, {k: new[k] for k in changed}


def record_event(
    target: models.Model,
    *,
    event_type: EventType,
    actor: User | None,
    organisation: Organisation | int | None,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    message: str = "",
    system_label: str = "",
) -> AuditEvent:
    """Write one audit event for a change to ``target``.

    Must run inside the transaction that makes the change (services are ``@transaction.atomic``);
    called outside one it raises, because an event committed apart from its change could
    describe something that never happened.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("record_event() must run inside the transaction that makes the change.")
    org_id = organisation.pk if isinstance(organisation, models.Model) else organisation
    return AuditEvent.objects.create(
        actor=actor,
        actor_label=(actor.get_username() if actor is not None else system_label or "system")[:150],
        organisation_id=org_id,
        event_type=str(event_type),
        target_type=ContentType.objects.get_for_model(target),
        target_id=target.pk,
        target_repr=str(target)[:200],
        old=_jsonable(old),
        new=_jsonable(new),
        message=message,
        request_id=request_id.get(),
    )
