"""Desk configuration: the priority matrix, the intake line, and audited edits of lines,
teams, categories, the matrix and desk settings by administrators."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils.translation import gettext as _

from tierdesk.audit.choices import EventType
from tierdesk.audit.services import record_config_change, record_event, stored_snapshot
from tierdesk.common.errors import DomainError, NotPermitted
from tierdesk.tickets.models import (
    Category,
    DeskSettings,
    PriorityMatrixEntry,
    SupportLine,
    Team,
)
from tierdesk.tickets.selectors import desk_config

if TYPE_CHECKING:
    from tierdesk.accounts.models import User
    from tierdesk.orgs.models import Organisation


def priority_for(impact: int, urgency: int) -> int:
    """Priority from the admins' matrix (the ITIL default for a cell they have deleted)."""
    return desk_config().priority(impact, urgency)


def intake_line() -> SupportLine:
    """Where new tickets land unless told otherwise: the first active line from L1 up (L0 is the
    dispatcher who registers and routes), or the lowest active line if there is no L1+."""
    lines = desk_config().active_lines
    if not lines:
        raise DomainError(_("No support line is configured; an administrator must create one."))
    return next((line for line in lines if line.level >= 1), lines[0])


# --- Desk configuration (lines, teams, categories, matrix, settings) ------------------------

_CONFIG_EVENTS: dict[type, tuple[EventType, EventType]] = {
    SupportLine: (EventType.LINE_CREATED, EventType.LINE_UPDATED),
    Team: (EventType.TEAM_CREATED, EventType.TEAM_UPDATED),
    Category: (EventType.CATEGORY_CREATED, EventType.CATEGORY_UPDATED),
    PriorityMatrixEntry: (EventType.PRIORITY_MATRIX_CHANGED, EventType.PRIORITY_MATRIX_CHANGED),
    DeskSettings: (EventType.SETTINGS_CHANGED, EventType.SETTINGS_CHANGED),
}


@transaction.atomic
def save_desk_configuration(
    obj: SupportLine | Team | Category | PriorityMatrixEntry | DeskSettings, *, actor: User | None
) -> None:
    """Save a configuration row an administrator edited (in the admin or the API), audited.

    These rows are workflow-as-data: lines, teams, categories, the priority matrix and desk
    settings. Only administrators change them.
    """
    if actor is not None and not actor.is_admin:
        raise NotPermitted(_("Only administrators can change the desk configuration."))
    created_event, updated_event = _CONFIG_EVENTS[type(obj)]
    before = stored_snapshot(obj)
    obj.full_clean()
    obj.save()
    record_config_change(obj, before=before, actor=actor, created=created_event, updated=updated_event)


@transaction.atomic
def set_team_members(team: Team, *, members: list[User], actor: User | None) -> None:
    """Replace a team's members (agents only), audited with the before/after member ids."""
    if actor is not None and not actor.is_admin:
        raise NotPermitted(_("Only administrators can change the desk configuration."))
    bad = [str(m) for m in members if not m.is_staff_member]
    if bad:
        raise DomainError(
            _("Only agents and administrators can be team members: %(names)s.") % {"names": ", ".join(bad)},
            field="members",
        )
    _replace_team_set(team, "members", members, actor=actor)


@transaction.atomic
def set_team_organisations(team: Team, *, organisations: list[Organisation], actor: User | None) -> None:
    """Replace the client organisations a team serves, audited."""
    if actor is not None and not actor.is_admin:
        raise NotPermitted(_("Only administrators can change the desk configuration."))
    _replace_team_set(team, "organisations", organisations, actor=actor)


def _replace_team_set(team: Team, name: str, objects: list[Any], *, actor: User | None) -> None:
    """Replace one of a team's many-to-many sets, audited with the before/after ids."""
    manager = getattr(team, name)
    old = sorted(manager.values_list("pk", flat=True))
    manager.set(objects)
    new = sorted(obj.pk for obj in objects)
    if old != new:
        record_event(
            team,
            event_type=EventType.TEAM_UPDATED,
            actor=actor,
            organisation=None,
            old={name: old},
            new={name: new},
        )
