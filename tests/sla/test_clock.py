"""The SLA clock of tickets under the seeded default service level ("Standard": the Moscow
business calendar, Monday to Friday 09:00-18:00; a medium ticket must be answered within 2
business hours and resolved within 27; the clock stops while waiting for the customer and on L4;
L1 has 15 minutes before a ticket goes up to L2)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.db import close_old_connections, connection

from tests.factories import World
from tierdesk.audit.models import AuditEvent
from tierdesk.mail.choices import NotificationKind
from tierdesk.mail.models import OutboundMessage
from tierdesk.mail.outgoing import deliver_due_messages
from tierdesk.sla import selectors as sla_selectors
from tierdesk.sla import services as sla_services
from tierdesk.sla.choices import EscalationAction, SlaState, TargetKind
from tierdesk.sla.models import (
    EscalationFiring,
    EscalationRule,
    ServiceAgreement,
    SlaOutcome,
    SlaPolicy,
    SlaTarget,
)
from tierdesk.tickets import services
from tierdesk.tickets.choices import Impact, Priority, Status, Urgency
from tierdesk.tickets.models import Ticket, TicketEntry

pytestmark = pytest.mark.django_db

MSK = ZoneInfo("Europe/Moscow")
MONDAY_10 = dt.datetime(2025, 6, 2, 10, 0, tzinfo=MSK)  # an ordinary working Monday


def at(moment: dt.datetime) -> Any:
    """Travel to ``moment`` with the clock frozen there (time_machine)."""
    return time_machine.travel(moment, tick=False)


def msk(ticket_time: dt.datetime | None) -> dt.datetime | None:
    return ticket_time.astimezone(MSK) if ticket_time else None


def fresh(ticket: Ticket) -> Ticket:
    return Ticket.objects.get(pk=ticket.pk)


@pytest.fixture(autouse=True)
def _fresh_service_levels() -> Any:
    sla_selectors.forget_service_levels()
    yield
    sla_selectors.forget_service_levels()


def test_a_new_ticket_gets_its_deadlines_in_business_time(world: World) -> None:
    with at(MONDAY_10):
        ticket = fresh(world.ticket())
    assert ticket.sla_policy is not None and ticket.sla_policy.name == "Standard"
    assert ticket.priority == Priority.MEDIUM
    assert msk(ticket.response_due_at) == MONDAY_10.replace(hour=12)  # + 2 h
    assert msk(ticket.resolution_due_at) == dt.datetime(2025, 6, 5, 10, 0, tzinfo=MSK)  # + 27 h = 3 days
    assert (ticket.response_sla, ticket.resolution_sla) == (SlaState.PENDING, SlaState.PENDING)
    # The first thing the sweep must look at: L1's 15-minute budget.
    assert msk(ticket.sla_next_check_at) == MONDAY_10.replace(minute=15)
    created = AuditEvent.objects.get(target_id=ticket.pk, event_type="ticket.created")
    assert created.new["response_due_at"] is not None


def test_friday_evening_ticket_is_due_on_monday(world: World) -> None:
    with at(dt.datetime(2025, 6, 6, 17, 30, tzinfo=MSK)):
        ticket = fresh(world.ticket())
    assert msk(ticket.response_due_at) == dt.datetime(2025, 6, 9, 10, 30, tzinfo=MSK)


def test_waiting_for_the_customer_stops_the_clock_and_his_answer_restarts_it(world: World) -> None:
    with at(MONDAY_10):
        ticket = world.ticket()
        services.assign_ticket(ticket, assignee=world.l1, actor=world.l1)
    with at(MONDAY_10.replace(minute=30)):
        services.transition_ticket(ticket, to_status=Status.WAITING_CUSTOMER, actor=world.l1)
    paused = fresh(ticket)
    assert msk(paused.sla_paused_since) == MONDAY_10.replace(minute=30)
    assert paused.response_due_at is None and paused.resolution_due_at is None  # frozen
    with at(MONDAY_10.replace(hour=14)):  # 3.5 business hours later
        services.add_public_reply(ticket, actor=world.customer_a, body="Here is the log")
    resumed = fresh(ticket)
    assert resumed.sla_paused_since is None
    assert resumed.sla_paused_seconds == 3.5 * 3600
    assert msk(resumed.response_due_at) == MONDAY_10.replace(hour=15, minute=30)  # 12:00 + 3.5 h
    events = list(AuditEvent.objects.filter(target_id=ticket.pk, event_type__startswith="ticket.sla_"))
    assert [e.event_type for e in events] == ["ticket.sla_paused", "ticket.sla_resumed"]
    assert events[1].new == {"paused_seconds": 12600}


def test_a_met_target_is_recorded_once_with_the_time_it_took(world: World) -> None:
    with at(MONDAY_10):
        ticket = world.ticket()
    with at(MONDAY_10.replace(hour=11)):
        services.add_public_reply(ticket, actor=world.l1, body="On it")
    with at(MONDAY_10.replace(hour=11, minute=30)):
        services.add_public_reply(ticket, actor=world.l1, body="Still on it")
    [outcome] = SlaOutcome.objects.filter(ticket=ticket)
    assert (outcome.target, outcome.breached, outcome.business_seconds) == (
        TargetKind.FIRST_RESPONSE,
        False,
        3600,
    )
    assert msk(outcome.due_at) == MONDAY_10.replace(hour=12)
    assert fresh(ticket).response_sla == SlaState.MET
    assert fresh(ticket).response_due_at is None  # nothing left to meet


def test_the_sweep_records_a_breach_and_a_late_answer_completes_it(world: World) -> None:
    with at(MONDAY_10):
        ticket = world.ticket()
    with at(MONDAY_10.replace(hour=12, minute=5)):
        result = sla_services.sweep_due_tickets()
    assert (result.breaches, result.escalated) == (1, 1)  # and L1's budget is long gone
    breached = fresh(ticket)
    assert breached.response_sla == SlaState.BREACHED
    outcome = SlaOutcome.objects.get(ticket=ticket, target=TargetKind.FIRST_RESPONSE)
    assert outcome.breached and outcome.achieved_at is None
    assert TicketEntry.objects.filter(ticket=ticket, event="ticket.sla_breached").exists()
    assert AuditEvent.objects.filter(
        target_id=ticket.pk, event_type="ticket.sla_breached", actor=None
    ).exists()

    with at(MONDAY_10.replace(hour=13)):
        services.add_public_reply(ticket, actor=world.l2, body="Sorry for the wait")
    late = fresh(ticket)
    assert late.response_sla == SlaState.LATE
    outcome.refresh_from_db()
    assert outcome.breached  # the verdict never changes
    assert msk(outcome.achieved_at) == MONDAY_10.replace(hour=13) and outcome.business_seconds == 3 * 3600
    assert SlaOutcome.objects.filter(ticket=ticket).count() == 1


def test_a_priority_change_moves_the_deadlines_keeping_the_time_spent(world: World) -> None:
    with at(MONDAY_10):
        ticket = world.ticket()
    with at(MONDAY_10.replace(minute=10)):
        services.update_ticket(
            ticket, actor=world.l1, changes={"impact": Impact.HIGH, "urgency": Urgency.HIGH}
        )
    critical = fresh(ticket)
    assert critical.priority == Priority.CRITICAL
    assert msk(critical.response_due_at) == MONDAY_10.replace(minute=15)  # 15 min from creation
    assert msk(critical.resolution_due_at) == MONDAY_10.replace(hour=14)  # 4 h


def test_l4_is_outside_the_sla(world: World) -> None:
    with at(MONDAY_10):
        ticket = world.ticket()
        for line in ("L2", "L3", "L4"):
            services.escalate_ticket(ticket, to_line=world.lines[line], actor=world.admin, reason="Up")
    on_l4 = fresh(ticket)
    assert on_l4.sla_paused_since is not None and on_l4.resolution_due_at is None
    with at(MONDAY_10.replace(hour=15)):
        services.deescalate_ticket(ticket, to_line=world.lines["L3"], actor=world.admin, reason="Fixed")
    back = fresh(ticket)
    assert back.sla_paused_seconds == 5 * 3600
    assert msk(back.resolution_due_at) == dt.datetime(2025, 6, 5, 15, 0, tzinfo=MSK)


def test_l1_time_budget_escalates_to_l2_once(world: World) -> None:
    with at(MONDAY_10):
        ticket = world.ticket()
        services.assign_ticket(ticket, assignee=world.l1, actor=world.l1)
    with at(MONDAY_10.replace(minute=14)):
        assert sla_services.sweep_due_tickets().escalated == 0  # nothing due yet
    with at(MONDAY_10.replace(minute=16)):
        assert sla_services.sweep_due_tickets().escalated == 1
        assert sla_services.sweep_due_tickets().escalated == 0  # the next check lies ahead now
    up = fresh(ticket)
    assert up.current_line.code == "L2" and up.assignee is None and up.status == Status.NEW
    entry = TicketEntry.objects.filter(ticket=ticket, event="ticket.escalated").get()
    assert "time budget of 15 minutes" in entry.body
    assert up.escalation_count == 1 and msk(up.line_entered_at) == MONDAY_10.replace(minute=16)
    assert AuditEvent.objects.get(target_id=ticket.pk, event_type="ticket.escalated").actor is None


def test_an_escalation_rule_warns_the_assignee_and_the_team_lead_once(
    world: World, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from tierdesk.config.celery import app

    app.conf.task_always_eager = True
    team = world.teams["L2"]
    team.lead = world.admin
    services.save_desk_configuration(team, actor=world.admin)
    with at(MONDAY_10):
        ticket = world.ticket()
        services.escalate_ticket(
            ticket, to_line=world.lines["L2"], actor=world.l1, reason="Needs L2", team=team
        )
        services.assign_ticket(ticket, assignee=world.l2, actor=world.l2)
    mail.outbox.clear()
    try:
        with at(MONDAY_10.replace(hour=11, minute=35)):  # 95 of 120 minutes: past 75 %
            with django_capture_on_commit_callbacks(execute=True):
                first = sla_services.sweep_due_tickets()
            with django_capture_on_commit_callbacks(execute=True):
                second = sla_services.sweep_due_tickets()
    finally:
        app.conf.task_always_eager = False
    assert first.warnings == 1 and second.warnings == 0
    [firing] = EscalationFiring.objects.filter(ticket=ticket)
    assert firing.rule.target == TargetKind.FIRST_RESPONSE and firing.rule.percent == 75
    # The warnings go through the e-mail outbox, written by the sweep's transaction.
    warnings = OutboundMessage.objects.filter(ticket=ticket, kind=NotificationKind.SLA_WARNING)
    assert sorted(m.to_address for m in warnings) == sorted([world.l2.email, world.admin.email])
    deliver_due_messages()
    sent = [m for m in mail.outbox if m.to[0] in (world.l2.email, world.admin.email)]
    assert sorted(m.to[0] for m in sent) == sorted([world.l2.email, world.admin.email])
    assert all(f"[{ticket.number}]" in m.subject for m in sent)


def test_the_most_specific_agreement_chooses_the_policy(world: World) -> None:
    gold = SlaPolicy(name="Gold")
    sla_services.save_service_level(gold, actor=world.admin)
    sla_services.save_service_level(
        SlaTarget(policy=gold, priority=Priority.MEDIUM, first_response_minutes=10, resolution_minutes=60),
        actor=world.admin,
    )
    sla_services.save_service_level(
        ServiceAgreement(organisation=world.org_a, policy=gold), actor=world.admin
    )
    with at(MONDAY_10):
        a_ticket = fresh(world.ticket())
        b_ticket = fresh(world.ticket(requester=world.customer_b))
    assert a_ticket.sla_policy == gold and msk(a_ticket.response_due_at) == MONDAY_10.replace(minute=10)
    assert b_ticket.sla_policy is not None and b_ticket.sla_policy.name == "Standard"
    with pytest.raises(Exception, match="already has a service level"):
        sla_services.save_service_level(
            ServiceAgreement(organisation=world.org_a, policy=gold), actor=world.admin
        )
    assert (
        AuditEvent.objects.filter(event_type="sla_agreement.changed", organisation=world.org_a).count() == 1
    )


def test_customer_reply_starts_a_next_response_target(world: World) -> None:
    with at(MONDAY_10):
        ticket = world.ticket()
    with at(MONDAY_10.replace(minute=20)):
        services.add_public_reply(ticket, actor=world.l1, body="What is the error?")
    with at(MONDAY_10.replace(hour=11)):
        services.add_public_reply(ticket, actor=world.customer_a, body="Error 42")
    waiting = fresh(ticket)
    assert waiting.next_response_cycle == 1
    assert msk(waiting.next_response_due_at) == MONDAY_10.replace(hour=15)  # 4 h for a medium ticket
    with at(MONDAY_10.replace(hour=12)):
        services.add_public_reply(ticket, actor=world.l1, body="Fixed")
    outcome = SlaOutcome.objects.get(ticket=ticket, target=TargetKind.NEXT_RESPONSE)
    assert (outcome.cycle, outcome.breached, outcome.business_seconds) == (1, False, 3600)
    assert fresh(ticket).next_response_due_at is None


def test_only_admins_change_service_levels(world: World) -> None:
    from tierdesk.common.errors import NotPermitted

    with pytest.raises(NotPermitted):
        sla_services.save_service_level(SlaPolicy(name="Mine"), actor=world.l1)
    assert not SlaPolicy.objects.filter(name="Mine").exists()


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="the in-memory SQLite test database cannot be shared by threads (table locks); a real "
    "SQLite file serialises sweeps with BEGIN IMMEDIATE. CI runs this on PostgreSQL.",
)
def test_two_sweeps_at_once_escalate_each_ticket_exactly_once(committed_world: World) -> None:
    world = committed_world
    rule = EscalationRule(target=TargetKind.RESOLUTION, percent=1, action=EscalationAction.ESCALATE)
    sla_services.save_service_level(rule, actor=world.admin)
    with at(MONDAY_10):
        tickets = [world.ticket() for _ in range(12)]
    results: list[Any] = []
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            with at(MONDAY_10.replace(hour=11)):
                results.append(sla_services.sweep_due_tickets(limit=5))
                results.append(sla_services.sweep_due_tickets(limit=5))
                results.append(sla_services.sweep_due_tickets(limit=5))
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    # Each ticket went from L1 to L2 once (budget or rule, whichever the sweep saw), never to L3.
    assert sorted(fresh(t).current_line.code for t in tickets) == ["L2"] * 12
    assert all(fresh(t).escalation_count == 1 for t in tickets)
    assert sum(r.escalated for r in results) == 12


def test_a_new_agreement_mid_flight_moves_the_deadline_at_the_next_change(world: World) -> None:
    """The organisation signs a faster contract while a ticket is open: the ticket's next change
    puts it under the new level, keeping the time already counted."""
    with at(MONDAY_10):
        ticket = world.ticket()
    gold = SlaPolicy(name="Gold")
    sla_services.save_service_level(gold, actor=world.admin)
    sla_services.save_service_level(
        SlaTarget(policy=gold, priority=Priority.MEDIUM, first_response_minutes=60, resolution_minutes=240),
        actor=world.admin,
    )
    sla_services.save_service_level(
        ServiceAgreement(organisation=world.org_a, policy=gold), actor=world.admin
    )
    assert fresh(ticket).sla_policy.name == "Standard"  # untouched until something happens
    with at(MONDAY_10.replace(minute=30)):
        services.add_internal_note(ticket, actor=world.l1, body="Looking")
    moved = fresh(ticket)
    assert moved.sla_policy == gold
    assert msk(moved.response_due_at) == MONDAY_10.replace(hour=11)  # 60 min from creation
    assert msk(moved.resolution_due_at) == MONDAY_10.replace(hour=14)


def test_an_edited_target_reaches_open_tickets_through_the_recompute(world: World) -> None:
    with at(MONDAY_10):
        ticket = world.ticket()
        closed = world.ticket()
        services.transition_ticket(closed, to_status=Status.CANCELLED, actor=world.l1)
    target = SlaTarget.objects.get(policy__name="Standard", priority=Priority.MEDIUM)
    target.first_response_minutes = 30
    sla_services.save_service_level(target, actor=world.admin)
    assert msk(fresh(ticket).response_due_at) == MONDAY_10.replace(hour=12)  # not yet
    with at(MONDAY_10.replace(minute=5)):
        assert sla_services.recompute_open_tickets(batch=1) >= 1
    assert msk(fresh(ticket).response_due_at) == MONDAY_10.replace(minute=30)
    assert fresh(closed).response_due_at is None
