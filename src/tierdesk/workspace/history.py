"""A ticket's audit history as people read it: "Status: New → Assigned", not raw old/new dicts.

The ticket services record only the fields that changed, under the field's name (``status``,
``assignee``...) or a short alias (``line``, ``related``). Here every key gets the ticket
field's verbose name and every value its choice label or the name of the row it points at,
all translated when shown. Rows are looked up once per kind (people, teams, lines, categories)
for the whole history, never per event, so a long history costs at most four extra queries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Q
from django.template.defaultfilters import filesizeformat
from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import Truncator, capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tierdesk.accounts.models import User
from tierdesk.audit.choices import EventType
from tierdesk.audit.models import AuditEvent
from tierdesk.tickets.models import Attachment, Category, SupportLine, Team, Ticket, format_ticket_number

EVENT_LABELS: dict[str, Any] = dict(EventType.choices)  # lazy labels: translated when shown

# Keys the services write under another name than the model field's.
_FIELD_ALIASES = {"line": "current_line"}
# Keys that are no model field at all.
_EXTRA_LABELS: dict[str, Any] = {
    "related": gettext_lazy("related ticket"),
    "merged": gettext_lazy("merged ticket"),
    "attachment": gettext_lazy("attachment"),
    "length": gettext_lazy("length"),
}
# Which keys hold a reference to a row, and of what kind; only these are looked up.
_REFERENCES = {
    "assignee": "user",
    "requester": "user",
    "created_by": "user",
    "team": "team",
    "line": "line",
    "category": "category",
}
_TICKET_REFERENCES = frozenset({"related", "merged", "merged_into"})
_MAX_TEXT = 200  # a changed subject or comment is shown, a whole description is not


def event_label(event_type: str) -> str:
    """The translated name of an audit event type (the raw value if it is not registered)."""
    return str(EVENT_LABELS.get(event_type, event_type))


@dataclass(frozen=True)
class FieldChange:
    """One field of one event; ``old`` is None when the event records no earlier value
    (a creation), and "—" stands for an empty value on either side."""

    label: str
    old: str | None
    new: str

    @property
    def line(self) -> str:
        if self.old is None:
            return _("%(field)s: %(new)s") % {"field": self.label, "new": self.new}
        return _("%(field)s: %(old)s → %(new)s") % {"field": self.label, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class HistoryItem:
    """An audit event with its translated label and its readable field changes."""

    event: AuditEvent
    label: str
    changes: list[FieldChange]


def _model_field(key: str) -> models.Field[Any, Any] | None:
    name = _FIELD_ALIASES.get(key, key)
    for model in (Ticket, Attachment):
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        if isinstance(field, models.Field):  # not a reverse relation
            return field
    return None


def field_label(key: str) -> str:
    """``"status"`` -> "Status", in the active language (the model field's verbose name)."""
    field = _model_field(key)
    if field is not None:
        return capfirst(str(field.verbose_name))
    return capfirst(str(_EXTRA_LABELS.get(key, key.replace("_", " "))))


class _Names:
    """The names of every row the events refer to: one query per kind that occurs."""

    def __init__(self, events: list[AuditEvent]) -> None:
        wanted: dict[str, set[Any]] = {"user": set(), "team": set(), "line": set(), "category": set()}
        for event in events:
            for values in (event.old, event.new):
                for key, value in (values or {}).items():
                    kind = _REFERENCES.get(key)
                    if kind and isinstance(value, int | str) and not isinstance(value, bool):
                        wanted[kind].add(value)
        self.names: dict[str, dict[Any, str]] = {kind: {} for kind in wanted}
        ids = {kind: {v for v in values if isinstance(v, int)} for kind, values in wanted.items()}
        if ids["user"]:
            for person in User.objects.filter(pk__in=ids["user"]).only(
                "id", "username", "first_name", "last_name"
            ):
                self.names["user"][person.pk] = person.get_full_name() or person.username
        if ids["team"]:
            self.names["team"] = dict(Team.objects.filter(pk__in=ids["team"]).values_list("id", "name"))
        if ids["category"]:
            for category in Category.objects.filter(pk__in=ids["category"]).select_related("parent"):
                self.names["category"][category.pk] = str(category)
        if wanted["line"]:
            # Escalations record the line's code, older events may hold its id: both are found.
            codes = {v for v in wanted["line"] if isinstance(v, str)}
            for line in SupportLine.objects.filter(Q(pk__in=ids["line"]) | Q(code__in=codes)):
                self.names["line"][line.pk] = self.names["line"][line.code] = str(line)

    def get(self, kind: str, value: Any) -> str:
        return self.names[kind].get(value) or (f"#{value}" if isinstance(value, int) else str(value))


def _format(key: str, value: Any, names: _Names) -> str:
    if value is None or value == "":
        return "—"
    if key in _REFERENCES:
        return names.get(_REFERENCES[key], value)
    if key in _TICKET_REFERENCES and isinstance(value, int):
        return format_ticket_number(value)
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    field = _model_field(key)
    if field is not None and field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(field, models.DateTimeField) and isinstance(value, str):
        moment: datetime | None = parse_datetime(value)
        if moment is not None:
            if timezone.is_aware(moment):
                moment = timezone.localtime(moment)
            return formats.date_format(moment, "SHORT_DATETIME_FORMAT")
    if key == "size" and isinstance(value, int):
        return str(filesizeformat(value))
    return Truncator(str(value)).chars(_MAX_TEXT)


_FIELD_ORDER = {field.name: index for index, field in enumerate(Ticket._meta.get_fields())}


def _field_position(key: str) -> tuple[int, str]:
    return _FIELD_ORDER.get(_FIELD_ALIASES.get(key, key), len(_FIELD_ORDER)), key


def _changes(event: AuditEvent, names: _Names) -> list[FieldChange]:
    old: dict[str, Any] = event.old if isinstance(event.old, dict) else {}
    new: dict[str, Any] = event.new if isinstance(event.new, dict) else {}
    # PostgreSQL's jsonb does not keep the order keys were written in: order them by the
    # ticket's own field order (the order its form shows), unknown keys last, by name.
    keys = sorted({*new, *old}, key=_field_position)
    has_old = isinstance(event.old, dict)
    return [
        FieldChange(
            label=field_label(key),
            old=_format(key, old.get(key), names) if has_old else None,
            new=_format(key, new.get(key), names),
        )
        for key in keys
    ]


def describe_events(events: Iterable[AuditEvent]) -> list[HistoryItem]:
    """The events, in the given order, each with its label and readable field changes."""
    events = list(events)
    names = _Names(events)
    return [
        HistoryItem(event=event, label=event_label(event.event_type), changes=_changes(event, names))
        for event in events
    ]
