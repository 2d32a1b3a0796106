"""A ticket's SLA clock: its deadlines, pauses and verdicts, kept in columns of the ticket.

The ticket services call :func:`start` when a ticket is created and :func:`sync` before every
save; both only set attributes of the ticket (no query of their own: the policies and the
calendars come from per-process snapshots), so the deadlines are written by the same UPDATE as
the change that moved them. Verdicts (a target met or breached) are returned as
:class:`Verdict` values for the caller to store as ``SlaOutcome`` rows.

How the clock runs, for a target of T business minutes counted from S (the ticket's creation
for the first response and the resolution, the customer's reply for a next response):

* elapsed(t) = business time from S to t under the policy's calendar, minus the business time
  the clock was paused in between (while the status is one the policy pauses on, e.g. waiting
  for the customer, or the ticket sits on a line the policy excludes, L4 by default);
* while running, the deadline is ``calendar.add(S, T + paused)``; while paused there is none
  (the time left is frozen) and the queue shows the ticket as paused;
* a priority or policy change re-reads T and moves the deadline; elapsed time is kept;
* the verdict is taken once, when the target is achieved (the first public reply, the first
  resolution, the answer to the customer's reply) or when the sweep finds the deadline passed,
  and never changes afterwards.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tierdesk.sla.choices import SlaState, TargetKind
from tierdesk.sla.selectors import PolicyView, schedule_for_policy, service_levels
from tierdesk.tickets.choices import Status
from tierdesk.tickets.selectors import desk_config

if TYPE_CHECKING:
    from tierdesk.sla.business_time import Schedule
    from tierdesk.tickets.models import Ticket

CLOSED = frozenset({Status.CLOSED, Status.CANCELLED})
ACHIEVED_RESOLUTION = frozenset({Status.RESOLVED, Status.CLOSED})

# The ticket attributes this module may change (for the caller's update_fields).
CLOCK_FIELDS = (
    "sla_policy",
    "response_due_at",
    "resolution_due_at",
    "next_response_due_at",
    "response_sla",
    "resolution_sla",
    "next_response_started_at",
    "next_response_cycle",
    "next_response_pause_base",
    "sla_paused_since",
    "sla_paused_seconds",
    "line_entered_at",
    "sla_next_check_at",
)


@dataclass(frozen=True)
class Verdict:
    """A target met or breached, to be recorded once as an ``SlaOutcome``."""

    target: str
    cycle: int
    due_at: dt.datetime | None
    achieved_at: dt.datetime | None
    breached: bool
    business_seconds: int | None


# --- Reading the clock -----------------------------------------------------------------------


def paused_total(ticket: Ticket, schedule: Schedule, now: dt.datetime) -> dt.timedelta:
    """Business time the clock has stood still since the ticket was created, up to ``now``."""
    paused = dt.timedelta(seconds=ticket.sla_paused_seconds)
    if ticket.sla_paused_since is not None and now > ticket.sla_paused_since:
        paused += schedule.between(ticket.sla_paused_since, now)
    return paused


def target_start(ticket: Ticket, kind: str) -> tuple[dt.datetime | None, dt.timedelta]:
    """Where a target's clock starts and the pause already counted then (zero for the targets
    that start with the ticket)."""
    if kind == TargetKind.NEXT_RESPONSE:
        return ticket.next_response_started_at, dt.timedelta(seconds=ticket.next_response_pause_base)
    return ticket.created_at, dt.timedelta(0)


def elapsed(ticket: Ticket, kind: str, schedule: Schedule, now: dt.datetime) -> dt.timedelta | None:
    """Business time counted against target ``kind`` by ``now`` (``None``: not running)."""
    start, base = target_start(ticket, kind)
    if start is None:
        return None
    return schedule.between(start, now) - (paused_total(ticket, schedule, now) - base)


def target_of(ticket: Ticket, policy: PolicyView, kind: str) -> dt.timedelta | None:
    return policy.target(ticket.priority, kind)


def moment_at(ticket: Ticket, kind: str, schedule: Schedule, amount: dt.timedelta) -> dt.datetime | None:
    """When ``amount`` of target ``kind``'s business time will have been counted, if the clock
    keeps running from now on (``None`` while it is paused or not started)."""
    start, base = target_start(ticket, kind)
    if start is None or ticket.sla_paused_since is not None:
        return None
    return schedule.add(start, amount + dt.timedelta(seconds=ticket.sla_paused_seconds) - base)


def state_of(ticket: Ticket, kind: str) -> str:
    """pending, met, breached (not achieved yet), late (achieved after the deadline) or "" (no
    target). A next response is pending from the customer's reply until it is answered."""
    if kind == TargetKind.FIRST_RESPONSE:
        return ticket.response_sla
    if kind == TargetKind.RESOLUTION:
        return ticket.resolution_sla
    return SlaState.PENDING if ticket.next_response_started_at is not None else ""


def running_targets(ticket: Ticket, policy: PolicyView) -> list[tuple[str, dt.timedelta]]:
    """Targets still to be achieved, with their length."""
    found = []
    for kind in TargetKind.values:
        length = target_of(ticket, policy, kind)
        if length is not None and state_of(ticket, kind) == SlaState.PENDING:
            found.append((kind, length))
    return found


# --- Moving the clock ------------------------------------------------------------------------


def start(ticket: Ticket, *, now: dt.datetime) -> None:
    """Give a new ticket its policy and deadlines (before its INSERT)."""
    ticket.line_entered_at = now
    policy = service_levels().policy_for(ticket)
    if policy is not None:
        ticket.sla_policy_id = policy.id
    sync(ticket, now=now)


def sync(
    ticket: Ticket,
    *,
    now: dt.datetime,
    customer_replied: bool = False,
    staff_replied: bool = False,
    line_changed: bool = False,
) -> list[Verdict]:
    """Bring the clock in line with the ticket's current state; returns new verdicts.

    Call it after changing the ticket and before saving it with ``CLOCK_FIELDS``.
    """
    if line_changed:
        ticket.line_entered_at = now
    policy = _current_policy(ticket)
    if policy is None:
        ticket.sla_next_check_at = line_budget_check(ticket, None, now)
        return []
    schedule = schedule_for_policy(policy)
    verdicts: list[Verdict] = []
    # A target the policy sets for this priority that the ticket had none of (another level,
    # another priority) starts now, counting the time already spent.
    if ticket.status not in CLOSED:
        for kind, attribute in (
            (TargetKind.FIRST_RESPONSE, "response_sla"),
            (TargetKind.RESOLUTION, "resolution_sla"),
        ):
            if (
                getattr(ticket, attribute) == SlaState.NONE
                and policy.target(ticket.priority, kind) is not None
            ):
                setattr(ticket, attribute, SlaState.PENDING)

    # Pause or resume first: the verdicts below count elapsed time up to now.
    should_pause = (
        ticket.status in policy.pause_statuses or ticket.current_line_id in policy.excluded_line_ids
    )
    if should_pause and ticket.sla_paused_since is None and ticket.status not in CLOSED:
        ticket.sla_paused_since = now
    elif not should_pause and ticket.sla_paused_since is not None:
        ticket.sla_paused_seconds += int(schedule.between(ticket.sla_paused_since, now).total_seconds())
        ticket.sla_paused_since = None

    # Achievements. A target the sweep already found breached is still achieved later ("late"):
    # its verdict stays, and the time it took completes the record.
    waiting = (SlaState.PENDING, SlaState.BREACHED)
    if ticket.response_sla in waiting and ticket.first_response_at is not None:
        verdicts.append(
            _achieve(ticket, policy, schedule, TargetKind.FIRST_RESPONSE, ticket.first_response_at)
        )
        ticket.response_sla = SlaState.LATE if verdicts[-1].breached else SlaState.MET
    if ticket.resolution_sla in waiting and ticket.status in ACHIEVED_RESOLUTION:
        verdicts.append(_achieve(ticket, policy, schedule, TargetKind.RESOLUTION, now))
        ticket.resolution_sla = SlaState.LATE if verdicts[-1].breached else SlaState.MET
    if ticket.next_response_started_at is not None and (staff_replied or ticket.status in CLOSED):
        if staff_replied:
            verdicts.append(_achieve(ticket, policy, schedule, TargetKind.NEXT_RESPONSE, now))
        ticket.next_response_started_at = None
    answer_due = policy.target(ticket.priority, TargetKind.NEXT_RESPONSE) is not None
    if (
        customer_replied
        and answer_due
        and ticket.next_response_started_at is None
        and ticket.status not in CLOSED
    ):
        ticket.next_response_cycle += 1
        ticket.next_response_started_at = now
        ticket.next_response_pause_base = ticket.sla_paused_seconds

    recompute(ticket, policy, schedule, now)
    return verdicts


def _current_policy(ticket: Ticket) -> PolicyView | None:
    """The service level an open ticket runs under now: the one its organisation's agreements
    choose for its category and type (they may have changed since it was opened, or the
    ticket's category may have). The time already counted stays; the targets are re-read."""
    levels = service_levels()
    current = levels.policies.get(ticket.sla_policy_id) if ticket.sla_policy_id else None
    if ticket.status in CLOSED:
        return current
    chosen = levels.policy_for(ticket)
    if chosen is None or (current is not None and chosen.id == current.id):
        return current
    ticket.sla_policy_id = chosen.id
    for kind, attribute in (
        (TargetKind.FIRST_RESPONSE, "response_sla"),
        (TargetKind.RESOLUTION, "resolution_sla"),
    ):
        if getattr(ticket, attribute) == SlaState.NONE and chosen.target(ticket.priority, kind) is not None:
            setattr(ticket, attribute, SlaState.PENDING)
    return chosen


def recompute(ticket: Ticket, policy: PolicyView, schedule: Schedule, now: dt.datetime) -> None:
    """The deadlines and the next moment the sweep must look at the ticket."""
    open_ = ticket.status not in CLOSED
    dues: dict[str, dt.datetime | None] = dict.fromkeys(TargetKind.values)
    checks: list[dt.datetime] = []
    for kind in TargetKind.values:
        length = target_of(ticket, policy, kind)
        state = state_of(ticket, kind)
        if not open_ or length is None or state not in (SlaState.PENDING, SlaState.BREACHED):
            continue
        # A breached target keeps its (passed) deadline until it is achieved: "due first"
        # queues must show the most overdue tickets first, not last.
        dues[kind] = moment_at(ticket, kind, schedule, length)
        if state == SlaState.BREACHED:
            continue
        for percent in policy.check_percents:
            moment = moment_at(ticket, kind, schedule, length * percent / 100)
            if moment is not None and moment > now:
                checks.append(moment)
                break  # percents are ascending: the first one ahead is the next check
    ticket.response_due_at = dues[TargetKind.FIRST_RESPONSE]
    ticket.resolution_due_at = dues[TargetKind.RESOLUTION]
    ticket.next_response_due_at = dues[TargetKind.NEXT_RESPONSE]
    budget = line_budget_check(ticket, schedule, now)
    if budget is not None:
        checks.append(budget)
    # A check already due stays due: the sweep has not looked at it yet, and moving it into the
    # future would skip a warning or a breach.
    pending = ticket.sla_next_check_at
    if pending is not None and pending <= now and open_:
        checks.append(pending)
    ticket.sla_next_check_at = min(checks) if checks else None


def line_budget_check(ticket: Ticket, schedule: Schedule | None, now: dt.datetime) -> dt.datetime | None:
    """When the ticket's time on its line runs out (the line's budget, e.g. L1's 15 minutes),
    for a ticket that is still being worked there; ``None`` if the line has no budget."""
    if (
        ticket.status not in (Status.NEW, Status.ASSIGNED, Status.IN_PROGRESS)
        or ticket.line_entered_at is None
    ):
        return None
    line = next((line for line in desk_config().lines if line.pk == ticket.current_line_id), None)
    if line is None or not line.time_budget_minutes:
        return None
    budget = dt.timedelta(minutes=line.time_budget_minutes)
    if schedule is None:
        return ticket.line_entered_at + budget
    return schedule.add(ticket.line_entered_at, budget)


def _achieve(ticket: Ticket, policy: PolicyView, schedule: Schedule, kind: str, at: dt.datetime) -> Verdict:
    length = target_of(ticket, policy, kind)
    took = elapsed(ticket, kind, schedule, at) or dt.timedelta(0)
    due = moment_at(ticket, kind, schedule, length) if length is not None else None
    return Verdict(
        target=kind,
        cycle=ticket.next_response_cycle if kind == TargetKind.NEXT_RESPONSE else 0,
        due_at=due,
        achieved_at=at,
        breached=length is not None and took > length,
        business_seconds=max(0, int(took.total_seconds())),
    )


def breaches_due(ticket: Ticket, *, now: dt.datetime) -> list[Verdict]:
    """Targets whose deadline has passed without being achieved (for the sweep), marked on the
    ticket as breached. A breached next response stays running until it is answered."""
    policy = service_levels().policies.get(ticket.sla_policy_id) if ticket.sla_policy_id else None
    if policy is None or ticket.status in CLOSED:
        return []
    schedule = schedule_for_policy(policy)
    verdicts = []
    for kind, length in running_targets(ticket, policy):
        spent = elapsed(ticket, kind, schedule, now)
        if spent is None or spent <= length:
            continue
        cycle = ticket.next_response_cycle if kind == TargetKind.NEXT_RESPONSE else 0
        verdicts.append(Verdict(kind, cycle, moment_at(ticket, kind, schedule, length), None, True, None))
        if kind == TargetKind.FIRST_RESPONSE:
            ticket.response_sla = SlaState.BREACHED
        elif kind == TargetKind.RESOLUTION:
            ticket.resolution_sla = SlaState.BREACHED
    return verdicts
