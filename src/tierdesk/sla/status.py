"""Where a ticket stands against its service level: the deadlines, the business time left and a
state per target, for the ticket page, the queues and the API to show.

A read of the ticket's clock columns (see :mod:`tierdesk.sla.clock`) under the per-process
snapshots of the service levels and calendars: once those are warm it costs no query, so a
queue page of 50 tickets pays a few microseconds of business-time arithmetic per row.

The state of one target the ticket's policy sets:

* ``on_track``, ``at_risk``, ``breached`` — still to be achieved, the clock running. A target is
  at risk from the policy's warning threshold on: the lowest escalation-rule percent below 100
  (the seeded policy warns at 75 %), or 75 % when the policy has no such rule — the same moment
  the sweep warns the assignee. It is breached once more than its length has been counted, even
  if the sweep has not recorded the verdict yet.
* ``paused`` — still to be achieved, the clock standing still (waiting for the customer, or on
  a line the policy excludes); the time left is frozen. A breached target stays ``breached``.
* ``met``, ``late`` — achieved in time, or after the deadline.

A next response is shown only while the customer waits for it. A target a closed or cancelled
ticket never achieved is not shown (nothing is promised any more), unless it was breached: then
it stays ``breached``, without a deadline or time left.

The queue filters (:func:`sla_condition`) use the same thresholds in SQL, so a queue filtered
by a state shows tickets whose badge says that state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tierdesk.sla import clock
from tierdesk.sla.choices import SlaState, TargetKind
from tierdesk.sla.selectors import PolicyView, schedule_for_policy, service_levels

if TYPE_CHECKING:
    from tierdesk.sla.business_time import Schedule
    from tierdesk.tickets.models import Ticket


class TargetState(models.TextChoices):
    """Where a ticket stands against one target, as people read it."""

    ON_TRACK = "on_track", _("On track")
    AT_RISK = "at_risk", _("At risk")
    BREACHED = "breached", _("Breached")
    PAUSED = "paused", _("Paused")
    MET = "met", _("Met")
    LATE = "late", _("Met late")


class SlaFilter(models.TextChoices):
    """The states a queue can be filtered by (a ticket's overall state, see :func:`overall_state`)."""

    BREACHED = "breached", _("Breached")
    AT_RISK = "at_risk", _("At risk")
    PAUSED = "paused", _("Paused")


# Worst first. A ticket's overall state is the first of these any of its targets is in: targets
# still to be achieved come before achieved ones, so a first response answered late does not
# hide a resolution at risk, and a ticket is "late" only when nothing is left to do.
SEVERITY: tuple[str, ...] = (
    TargetState.BREACHED,
    TargetState.AT_RISK,
    TargetState.PAUSED,
    TargetState.ON_TRACK,
    TargetState.LATE,
    TargetState.MET,
)

# The warning threshold of a policy without an escalation rule below 100 %.
DEFAULT_WARNING_PERCENT = 75


@dataclass(frozen=True)
class TargetStatus:
    """One target of a ticket at a moment."""

    target: str  # a TargetKind
    length: dt.timedelta  # the target in business time
    due_at: dt.datetime | None  # None while paused and once achieved
    state: str  # a TargetState
    left: dt.timedelta | None  # business time left, negative when overdue; None once achieved
    paused: dt.timedelta  # business time the clock stood still while this target ran
    achieved_at: dt.datetime | None = None

    @property
    def label(self) -> str:
        return str(TargetKind(self.target).label)

    @property
    def state_label(self) -> str:
        return str(TargetState(self.state).label)

    @property
    def left_label(self) -> str:
        """The time left as people read it: "2 h 15 min left", "30 min overdue" ("" once achieved)."""
        if self.left is None:
            return ""
        if self.left < dt.timedelta(0):
            return gettext("%(time)s overdue") % {"time": business_duration(-self.left)}
        return gettext("%(time)s left") % {"time": business_duration(self.left)}


def business_duration(amount: dt.timedelta) -> str:
    """Business time in hours and whole minutes ("27 h", "1 h 5 min", "0 min"): days would
    mislead, a business day being 9 hours (or whatever the calendar says)."""
    hours, minutes = divmod(int(amount.total_seconds() // 60), 60)
    if hours and minutes:
        return gettext("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes}
    if hours:
        return gettext("%(hours)d h") % {"hours": hours}
    return gettext("%(minutes)d min") % {"minutes": minutes}


@dataclass(frozen=True)
class TicketSla:
    """A ticket's service level at a moment: its policy, targets and pause."""

    policy: str  # the policy's name
    targets: list[TargetStatus]
    paused_since: dt.datetime | None
    paused: dt.timedelta  # business time the clock stood still since the ticket was created

    @property
    def state(self) -> str | None:
        return overall_state(self.targets)

    @property
    def state_label(self) -> str:
        return str(TargetState(self.state).label) if self.state else ""

    @property
    def first_response(self) -> TargetStatus | None:
        return self.target(TargetKind.FIRST_RESPONSE)

    @property
    def resolution(self) -> TargetStatus | None:
        return self.target(TargetKind.RESOLUTION)

    def target(self, kind: str) -> TargetStatus | None:
        return next((status for status in self.targets if status.target == kind), None)


def warning_percent(policy: PolicyView) -> int:
    """The percent of a target from which it is at risk: the policy's lowest escalation-rule
    percent below 100 (``check_percents`` is ascending), else ``DEFAULT_WARNING_PERCENT``."""
    return next((percent for percent in policy.check_percents if percent < 100), DEFAULT_WARNING_PERCENT)


def warning_left(length: dt.timedelta, percent: int) -> dt.timedelta:
    """The business time left when a target of ``length`` turns at risk (one expression, shared
    by the states and the SQL filter so both agree to the microsecond)."""
    return length - length * percent / 100


def overall_state(targets: Sequence[TargetStatus]) -> str | None:
    """The worst state among ``targets`` (``None`` without targets); see ``SEVERITY``."""
    states = {status.state for status in targets}
    return next((state for state in SEVERITY if state in states), None)


def ticket_sla(ticket: Ticket, now: dt.datetime | None = None) -> list[TargetStatus]:
    """Each target the ticket's policy sets, in ``TargetKind`` order, as of ``now``; empty for a
    ticket without a (still active) service level. No query once the caches are warm."""
    found = _policy_of(ticket)
    if found is None:
        return []
    policy, schedule = found
    return _targets(ticket, policy, schedule, now or timezone.now())


def sla_overview(ticket: Ticket, now: dt.datetime | None = None) -> TicketSla | None:
    """The ticket's service level with its targets and pause, or ``None`` without one."""
    found = _policy_of(ticket)
    if found is None:
        return None
    policy, schedule = found
    now = now or timezone.now()
    return TicketSla(
        policy=policy.name,
        targets=_targets(ticket, policy, schedule, now),
        paused_since=ticket.sla_paused_since,
        paused=clock.paused_total(ticket, schedule, now),
    )


def _policy_of(ticket: Ticket) -> tuple[PolicyView, Schedule] | None:
    if ticket.sla_policy_id is None:
        return None
    policy = service_levels().policies.get(ticket.sla_policy_id)
    if policy is None:  # deactivated since: the clock has stopped reading it too
        return None
    return policy, schedule_for_policy(policy)


def _targets(ticket: Ticket, policy: PolicyView, schedule: Schedule, now: dt.datetime) -> list[TargetStatus]:
    percent = warning_percent(policy)
    found = []
    for kind in TargetKind.values:
        status = _target(ticket, policy, schedule, kind, now, percent)
        if status is not None:
            found.append(status)
    return found


_DUE_COLUMNS: dict[str, str] = {
    TargetKind.FIRST_RESPONSE: "response_due_at",
    TargetKind.RESOLUTION: "resolution_due_at",
    TargetKind.NEXT_RESPONSE: "next_response_due_at",
}


def _target(
    ticket: Ticket, policy: PolicyView, schedule: Schedule, kind: str, now: dt.datetime, percent: int
) -> TargetStatus | None:
    length = clock.target_of(ticket, policy, kind)
    verdict = clock.state_of(ticket, kind)
    if length is None or not verdict:
        return None
    _start, base = clock.target_start(ticket, kind)
    paused = clock.paused_total(ticket, schedule, now) - base
    if verdict in (SlaState.MET, SlaState.LATE):
        achieved = ticket.first_response_at if kind == TargetKind.FIRST_RESPONSE else ticket.resolved_at
        state = TargetState.MET if verdict == SlaState.MET else TargetState.LATE
        return TargetStatus(kind, length, None, state, None, paused, achieved)
    if ticket.status in clock.CLOSED:  # the clock has stopped for good
        if verdict != SlaState.BREACHED:
            return None
        return TargetStatus(kind, length, None, TargetState.BREACHED, None, paused)
    spent = clock.elapsed(ticket, kind, schedule, now) or dt.timedelta(0)
    left = length - spent
    # The stored deadline is what queues sort by; the sweep clears it once it records a breach,
    # so a breached target's deadline is worked out again (None while paused).
    due = getattr(ticket, _DUE_COLUMNS[kind]) or clock.moment_at(ticket, kind, schedule, length)
    if verdict == SlaState.BREACHED or left < dt.timedelta(0):
        state = TargetState.BREACHED
    elif ticket.sla_paused_since is not None:
        state = TargetState.PAUSED
    elif left <= warning_left(length, percent):
        state = TargetState.AT_RISK
    else:
        state = TargetState.ON_TRACK
    return TargetStatus(kind, length, due, state, left, paused)


# --- Queue filters in SQL ---------------------------------------------------------------------


def sla_condition(state: str, now: dt.datetime | None = None) -> Q:
    """Tickets whose overall state (see ``SEVERITY``) is ``state`` — breached, at risk or
    paused — as a condition on the ticket table, so a filtered queue shows matching badges.

    * breached: a recorded breach of the first response or the resolution, or a deadline passed
      that the sweep has not looked at yet (a breached next response keeps its deadline);
    * at risk, and not breached: a deadline between now and the moment the target turns at
      risk, counted back from the deadline in business time. For each policy and priority the
      bound is ``calendar.add(now, warning_left)``: "business time left <= warning_left" is
      exactly "deadline <= that bound", because business time is monotonic. The condition
      has one term per policy and priority with a target (five for the seeded policy);
    * paused, and not breached: the clock stands still.
    """
    now = now or timezone.now()
    breached = (
        Q(response_sla=SlaState.BREACHED)
        | Q(resolution_sla=SlaState.BREACHED)
        | Q(response_due_at__lt=now)
        | Q(resolution_due_at__lt=now)
        | Q(next_response_due_at__lt=now)
    )
    if state == SlaFilter.BREACHED:
        return breached
    if state == SlaFilter.PAUSED:
        return Q(sla_paused_since__isnull=False) & ~breached
    if state == SlaFilter.AT_RISK:
        return _at_risk(now) & ~breached
    raise ValueError(f"Unknown SLA filter {state!r}.")


def _at_risk(now: dt.datetime) -> Q:
    condition = Q(pk__in=[])  # no policy with targets: nothing is at risk
    for policy in service_levels().policies.values():
        schedule = schedule_for_policy(policy)
        percent = warning_percent(policy)
        by_priority: dict[int, Q] = {}
        for (priority, kind), length in policy.targets.items():
            bound = schedule.add(now, warning_left(length, percent))
            column = _DUE_COLUMNS[kind]
            near = Q(**{f"{column}__gte": now, f"{column}__lte": bound})
            by_priority[priority] = by_priority[priority] | near if priority in by_priority else near
        for priority, near in sorted(by_priority.items()):
            condition |= Q(sla_policy_id=policy.id, priority=priority) & near
    return condition
