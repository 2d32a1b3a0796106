"""Random sequences of ticket services by random people keep the workflow invariants.

A hypothesis state machine drives one ticket through transitions (to any status, by staff,
customers and the system), assignments, escalations, replies and notes. Refusals are expected;
after every step the ticket and its audit trail must satisfy the invariants below, and a
refused call must have changed nothing at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.factories import World, build_world
from tests.tickets.helpers import row_counts, ticket_state
from tierdesk.audit.selectors import events_for
from tierdesk.common.errors import DomainError
from tierdesk.tickets import services
from tierdesk.tickets.choices import CUSTOMER_TRANSITIONS, OPEN_STATUSES, TRANSITIONS, EntryKind, Status
from tierdesk.tickets.models import Escalation, Ticket, TicketEntry

STAFF = ["admin", "l1", "l2", "l3", "l1_b_only"]
CUSTOMERS = ["customer_a", "manager_a", "customer_a2", "customer_b"]
LINES = ["L0", "L1", "L2", "L3", "L4"]
# "line_agent" is the agent of the line the ticket is on at that moment (the admin on L0/L4):
# weighting it keeps enough calls successful for the ticket to travel through the workflow.
LINE_AGENT = "line_agent"
STAFF_ACTORS = st.sampled_from([LINE_AGENT, LINE_AGENT, LINE_AGENT, *STAFF])
ANY_ACTOR = st.sampled_from([LINE_AGENT, LINE_AGENT, LINE_AGENT, *STAFF, *CUSTOMERS, None])
STATUS_EVENTS = ("ticket.status_changed", "ticket.reopened")


class TicketWorkflow(RuleBasedStateMachine):
    world: World  # set on a subclass by the test, once per test run

    def __init__(self) -> None:
        super().__init__()
        self.ticket = self.world.ticket(requester=self.world.customer_a)

    # --- plumbing ------------------------------------------------------------------------

    def _user(self, name: str | None) -> Any:
        if name == LINE_AGENT:
            code = Ticket.objects.filter(pk=self.ticket.pk).values_list("current_line__code", flat=True).get()
            return {"L1": self.world.l1, "L2": self.world.l2, "L3": self.world.l3}.get(code, self.world.admin)
        return None if name is None else getattr(self.world, name)

    def _apply(self, label: str, call: Callable[[Ticket], Any]) -> bool:
        """Run one service call; on refusal check that nothing at all changed."""
        before_rows, before_state = row_counts(), ticket_state(self.ticket)
        ticket = Ticket.objects.get(pk=self.ticket.pk)
        try:
            call(ticket)
        except DomainError as exc:
            note(f"{label}: refused ({exc.code}: {exc.message})")
            assert row_counts() == before_rows, f"refused {label} wrote rows"
            assert ticket_state(self.ticket) == before_state, f"refused {label} changed the ticket"
            return False
        after = ticket_state(self.ticket)
        note(
            f"{label}: ok -> {after['status']} line={after['current_line_id']} "
            f"assignee={after['assignee_id']}"
        )
        if after != before_state:
            assert after["version"] > before_state["version"], (
                f"{label} changed the ticket without a new version"
            )
            assert row_counts()["audit"] > before_rows["audit"], (
                f"{label} changed the ticket without an audit event"
            )
        return True

    # --- rules ---------------------------------------------------------------------------

    @precondition(
        lambda self: Ticket.objects.get(pk=self.ticket.pk).status in (Status.CLOSED, Status.CANCELLED)
    )
    @rule()
    def next_ticket(self) -> None:
        """A finished ticket only refuses from now on; carry on with a fresh one."""
        self.ticket = self.world.ticket(requester=self.world.customer_a)
        note(f"new ticket {self.ticket.pk}")

    @rule(actor=STAFF_ACTORS, to_status=st.sampled_from(list(Status)))
    def staff_transition(self, actor: str, to_status: Status) -> None:
        self.transition(actor, to_status)

    @rule(actor=ANY_ACTOR, to_status=st.sampled_from(list(Status)))
    def transition(self, actor: str | None, to_status: Status) -> None:
        before = Ticket.objects.get(pk=self.ticket.pk).status
        user = self._user(actor)
        ok = self._apply(
            f"{actor} transition -> {to_status}",
            lambda t: services.transition_ticket(t, to_status=to_status, actor=user),
        )
        if ok and user is not None and user.is_customer:
            assert (before, to_status) in CUSTOMER_TRANSITIONS

    @rule(
        actor=st.sampled_from([LINE_AGENT, LINE_AGENT, *STAFF, "customer_a", None]),
        assignee=st.sampled_from([LINE_AGENT, LINE_AGENT, LINE_AGENT, None, None, *STAFF, "customer_a"]),
    )
    def assign(self, actor: str | None, assignee: str | None) -> None:
        self._apply(
            f"{actor} assign {assignee}",
            lambda t: services.assign_ticket(t, assignee=self._user(assignee), actor=self._user(actor)),
        )

    @rule(
        actor=st.sampled_from([LINE_AGENT, LINE_AGENT, *STAFF, "customer_a", None]),
        line=st.sampled_from(LINES),
        reason=st.sampled_from(
            ["Needs the next line", "Needs the next line", "Needs the next line", "", "  "]
        ),
    )
    def escalate(self, actor: str | None, line: str, reason: str) -> None:
        self._apply(
            f"{actor} escalate {line} {reason!r}",
            lambda t: services.escalate_ticket(
                t, to_line=self.world.lines[line], actor=self._user(actor), reason=reason
            ),
        )

    @rule(actor=st.sampled_from([LINE_AGENT, LINE_AGENT, *STAFF, None]), line=st.sampled_from(LINES))
    def deescalate(self, actor: str | None, line: str) -> None:
        self._apply(
            f"{actor} deescalate {line}",
            lambda t: services.deescalate_ticket(
                t, to_line=self.world.lines[line], actor=self._user(actor), reason="Back down"
            ),
        )

    @rule(actor=STAFF_ACTORS)
    def staff_reply(self, actor: str) -> None:
        self._apply(
            f"{actor} replies",
            lambda t: services.add_public_reply(t, actor=self._user(actor), body="An answer"),
        )

    @rule(actor=st.sampled_from(CUSTOMERS))
    def customer_reply(self, actor: str) -> None:
        self._apply(
            f"{actor} replies",
            lambda t: services.add_public_reply(t, actor=self._user(actor), body="A customer's reply"),
        )

    @rule(actor=st.sampled_from([LINE_AGENT, *STAFF, "customer_a"]))
    def internal_note(self, actor: str) -> None:
        self._apply(
            f"{actor} notes", lambda t: services.add_internal_note(t, actor=self._user(actor), body="A note")
        )

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def workflow_is_consistent(self) -> None:
        ticket = Ticket.objects.select_related("current_line", "assignee").get(pk=self.ticket.pk)
        events = list(events_for(ticket))

        # Every status change is audited, chains from "new" and follows the table.
        status = Status.NEW
        for event in events:
            if event.event_type in STATUS_EVENTS:
                assert event.old["status"] == status, (event.old, status)
                assert event.new["status"] in TRANSITIONS[status], (status, event.new["status"])
                status = event.new["status"]
        assert ticket.status == status

        # Assignment follows the status.
        if ticket.status == Status.NEW:
            assert ticket.assignee_id is None
        if ticket.status in (Status.ASSIGNED, Status.IN_PROGRESS):
            assert ticket.assignee_id is not None
        if ticket.assignee is not None:
            assert ticket.assignee.is_staff_member
            assert Ticket.objects.restrict(ticket.assignee).filter(pk=ticket.pk).exists()

        # Resolution bookkeeping.
        if ticket.status == Status.RESOLVED:
            assert ticket.resolved_at is not None
            assert ticket.first_contact_resolution is not None
        if ticket.status in OPEN_STATUSES:
            assert ticket.resolved_at is None and ticket.first_contact_resolution is None
        assert (ticket.closed_at is not None) == (ticket.status == Status.CLOSED)
        if ticket.first_contact_resolution:
            assert ticket.current_line.level == 1
            assert ticket.escalation_count == 0 and ticket.reopen_count == 0

        # Counters match their records.
        assert ticket.escalation_count == Escalation.objects.filter(ticket=ticket, direction="up").count()
        assert ticket.reopen_count == sum(e.event_type == "ticket.reopened" for e in events)

        # The first response is the first public reply by staff, and only that.
        staff_replies = TicketEntry.objects.filter(
            ticket=ticket, kind=EntryKind.PUBLIC, author__role__in=["admin", "agent"]
        ).order_by("created_at", "id")
        first = staff_replies.first()
        if first is None:
            assert ticket.first_response_at is None
        else:
            assert ticket.first_response_at is not None
            assert ticket.first_response_at <= first.created_at


@pytest.mark.django_db
def test_random_service_sequences_keep_the_workflow_invariants() -> None:
    # Function-scoped fixtures and hypothesis do not mix: one world for the whole run, and
    # every example works on its own fresh ticket in it.
    machine = type("TicketWorkflowInWorld", (TicketWorkflow,), {"world": build_world()})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=60,
            stateful_step_count=30,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
