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


# --- Configuration rows (lines, teams, calendars, service levels, ...) ---------------------------


def config_snapshot(obj: models.Model) -> dict[str, Any]:
    """What the audit trail keeps of a configuration row: its ``audit_snapshot()`` if it has
    one, else its columns."""
    snapshot = getattr(obj, "audit_snapshot", None)
    if snapshot is not None:
        return dict(snapshot())
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields if not f.primary_key}


def stored_snapshot(obj: models.Model, *, lock: bool = False) -> dict[str, Any]:
    """The row of ``obj`` as the database holds it now (empty for a new object)."""
    if obj.pk is None:
        return {}
    rows = type(obj)._default_manager.filter(pk=obj.pk)
    stored = (rows.select_for_update() if lock else rows).first()
    return config_snapshot(stored) if stored is not None else {}


def record_config_change(
    obj: models.Model,
    *,
    before: dict[str, Any],
    actor: User | None,
    created: EventType,
    updated: EventType,
    organisation: Organisation | int | None = None,
) -> None:
    """Audit a configuration row just saved: ``created`` with all its values when ``before`` is
    empty, else ``updated`` with only what changed (no event when nothing did)."""
    old, new = diff(before, config_snapshot(obj))
    if before and not new:
        return
    record_event(
        obj,
        event_type=updated if before else created,
        actor=actor,
        organisation=organisation,
        old=old or None,
        new=new,
    )


def take_over_default(obj: models.Model, *, actor: User | None, event: EventType) -> None:
    """Make ``obj`` its model's only default: every other row flagged ``is_default`` loses the
    flag, each audited with ``event``. (The database's partial unique index is the last guard.)"""
    others = type(obj)._default_manager.select_for_update().filter(is_default=True).exclude(pk=obj.pk)
    for previous in others:
        previous.is_default = False  # type: ignore[attr-defined]
        previous.save(update_fields=["is_default"])
        record_event(
            previous,
            event_type=event,
            actor=actor,
            organisation=None,
            old={"is_default": True},
            new={"is_default": False},
        )
