"""What a ticket shows of its service level (tierdesk.sla.status) under the seeded default
"Standard": the Moscow calendar, Monday to Friday 09:00-18:00; a medium ticket must be answered
within 2 business hours and resolved within 27, a customer's reply within 4; the assignee is
warned at 75 % of a target, which is when the target turns "at risk"."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from tests.factories import World
from tierdesk.sla import selectors as sla_selectors
from tierdesk.sla import services as sla_services
from tierdesk.sla.choices import EscalationAction, TargetKind
from tierdesk.sla.models import EscalationRule
from tierdesk.sla.status import (
    SlaFilter,
    TargetState,
    TargetStatus,
    overall_state,
    sla_condition,
    sla_overview,
    ticket_sla,
)
from tierdesk.tickets import services
from tierdesk.tickets.choices import Status
from tierdesk.tickets.models import Ticket

pytestmark = pytest.mark.django_db

MSK = ZoneInfo("Europe/Moscow")
MONDAY_10 = dt.datetime(2025, 6, 2, 10, 0, tzinfo=MSK)  # an ordinary working Monday
H = dt.timedelta(hours=1)
MIN = dt.timedelta(minutes=1)


def at(moment: dt.datetime) -> Any:
    return time_machine.travel(moment, tick=False)


def fresh(ticket: Ticket) -> Ticket:
    return Ticket.objects.get(pk=ticket.pk)


def by_target(ticket: Ticket, moment: dt.datetime) -> dict[str, TargetStatus]:
    with at(moment):
        return {status.target: status for status in ticket_sla(fresh(ticket))}


def msk(moment: dt.datetime | None) -> dt.datetime | None:
    return moment.astimezone(MSK) if moment else None


@pytest.fixture(autouse=True)
def _fresh_service_levels() -> Iterator[None]:
    sla_selectors.forget_service_levels()
    yield
    sla_selectors.forget_service_levels()


@pytest.fixture
def ticket(world: World) -> Ticket:
    """A medium ticket created on Monday at 10:00."""
    with at(MONDAY_10):
        return world.ticket()


def test_a_new_ticket_is_on_track_with_its_deadlines_and_business_time_left(ticket: Ticket) -> None:
    targets = by_target(ticket, MONDAY_10)
    assert list(targets) == [TargetKind.FIRST_RESPONSE, TargetKind.RESOLUTION]  # nobody waits for a reply
    response, resolution = targets[TargetKind.FIRST_RESPONSE], targets[TargetKind.RESOLUTION]
    assert (response.state, response.left, msk(response.due_at)) == (
        TargetState.ON_TRACK,
        2 * H,
        MONDAY_10.replace(hour=12),
    )
    assert (resolution.state, resolution.left) == (TargetState.ON_TRACK, 27 * H)
    assert msk(resolution.due_at) == dt.datetime(2025, 6, 5, 10, tzinfo=MSK)  # Thursday
    assert response.paused == dt.timedelta(0) and response.label == "First response"


def test_time_left_counts_business_time_only(ticket: Ticket) -> None:
    # Monday evening to Tuesday morning: the night does not count.
    afternoon = by_target(ticket, MONDAY_10.replace(hour=17))[TargetKind.RESOLUTION]
    evening = by_target(ticket, MONDAY_10.replace(hour=18))[TargetKind.RESOLUTION]
    night = by_target(ticket, dt.datetime(2025, 6, 3, 8, 59, tzinfo=MSK))[TargetKind.RESOLUTION]
    assert (afternoon.left, evening.left, night.left) == (20 * H, 19 * H, 19 * H)


def test_a_target_is_at_risk_from_the_warning_rule_and_breached_after_its_deadline(ticket: Ticket) -> None:
    # 75 % of 2 hours is 90 minutes: at 11:30 only a quarter is left.
    assert by_target(ticket, MONDAY_10 + 89 * MIN)[TargetKind.FIRST_RESPONSE].state == TargetState.ON_TRACK
    risky = by_target(ticket, MONDAY_10 + 90 * MIN)[TargetKind.FIRST_RESPONSE]
    assert (risky.state, risky.left) == (TargetState.AT_RISK, 30 * MIN)
    due = by_target(ticket, MONDAY_10 + 2 * H)[TargetKind.FIRST_RESPONSE]
    assert (due.state, due.left) == (TargetState.AT_RISK, dt.timedelta(0))  # at the deadline, still in time
    # Past the deadline it is breached at once, before the sweep records it; time left goes negative.
    late = by_target(ticket, MONDAY_10 + 150 * MIN)
    assert late[TargetKind.FIRST_RESPONSE].state == TargetState.BREACHED
    assert late[TargetKind.FIRST_RESPONSE].left == -30 * MIN
    assert late[TargetKind.RESOLUTION].state == TargetState.ON_TRACK
    with at(MONDAY_10 + 150 * MIN):
        assert overall_state(ticket_sla(fresh(ticket))) == TargetState.BREACHED


def test_the_resolution_turns_at_risk_on_wednesday(ticket: Ticket) -> None:
    # 75 % of 27 h is 20 h 15 min: Monday 8 h + Tuesday 9 h + Wednesday 3 h 15 min.
    with at(MONDAY_10.replace(hour=11)):
        services.add_public_reply(ticket, actor=ticket.requester, body="x")  # not an answer
    wednesday = dt.datetime(2025, 6, 4, 12, 15, tzinfo=MSK)
    assert by_target(ticket, wednesday - MIN)[TargetKind.RESOLUTION].state == TargetState.ON_TRACK
    resolution = by_target(ticket, wednesday)[TargetKind.RESOLUTION]
    assert (resolution.state, resolution.left) == (TargetState.AT_RISK, 6 * H + 45 * MIN)


def test_a_breach_recorded_by_the_sweep_keeps_its_deadline_and_a_late_answer_shows_late(
    world: World, ticket: Ticket
) -> None:
    with at(MONDAY_10.replace(hour=12, minute=5)):
        sla_services.sweep_due_tickets()
    swept = fresh(ticket)
    assert msk(swept.response_due_at) == MONDAY_10.replace(
        hour=12
    )  # kept while overdue: "due first" sorts it first
    response = by_target(ticket, MONDAY_10.replace(hour=12, minute=30))[TargetKind.FIRST_RESPONSE]
    assert (response.state, response.left) == (TargetState.BREACHED, -30 * MIN)
    assert msk(response.due_at) == MONDAY_10.replace(hour=12)  # worked out again
    with at(MONDAY_10.replace(hour=13)):
        services.add_public_reply(ticket, actor=world.l2, body="Sorry for the wait")
    targets = by_target(ticket, MONDAY_10.replace(hour=14))
    response = targets[TargetKind.FIRST_RESPONSE]
    assert (response.state, response.due_at, response.left) == (TargetState.LATE, None, None)
    assert msk(response.achieved_at) == MONDAY_10.replace(hour=13)
    # Achieved targets rank below running ones: the ticket is on track for its resolution.
    assert overall_state(list(targets.values())) == TargetState.ON_TRACK


def test_a_target_met_in_time(world: World, ticket: Ticket) -> None:
    with at(MONDAY_10.replace(hour=11)):
        services.add_public_reply(ticket, actor=world.l1, body="On it")
    response = by_target(ticket, MONDAY_10.replace(hour=15))[TargetKind.FIRST_RESPONSE]
    assert (response.state, response.left) == (TargetState.MET, None)
    assert response.state_label == "Met"


def test_waiting_for_the_customer_pauses_and_freezes_the_time_left(world: World, ticket: Ticket) -> None:
    with at(MONDAY_10):
        services.assign_ticket(ticket, assignee=world.l1, actor=world.l1)
    with at(MONDAY_10.replace(minute=30)):
        services.transition_ticket(ticket, to_status=Status.WAITING_CUSTOMER, actor=world.l1)
    later = dt.datetime(2025, 6, 3, 16, tzinfo=MSK)  # Tuesday: 14.5 business hours paused
    for moment in (MONDAY_10.replace(hour=11), later):
        response = by_target(ticket, moment)[TargetKind.FIRST_RESPONSE]
        assert (response.state, response.left, response.due_at) == (TargetState.PAUSED, 90 * MIN, None)
    with at(later):
        overview = sla_overview(fresh(ticket))
    assert overview is not None and overview.state == TargetState.PAUSED
    assert msk(overview.paused_since) == MONDAY_10.replace(minute=30)
    assert overview.paused == 14 * H + 30 * MIN
    assert overview.policy == "Standard"


def test_a_customer_reply_adds_a_next_response_target_while_he_waits(world: World, ticket: Ticket) -> None:
    with at(MONDAY_10.replace(minute=20)):
        services.add_public_reply(ticket, actor=world.l1, body="What is the error?")
    with at(MONDAY_10.replace(hour=11)):
        services.add_public_reply(ticket, actor=world.customer_a, body="Error 42")
    following = by_target(ticket, MONDAY_10.replace(hour=14))[TargetKind.NEXT_RESPONSE]
    assert (following.state, following.left) == (TargetState.AT_RISK, H)  # 3 of 4 hours gone
    assert msk(following.due_at) == MONDAY_10.replace(hour=15)
    # Not answered by 15:00: breached (a next response keeps running until it is answered).
    assert by_target(ticket, MONDAY_10.replace(hour=16))[TargetKind.NEXT_RESPONSE].state == "breached"
    with at(MONDAY_10.replace(hour=16, minute=30)):
        services.add_public_reply(ticket, actor=world.l1, body="Fixed")
    assert TargetKind.NEXT_RESPONSE not in by_target(ticket, MONDAY_10.replace(hour=17))


def test_a_cancelled_ticket_promises_nothing_more(world: World, ticket: Ticket) -> None:
    with at(MONDAY_10.replace(hour=11)):
        services.transition_ticket(ticket, to_status=Status.CANCELLED, actor=world.l1)
    assert by_target(ticket, MONDAY_10.replace(hour=15)) == {}


def test_a_breach_stays_on_a_cancelled_ticket_without_counting_on(world: World, ticket: Ticket) -> None:
    with at(MONDAY_10.replace(hour=12, minute=5)):
        sla_services.sweep_due_tickets()
    with at(MONDAY_10.replace(hour=13)):
        services.transition_ticket(fresh(ticket), to_status=Status.CANCELLED, actor=world.admin)
    targets = by_target(ticket, dt.datetime(2025, 6, 9, 10, tzinfo=MSK))
    assert list(targets) == [TargetKind.FIRST_RESPONSE]
    response = targets[TargetKind.FIRST_RESPONSE]
    assert (response.state, response.due_at, response.left) == (TargetState.BREACHED, None, None)


def test_the_lowest_warning_rule_below_100_sets_the_threshold(world: World, ticket: Ticket) -> None:
    rule = EscalationRule(
        target=TargetKind.FIRST_RESPONSE, percent=50, action=EscalationAction.NOTIFY_ASSIGNEE
    )
    sla_services.save_service_level(rule, actor=world.admin)
    assert by_target(ticket, MONDAY_10 + H)[TargetKind.FIRST_RESPONSE].state == TargetState.AT_RISK
    # Without any rule below 100 %, a target is at risk from 75 %.
    EscalationRule.objects.all().delete()
    assert by_target(ticket, MONDAY_10 + 89 * MIN)[TargetKind.FIRST_RESPONSE].state == TargetState.ON_TRACK
    assert by_target(ticket, MONDAY_10 + 90 * MIN)[TargetKind.FIRST_RESPONSE].state == TargetState.AT_RISK


def test_reading_the_status_costs_no_query_once_the_caches_are_warm(
    ticket: Ticket, django_assert_num_queries: Any
) -> None:
    loaded = fresh(ticket)
    with at(MONDAY_10.replace(hour=11)):
        ticket_sla(loaded)  # warms the service levels and the calendar
        with django_assert_num_queries(0):
            for _ in range(50):
                statuses = ticket_sla(loaded)
                sla_overview(loaded)
            sla_condition(SlaFilter.AT_RISK)
    assert len(statuses) == 2


def test_a_ticket_without_a_service_level_has_no_status(ticket: Ticket) -> None:
    Ticket.objects.filter(pk=ticket.pk).update(sla_policy=None)
    assert ticket_sla(fresh(ticket)) == [] and sla_overview(fresh(ticket)) is None


def test_the_sql_filters_select_the_tickets_whose_overall_state_they_name(world: World) -> None:
    """At several moments, each filter selects exactly the tickets whose overall state (the
    badge) is that state: the SQL thresholds and the Python ones agree."""
    with at(MONDAY_10):
        plain = world.ticket()
        waiting = world.ticket()
        services.assign_ticket(waiting, assignee=world.l1, actor=world.l1)
        answered = world.ticket()
    with at(MONDAY_10.replace(minute=30)):
        services.transition_ticket(waiting, to_status=Status.WAITING_CUSTOMER, actor=world.l1)
        services.add_public_reply(answered, actor=world.l1, body="On it")
    with at(MONDAY_10.replace(hour=11)):
        later = world.ticket(requester=world.customer_b)
    moments = [
        MONDAY_10.replace(hour=11),
        MONDAY_10.replace(hour=11, minute=30),  # plain: exactly at risk
        MONDAY_10.replace(hour=12),  # plain: at its deadline
        MONDAY_10.replace(hour=12, minute=1),  # plain: breached, not swept
        MONDAY_10.replace(hour=12, minute=45),  # later: at risk
        dt.datetime(2025, 6, 4, 12, 15, tzinfo=MSK),  # answered: resolution at risk
        dt.datetime(2025, 6, 5, 11, tzinfo=MSK),  # answered: resolution breached
    ]
    everyone = [plain, waiting, answered, later]
    for moment in moments:
        with at(moment):
            expected: dict[str, set[int]] = {state: set() for state in SlaFilter.values}
            for t in everyone:
                state = overall_state(ticket_sla(fresh(t)))
                if state in expected:
                    expected[state].add(t.pk)
            for state in SlaFilter.values:
                found = set(
                    Ticket.objects.filter(sla_condition(state, timezone.now())).values_list("pk", flat=True)
                )
                assert found == expected[state], (moment, state)
    # The sweep records the breaches; the filters still agree.
    with at(moments[-1]):
        sla_services.sweep_due_tickets()
        breached = set(Ticket.objects.filter(sla_condition(SlaFilter.BREACHED)).values_list("pk", flat=True))
    assert breached == {plain.pk, answered.pk, later.pk}
