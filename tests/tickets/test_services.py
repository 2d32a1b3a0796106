"""The ticket services: the one write path for tickets, their workflow, conversation and files."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import World
from tests.tickets.helpers import (
    assigned_ticket,
    events_since,
    fresh,
    last_audit_id,
    refused,
    resolved_ticket,
    row_counts,
    stored_files,
    types_since,
    upload,
)
from tierdesk.accounts.services import update_user
from tierdesk.audit.models import AuditEvent
from tierdesk.common.errors import Conflict, DomainError, NotPermitted
from tierdesk.orgs.services import update_organisation
from tierdesk.tickets import services
from tierdesk.tickets.choices import DEFAULT_PRIORITY_MATRIX, EntryKind, Impact, Priority, Status, Urgency
from tierdesk.tickets.models import (
    Attachment,
    Category,
    DeskSettings,
    Escalation,
    PriorityMatrixEntry,
    SupportLine,
    Ticket,
    TicketEntry,
)

pytestmark = pytest.mark.django_db


# --- create_ticket ---------------------------------------------------------------------------


@pytest.mark.parametrize(("impact", "urgency"), sorted(DEFAULT_PRIORITY_MATRIX))
def test_create_ticket_takes_priority_from_the_matrix(world: World, impact: int, urgency: int) -> None:
    ticket = world.ticket(impact=impact, urgency=urgency)
    assert ticket.priority == DEFAULT_PRIORITY_MATRIX[(impact, urgency)]
    assert fresh(ticket).priority == DEFAULT_PRIORITY_MATRIX[(impact, urgency)]


def test_admin_edited_matrix_cell_changes_the_priority_of_new_tickets(world: World) -> None:
    assert world.ticket(impact=Impact.LOW, urgency=Urgency.LOW).priority == Priority.PLANNING
    cell = PriorityMatrixEntry.objects.get(impact=Impact.LOW, urgency=Urgency.LOW)
    cell.priority = Priority.CRITICAL
    since = last_audit_id()
    services.save_desk_configuration(cell, actor=world.admin)
    [event] = events_since(since)
    assert event.event_type == "priority_matrix.changed"
    assert (event.old, event.new) == ({"priority": Priority.PLANNING}, {"priority": Priority.CRITICAL})

    assert world.ticket(impact=Impact.LOW, urgency=Urgency.LOW).priority == Priority.CRITICAL
    # Other cells are untouched.
    assert world.ticket(impact=Impact.LOW, urgency=Urgency.MEDIUM).priority == Priority.LOW


def test_deleted_matrix_cell_falls_back_to_the_itil_default(world: World) -> None:
    PriorityMatrixEntry.objects.filter(impact=Impact.HIGH, urgency=Urgency.HIGH).delete()
    assert world.ticket(impact=Impact.HIGH, urgency=Urgency.HIGH).priority == Priority.CRITICAL


def test_only_admins_edit_the_matrix(world: World) -> None:
    cell = PriorityMatrixEntry.objects.get(impact=Impact.LOW, urgency=Urgency.LOW)
    cell.priority = Priority.CRITICAL
    with refused(NotPermitted):
        services.save_desk_configuration(cell, actor=world.l1)
    assert PriorityMatrixEntry.objects.get(pk=cell.pk).priority == Priority.PLANNING


def test_new_ticket_lands_unassigned_on_l1_and_is_audited(world: World) -> None:
    since = last_audit_id()
    ticket = world.ticket(subject="  VPN is down  ", description="Since 9:00")
    ticket = fresh(ticket)
    assert ticket.current_line.code == "L1"
    assert ticket.status == Status.NEW
    assert ticket.assignee is None and ticket.team is None
    assert ticket.subject == "VPN is down"  # stripped
    assert ticket.created_by == world.customer_a
    assert ticket.version == 1
    assert ticket.resolved_at is None and ticket.first_contact_resolution is None
    [event] = events_since(since)
    assert event.event_type == "ticket.created"
    assert event.actor == world.customer_a
    assert event.organisation_id == world.org_a.pk
    assert event.target_id == ticket.pk
    assert event.new["subject"] == "VPN is down"
    assert event.new["line"] == "L1"
    assert event.new["status"] == "new"
    assert event.new["priority"] == Priority.MEDIUM


def test_customer_cannot_route_his_own_ticket(world: World) -> None:
    ticket = world.ticket(line=world.lines["L3"], team=world.teams["L3"])
    assert ticket.current_line.code == "L1"
    assert ticket.team is None


def test_agent_may_file_directly_on_another_line(world: World) -> None:
    ticket = world.ticket(actor=world.l1, line=world.lines["L2"], team=world.teams["L2"])
    assert ticket.current_line.code == "L2"
    assert ticket.team == world.teams["L2"]
    assert ticket.created_by == world.l1


def test_intake_line_skips_an_inactive_l1(world: World) -> None:
    l1 = world.lines["L1"]
    l1.is_active = False
    services.save_desk_configuration(l1, actor=world.admin)
    assert world.ticket().current_line.code == "L2"


def test_team_must_be_on_the_tickets_line(world: World) -> None:
    with refused(DomainError, field="team"):
        world.ticket(actor=world.l1, line=world.lines["L1"], team=world.teams["L2"])


def test_inactive_category_is_refused(world: World) -> None:
    old = Category(name="Fax machines", is_active=False)
    services.save_desk_configuration(old, actor=world.admin)
    with refused(DomainError, field="category"):
        world.ticket(category=old)
    assert world.ticket(category=world.category).category == world.category


def test_customer_files_only_for_himself(world: World) -> None:
    with refused(NotPermitted):
        world.ticket(requester=world.customer_a2, actor=world.customer_a)
    with refused(NotPermitted):
        world.ticket(requester=world.customer_b, actor=world.customer_a)
    assert world.ticket(requester=world.customer_a, actor=world.customer_a).requester == world.customer_a


def test_manager_files_for_colleagues_but_not_for_other_organisations(world: World) -> None:
    ticket = world.ticket(requester=world.customer_a2, actor=world.manager_a)
    assert ticket.requester == world.customer_a2
    assert ticket.created_by == world.manager_a
    with refused(NotPermitted):
        world.ticket(requester=world.customer_b, actor=world.manager_a)


def test_requester_must_belong_to_the_organisation(world: World) -> None:
    with refused(DomainError, field="requester"):
        services.create_ticket(
            actor=world.admin, organisation=world.org_a, requester=world.customer_b, subject="Wrong org"
        )


def test_inactive_requester_is_refused(world: World) -> None:
    update_user(world.customer_a2, actor=world.admin, changes={"is_active": False})
    with refused(DomainError, field="requester"):
        world.ticket(requester=world.customer_a2, actor=world.admin)


def test_inactive_organisation_gets_no_tickets(world: World) -> None:
    update_organisation(world.org_a, actor=world.admin, changes={"is_active": False})
    with refused(DomainError, field="organisation"):
        world.ticket(actor=world.admin)


def test_agent_files_only_for_organisations_his_teams_serve(world: World) -> None:
    with refused(NotPermitted):
        world.ticket(requester=world.customer_a, actor=world.l1_b_only)
    assert world.ticket(requester=world.customer_b, actor=world.l1_b_only).organisation == world.org_b
    assert world.ticket(requester=world.customer_a, actor=world.l1).organisation == world.org_a
    assert world.ticket(requester=world.customer_b, actor=world.admin).organisation == world.org_b


@pytest.mark.parametrize(
    ("subject", "code"),
    [("", "required"), ("   \n\t ", "required"), ("x" * 251, "too_long"), ("bad\x00subject", "invalid")],
    ids=["empty", "blank", "too-long", "nul"],
)
def test_bad_subject_is_refused_and_nothing_is_written(world: World, subject: str, code: str) -> None:
    tickets_before, audit_before = Ticket.objects.count(), AuditEvent.objects.count()
    with refused(DomainError, field="subject", code=code):
        world.ticket(subject=subject)
    assert Ticket.objects.count() == tickets_before
    assert AuditEvent.objects.count() == audit_before


def test_subject_of_exactly_the_limit_is_accepted(world: World) -> None:
    assert len(world.ticket(subject="y" * 250).subject) == 250


def test_nul_in_description_is_refused(world: World) -> None:
    with refused(DomainError, field="description"):
        world.ticket(description="a\x00b")


# --- update_ticket ---------------------------------------------------------------------------


def test_update_audits_only_what_changed(world: World) -> None:
    ticket = world.ticket(subject="Old subject", description="Same text")
    since = last_audit_id()
    services.update_ticket(
        ticket, actor=world.l1, changes={"subject": "New subject", "description": "Same text"}
    )
    ticket = fresh(ticket)
    assert ticket.subject == "New subject"
    assert ticket.version == 2
    [event] = events_since(since)
    assert event.event_type == "ticket.updated"
    assert event.old == {"subject": "Old subject"}
    assert event.new == {"subject": "New subject"}
    assert event.actor == world.l1


def test_update_without_a_real_change_writes_nothing(world: World) -> None:
    ticket = world.ticket(subject="Same")
    before = row_counts()
    services.update_ticket(ticket, actor=world.l1, changes={"subject": "  Same  "})
    assert row_counts() == before
    assert fresh(ticket).version == 1


def test_update_recomputes_priority_from_impact_and_urgency(world: World) -> None:
    ticket = world.ticket(impact=Impact.MEDIUM, urgency=Urgency.MEDIUM)
    since = last_audit_id()
    services.update_ticket(ticket, actor=world.l1, changes={"impact": Impact.HIGH})
    ticket = fresh(ticket)
    assert ticket.priority == Priority.HIGH
    [event] = events_since(since)
    assert event.old == {"impact": Impact.MEDIUM, "priority": Priority.MEDIUM}
    assert event.new == {"impact": Impact.HIGH, "priority": Priority.HIGH}

    services.update_ticket(ticket, actor=world.l1, changes={"urgency": Urgency.HIGH})
    assert fresh(ticket).priority == Priority.CRITICAL


def test_update_with_a_stale_version_is_a_conflict(world: World) -> None:
    ticket = world.ticket(subject="Original")
    seen_version = ticket.version
    services.update_ticket(
        ticket, actor=world.l1, changes={"subject": "First edit"}, expected_version=seen_version
    )
    stale = Ticket.objects.get(pk=ticket.pk)
    with refused(Conflict, code="stale_version", ticket=ticket):
        services.update_ticket(
            stale, actor=world.admin, changes={"subject": "Second edit"}, expected_version=seen_version
        )
    assert fresh(ticket).subject == "First edit"


@pytest.mark.parametrize("who", ["customer_a", "manager_a"])
def test_customers_cannot_edit_tickets(world: World, who: str) -> None:
    ticket = world.ticket()
    with refused(NotPermitted, ticket=ticket):
        services.update_ticket(ticket, actor=getattr(world, who), changes={"subject": "Mine now"})


def test_agent_outside_the_tickets_organisation_cannot_edit(world: World) -> None:
    ticket = world.ticket()
    with refused(NotPermitted, ticket=ticket):
        services.update_ticket(ticket, actor=world.l1_b_only, changes={"subject": "Hijack"})


@pytest.mark.parametrize(
    "field", ["status", "priority", "assignee", "organisation", "current_line", "version"]
)
def test_workflow_fields_cannot_be_edited_directly(world: World, field: str) -> None:
    ticket = world.ticket()
    with refused(DomainError, ticket=ticket):
        services.update_ticket(ticket, actor=world.admin, changes={field: 1})


def test_requester_can_move_to_a_colleague_but_not_to_another_organisation(world: World) -> None:
    ticket = world.ticket()
    with refused(DomainError, field="requester", ticket=ticket):
        services.update_ticket(ticket, actor=world.l1, changes={"requester": world.customer_b})
    since = last_audit_id()
    services.update_ticket(ticket, actor=world.l1, changes={"requester": world.customer_a2})
    assert fresh(ticket).requester == world.customer_a2
    [event] = events_since(since)
    assert (event.old, event.new) == ({"requester": world.customer_a.pk}, {"requester": world.customer_a2.pk})


# --- transition_ticket -----------------------------------------------------------------------


def test_resolving_and_closing_stamp_their_times(world: World) -> None:
    ticket = assigned_ticket(world)
    start = timezone.now()
    services.transition_ticket(ticket, to_status=Status.RESOLVED, actor=world.l1)
    ticket = fresh(ticket)
    assert ticket.status == Status.RESOLVED
    assert ticket.resolved_at is not None and ticket.resolved_at >= start
    assert ticket.closed_at is None
    services.transition_ticket(ticket, to_status=Status.CLOSED, actor=world.l1)
    ticket = fresh(ticket)
    assert ticket.status == Status.CLOSED
    assert ticket.closed_at is not None and ticket.closed_at >= ticket.resolved_at


@pytest.mark.parametrize(
    ("final", "to_status"),
    [(final, s) for final in (Status.CLOSED, Status.CANCELLED) for s in Status],
)
def test_closed_and_cancelled_are_final(world: World, final: str, to_status: str) -> None:
    if final == Status.CLOSED:
        ticket = resolved_ticket(world)
        services.transition_ticket(ticket, to_status=Status.CLOSED, actor=world.l1)
    else:
        ticket = world.ticket()
        services.transition_ticket(ticket, to_status=Status.CANCELLED, actor=world.l1)
    with refused(Conflict, code="transition_not_allowed", ticket=ticket):
        services.transition_ticket(ticket, to_status=to_status, actor=world.admin)


def test_transition_outside_the_table_is_refused(world: World) -> None:
    ticket = world.ticket()  # new -> closed is not in the table
    with refused(Conflict, code="transition_not_allowed", ticket=ticket):
        services.transition_ticket(ticket, to_status=Status.CLOSED, actor=world.l1)


def test_unknown_status_is_refused(world: World) -> None:
    ticket = world.ticket()
    with refused(DomainError, field="status", ticket=ticket):
        services.transition_ticket(ticket, to_status="on_fire", actor=world.l1)


def test_in_progress_without_assignee_makes_the_agent_the_assignee(world: World) -> None:
    ticket = world.ticket()
    since = last_audit_id()
    services.transition_ticket(ticket, to_status=Status.IN_PROGRESS, actor=world.l1)
    ticket = fresh(ticket)
    assert ticket.status == Status.IN_PROGRESS
    assert ticket.assignee == world.l1
    assert ticket.team == world.teams["L1"]
    assert types_since(since) == ["ticket.assigned", "ticket.status_changed"]


def test_in_progress_keeps_an_existing_assignee(world: World) -> None:
    ticket = assigned_ticket(world)
    services.transition_ticket(ticket, to_status=Status.IN_PROGRESS, actor=world.admin)
    assert fresh(ticket).assignee == world.l1


def test_in_progress_by_the_system_needs_an_assignee(world: World) -> None:
    ticket = world.ticket()
    with refused(DomainError, ticket=ticket):
        services.transition_ticket(ticket, to_status=Status.IN_PROGRESS, actor=None)


def test_assigned_requires_an_assignee(world: World) -> None:
    ticket = world.ticket()
    with refused(DomainError, field="status", ticket=ticket):
        services.transition_ticket(ticket, to_status=Status.ASSIGNED, actor=world.l1)


def test_back_to_new_puts_the_ticket_in_the_queue_without_assignee(world: World) -> None:
    ticket = assigned_ticket(world)
    since = last_audit_id()
    services.transition_ticket(ticket, to_status=Status.NEW, actor=world.l1)
    ticket = fresh(ticket)
    assert ticket.status == Status.NEW and ticket.assignee is None
    [event] = events_since(since)
    assert event.old == {"status": "assigned", "assignee": world.l1.pk}
    assert event.new == {"status": "new", "assignee": None}


def test_agent_cannot_transition_tickets_of_organisations_he_does_not_serve(world: World) -> None:
    ticket = world.ticket()
    with refused(NotPermitted, ticket=ticket):
        services.transition_ticket(ticket, to_status=Status.CANCELLED, actor=world.l1_b_only)


def test_customer_may_cancel_his_open_request(world: World) -> None:
    ticket = assigned_ticket(world)
    services.transition_ticket(ticket, to_status=Status.CANCELLED, actor=world.customer_a)
    assert fresh(ticket).status == Status.CANCELLED


def test_customer_may_accept_a_resolution(world: World) -> None:
    ticket = resolved_ticket(world)
    services.transition_ticket(ticket, to_status=Status.CLOSED, actor=world.customer_a)
    ticket = fresh(ticket)
    assert ticket.status == Status.CLOSED and ticket.closed_at is not None


@pytest.mark.parametrize("asked", [Status.IN_PROGRESS, Status.NEW])
def test_customer_may_reopen_a_resolution(world: World, asked: str) -> None:
    ticket = resolved_ticket(world)
    since = last_audit_id()
    services.transition_ticket(ticket, to_status=asked, actor=world.customer_a)
    ticket = fresh(ticket)
    # Back to whoever holds it, whatever the customer asked for.
    assert ticket.status == Status.IN_PROGRESS
    assert ticket.assignee == world.l1
    assert ticket.reopen_count == 1
    assert ticket.resolved_at is None and ticket.first_contact_resolution is None
    [event] = events_since(since)
    assert event.event_type == "ticket.reopened"
    assert (event.old["status"], event.new["status"]) == ("resolved", "in_progress")


def test_reopened_ticket_without_assignee_returns_to_the_queue(world: World) -> None:
    ticket = world.ticket()
    services.transition_ticket(ticket, to_status=Status.RESOLVED, actor=world.l1)
    services.transition_ticket(ticket, to_status=Status.IN_PROGRESS, actor=world.customer_a)
    ticket = fresh(ticket)
    assert ticket.status == Status.NEW and ticket.assignee is None


@pytest.mark.parametrize(
    "to_status",
    [
        Status.ASSIGNED,
        Status.IN_PROGRESS,
        Status.WAITING_CUSTOMER,
        Status.WAITING_THIRD_PARTY,
        Status.RESOLVED,
    ],
)
def test_customer_cannot_drive_the_workflow(world: World, to_status: str) -> None:
    ticket = assigned_ticket(world)
    with refused(NotPermitted, ticket=ticket):
        services.transition_ticket(ticket, to_status=to_status, actor=world.customer_a)


def test_customer_cannot_reopen_a_closed_request(world: World) -> None:
    ticket = resolved_ticket(world)
    services.transition_ticket(ticket, to_status=Status.CLOSED, actor=world.customer_a)
    with refused(NotPermitted, ticket=ticket):
        services.transition_ticket(ticket, to_status=Status.IN_PROGRESS, actor=world.customer_a)


def test_customer_cannot_touch_a_colleagues_request_but_his_manager_can(world: World) -> None:
    ticket = world.ticket(requester=world.customer_a)
    with refused(NotPermitted, ticket=ticket):
        services.transition_ticket(ticket, to_status=Status.CANCELLED, actor=world.customer_a2)
    with refused(NotPermitted, ticket=ticket):
        services.transition_ticket(ticket, to_status=Status.CANCELLED, actor=world.manager_b)
    services.transition_ticket(ticket, to_status=Status.CANCELLED, actor=world.manager_a)
    assert fresh(ticket).status == Status.CANCELLED


def test_customer_reopen_after_the_window_is_refused(world: World) -> None:
    ticket = resolved_ticket(world)
    Ticket.objects.filter(pk=ticket.pk).update(resolved_at=timezone.now() - timedelta(days=8))
    with refused(DomainError, code="reopen_window_passed", ticket=ticket):
        services.transition_ticket(ticket, to_status=Status.IN_PROGRESS, actor=world.customer_a)
    # Staff may still reopen it.
    services.transition_ticket(ticket, to_status=Status.IN_PROGRESS, actor=world.l1)
    assert fresh(ticket).reopen_count == 1


# --- assign_ticket ---------------------------------------------------------------------------


def test_assigning_a_new_ticket_makes_it_assigned(world: World) -> None:
    ticket = world.ticket()
    since = last_audit_id()
    services.assign_ticket(ticket, assignee=world.l1, actor=world.l1)
    ticket = fresh(ticket)
    assert ticket.status == Status.ASSIGNED
    assert ticket.assignee == world.l1
    assert ticket.team == world.teams["L1"]
    assert ticket.version == 2
    assert types_since(since) == ["ticket.status_changed", "ticket.assigned"]
    assigned = events_since(since)[1]
    assert assigned.old == {"assignee": None, "team": None}
    assert assigned.new == {"assignee": world.l1.pk, "team": world.teams["L1"].pk}


@pytest.mark.parametrize("status", [Status.ASSIGNED, Status.IN_PROGRESS])
def test_unassigning_returns_the_ticket_to_the_queue(world: World, status: str) -> None:
    ticket = assigned_ticket(world)
    if status == Status.IN_PROGRESS:
        services.transition_ticket(ticket, to_status=status, actor=world.l1)
    services.assign_ticket(ticket, assignee=None, actor=world.l1)
    ticket = fresh(ticket)
    assert ticket.status == Status.NEW
    assert ticket.assignee is None


def test_unassigning_a_waiting_ticket_keeps_it_waiting(world: World) -> None:
    ticket = assigned_ticket(world)
    services.transition_ticket(ticket, to_status=Status.WAITING_THIRD_PARTY, actor=world.l1)
    services.assign_ticket(ticket, assignee=None, actor=world.admin)
    ticket = fresh(ticket)
    assert ticket.status == Status.WAITING_THIRD_PARTY and ticket.assignee is None


def test_reassigning_to_the_same_agent_writes_nothing(world: World) -> None:
    ticket = assigned_ticket(world)
    before, version = row_counts(), fresh(ticket).version
    services.assign_ticket(ticket, assignee=world.l1, actor=world.l1)
    assert row_counts() == before
    assert fresh(ticket).version == version


@pytest.mark.parametrize("who", ["l2", "l3", "l1_b_only", "customer_a"])
def test_assignee_must_be_in_a_team_on_the_line_serving_the_organisation(world: World, who: str) -> None:
    ticket = world.ticket()  # org A, L1
    with refused(DomainError, field="assignee", ticket=ticket):
        services.assign_ticket(ticket, assignee=getattr(world, who), actor=world.admin)


def test_team_given_must_contain_the_assignee_and_be_on_the_line(world: World) -> None:
    ticket = world.ticket()
    with refused(DomainError, field="team", ticket=ticket):
        services.assign_ticket(ticket, assignee=world.l1, actor=world.admin, team=world.teams["L2"])
    b_ticket = world.ticket(requester=world.customer_b)
    with refused(DomainError, field="assignee", ticket=b_ticket):
        services.assign_ticket(b_ticket, assignee=world.l1, actor=world.admin, team=world.teams["L1-B"])


def test_explicit_team_must_serve_the_tickets_organisation(world: World) -> None:
    ticket = world.ticket()  # org A, L1; team L1-B serves org B only
    with refused(DomainError, ticket=ticket):
        services.assign_ticket(ticket, assignee=world.l1_b_only, actor=world.admin, team=world.teams["L1-B"])


def test_inactive_agent_cannot_be_assigned(world: World) -> None:
    ticket = world.ticket()
    update_user(world.l1, actor=world.admin, changes={"is_active": False})
    with refused(DomainError, field="assignee", ticket=ticket):
        services.assign_ticket(ticket, assignee=world.l1, actor=world.admin)


def test_assignee_on_a_higher_line_must_be_on_that_line(world: World) -> None:
    ticket = world.ticket()
    services.escalate_ticket(ticket, to_line=world.lines["L2"], actor=world.l1, reason="Needs network team")
    with refused(DomainError, field="assignee", ticket=ticket):
        services.assign_ticket(ticket, assignee=world.l1, actor=world.admin)
    services.assign_ticket(ticket, assignee=world.l2, actor=world.admin)
    ticket = fresh(ticket)
    assert ticket.assignee == world.l2 and ticket.team == world.teams["L2"]


@pytest.mark.parametrize("who", ["customer_a", "manager_a", "l1_b_only"])
def test_only_staff_covering_the_ticket_assign(world: World, who: str) -> None:
    ticket = world.ticket()
    with refused(NotPermitted, ticket=ticket):
        services.assign_ticket(ticket, assignee=world.l1, actor=getattr(world, who))


@pytest.mark.parametrize("final", [Status.RESOLVED, Status.CLOSED, Status.CANCELLED])
def test_tickets_that_are_not_open_cannot_be_assigned(world: World, final: str) -> None:
    ticket = resolved_ticket(world)
    if final == Status.CLOSED:
        services.transition_ticket(ticket, to_status=final, actor=world.l1)
    elif final == Status.CANCELLED:
        ticket = world.ticket()
        services.transition_ticket(ticket, to_status=final, actor=world.l1)
    with refused(Conflict, code="not_open", ticket=ticket):
        services.assign_ticket(ticket, assignee=world.l1, actor=world.admin)


# --- escalate / deescalate -------------------------------------------------------------------


def test_escalation_moves_the_ticket_up_into_the_next_queue(world: World) -> None:
    ticket = assigned_ticket(world)
    services.transition_ticket(ticket, to_status=Status.IN_PROGRESS, actor=world.l1)
    since = last_audit_id()
    services.escalate_ticket(
        ticket,
        to_line=world.lines["L2"],
        actor=world.l1,
        reason="  Needs a firewall change ",
        team=world.teams["L2"],
    )
    ticket = fresh(ticket)
    assert ticket.current_line.code == "L2"
    assert ticket.team == world.teams["L2"]
    assert ticket.assignee is None
    assert ticket.status == Status.NEW
    assert ticket.escalation_count == 1
    [esc] = Escalation.objects.filter(ticket=ticket)
    assert esc.direction == "up"
    assert (esc.from_line.code, esc.to_line.code) == ("L1", "L2")
    assert (esc.from_team, esc.to_team) == (world.teams["L1"], world.teams["L2"])
    assert esc.reason == "Needs a firewall change"
    assert esc.actor == world.l1
    assert types_since(since) == ["ticket.status_changed", "ticket.escalated"]
    escalated = events_since(since)[1]
    assert escalated.old == {"line": "L1", "team": world.teams["L1"].pk, "assignee": world.l1.pk}
    assert escalated.new == {"line": "L2", "team": world.teams["L2"].pk, "assignee": None}
    assert escalated.message == "Needs a firewall change"
    # Staff see the escalation in the conversation.
    assert (
        TicketEntry.objects.filter(ticket=ticket, kind=EntryKind.EVENT, event="ticket.escalated").count() == 1
    )


def test_escalating_a_waiting_ticket_keeps_its_status_but_drops_the_assignee(world: World) -> None:
    ticket = assigned_ticket(world)
    services.transition_ticket(ticket, to_status=Status.WAITING_THIRD_PARTY, actor=world.l1)
    services.escalate_ticket(ticket, to_line=world.lines["L3"], actor=world.l1, reason="Vendor bug")
    ticket = fresh(ticket)
    assert ticket.status == Status.WAITING_THIRD_PARTY
    assert ticket.assignee is None
    assert ticket.current_line.code == "L3"
    assert ticket.escalation_count == 1


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_escalation_needs_a_reason(world: World, reason: str | None) -> None:
    ticket = assigned_ticket(world)
    with refused(DomainError, field="reason", code="required", ticket=ticket):
        services.escalate_ticket(ticket, to_line=world.lines["L2"], actor=world.l1, reason=reason)  # type: ignore[arg-type]


def test_escalation_reason_has_a_limit(world: World) -> None:
    ticket = world.ticket()
    with refused(DomainError, field="reason", code="too_long", ticket=ticket):
        services.escalate_ticket(ticket, to_line=world.lines["L2"], actor=world.l1, reason="r" * 2001)


@pytest.mark.parametrize("line", ["L0", "L1"])
def test_escalation_must_go_up(world: World, line: str) -> None:
    ticket = world.ticket()
    with refused(DomainError, field="to_line", ticket=ticket):
        services.escalate_ticket(ticket, to_line=world.lines[line], actor=world.l1, reason="Sideways")


@pytest.mark.parametrize("line", ["L2", "L3"])
def test_deescalation_must_go_down(world: World, line: str) -> None:
    ticket = world.ticket()
    services.escalate_ticket(ticket, to_line=world.lines["L2"], actor=world.l1, reason="Up")
    with refused(DomainError, field="to_line", ticket=ticket):
        services.deescalate_ticket(ticket, to_line=world.lines[line], actor=world.l2, reason="Not down")


def test_deescalation_returns_the_ticket_without_counting_an_escalation(world: World) -> None:
    ticket = world.ticket()
    services.escalate_ticket(ticket, to_line=world.lines["L3"], actor=world.l1, reason="Experts")
    services.assign_ticket(ticket, assignee=world.l3, actor=world.l3)
    since = last_audit_id()
    services.deescalate_ticket(
        ticket,
        to_line=world.lines["L2"],
        actor=world.l3,
        reason="Fixed, tell the customer",
        team=world.teams["L2"],
    )
    ticket = fresh(ticket)
    assert ticket.current_line.code == "L2"
    assert ticket.escalation_count == 1
    assert ticket.assignee is None and ticket.status == Status.NEW
    down = Escalation.objects.filter(ticket=ticket).order_by("id").last()
    assert down is not None
    assert down.direction == "down"
    assert (down.from_line.code, down.to_line.code) == ("L3", "L2")
    assert (down.from_team, down.to_team) == (world.teams["L3"], world.teams["L2"])
    assert types_since(since) == ["ticket.status_changed", "ticket.deescalated"]


def test_escalation_team_must_be_on_the_target_line(world: World) -> None:
    ticket = world.ticket()
    with refused(DomainError, field="team", ticket=ticket):
        services.escalate_ticket(
            ticket, to_line=world.lines["L2"], actor=world.l1, reason="Up", team=world.teams["L3"]
        )


def test_escalation_to_an_inactive_line_is_refused(world: World) -> None:
    l4 = world.lines["L4"]
    l4.is_active = False
    services.save_desk_configuration(l4, actor=world.admin)
    ticket = world.ticket()
    with refused(DomainError, field="to_line", ticket=ticket):
        services.escalate_ticket(ticket, to_line=world.lines["L4"], actor=world.admin, reason="Vendor")


@pytest.mark.parametrize("final", [Status.RESOLVED, Status.CLOSED, Status.CANCELLED])
def test_closed_tickets_cannot_be_escalated(world: World, final: str) -> None:
    ticket = world.ticket()
    if final == Status.CANCELLED:
        services.transition_ticket(ticket, to_status=final, actor=world.l1)
    else:
        services.transition_ticket(ticket, to_status=Status.RESOLVED, actor=world.l1)
        if final == Status.CLOSED:
            services.transition_ticket(ticket, to_status=final, actor=world.l1)
    with refused(Conflict, code="not_open", ticket=ticket):
        services.escalate_ticket(ticket, to_line=world.lines["L2"], actor=world.admin, reason="Too late")


@pytest.mark.parametrize("who", ["customer_a", "l1_b_only"])
def test_only_covering_staff_escalate(world: World, who: str) -> None:
    ticket = world.ticket()
    with refused(NotPermitted, ticket=ticket):
        services.escalate_ticket(
            ticket, to_line=world.lines["L2"], actor=getattr(world, who), reason="Please"
        )


def test_l1_cannot_move_a_ticket_once_it_left_his_line(world: World) -> None:
    ticket = world.ticket()
    services.escalate_ticket(ticket, to_line=world.lines["L2"], actor=world.l1, reason="Up")
    with refused(NotPermitted, ticket=ticket):
        services.escalate_ticket(ticket, to_line=world.lines["L3"], actor=world.l1, reason="Further up")


# --- conversation ----------------------------------------------------------------------------


def test_l3_cannot_reply_publicly_but_may_write_internal_notes(world: World) -> None:
    ticket = world.ticket()
    services.escalate_ticket(ticket, to_line=world.lines["L3"], actor=world.l1, reason="Experts")
    with refused(NotPermitted, code="line_may_not_contact_customer", ticket=ticket):
        services.add_public_reply(ticket, actor=world.l3, body="Hello customer")
    since = last_audit_id()
    note = services.add_internal_note(ticket, actor=world.l3, body="Root cause: expired certificate")
    assert note.kind == EntryKind.INTERNAL
    assert note.author == world.l3
    assert types_since(since) == ["ticket.note_added"]
    ticket = fresh(ticket)
    assert ticket.first_response_at is None  # a note is not a response to the customer


def test_customers_cannot_write_internal_notes(world: World) -> None:
    ticket = world.ticket()
    with refused(NotPermitted, ticket=ticket):
        services.add_internal_note(ticket, actor=world.customer_a, body="Let me in")


def test_first_response_is_set_once_by_the_first_staff_reply(world: World) -> None:
    ticket = world.ticket()
    services.add_public_reply(ticket, actor=world.customer_a, body="Any news?")
    services.add_internal_note(ticket, actor=world.l1, body="Looking")
    assert fresh(ticket).first_response_at is None
    services.add_public_reply(ticket, actor=world.l1, body="We are on it")
    first = fresh(ticket).first_response_at
    assert first is not None
    services.add_public_reply(ticket, actor=world.l1, body="Still on it")
    services.add_public_reply(ticket, actor=world.customer_a, body="Thanks")
    assert fresh(ticket).first_response_at == first


def test_public_reply_is_audited_and_visible_as_a_public_entry(world: World) -> None:
    ticket = world.ticket()
    since = last_audit_id()
    entry = services.add_public_reply(ticket, actor=world.l1, body="  Please restart  ", channel="email")
    assert entry.kind == EntryKind.PUBLIC and entry.body == "Please restart" and entry.channel == "email"
    event, met = events_since(since)
    assert event.event_type == "ticket.replied"
    assert event.new == {"entry": entry.pk, "length": len("Please restart")}
    assert (met.event_type, met.new["target"]) == ("ticket.sla_met", "first_response")  # the SLA's verdict
    assert fresh(ticket).version == 2


@pytest.mark.parametrize(("assignee", "expected"), [(True, Status.IN_PROGRESS), (False, Status.NEW)])
def test_customer_reply_on_a_waiting_ticket_hands_it_back(
    world: World, assignee: bool, expected: str
) -> None:
    ticket = assigned_ticket(world) if assignee else world.ticket()
    services.transition_ticket(ticket, to_status=Status.WAITING_CUSTOMER, actor=world.l1)
    since = last_audit_id()
    services.add_public_reply(ticket, actor=world.customer_a, body="Here is the log")
    ticket = fresh(ticket)
    assert ticket.status == expected
    # The customer's answer restarts the SLA clock that waiting for him had stopped.
    assert types_since(since) == ["ticket.status_changed", "ticket.replied", "ticket.sla_resumed"]


def test_staff_reply_does_not_change_a_waiting_ticket(world: World) -> None:
    ticket = assigned_ticket(world)
    services.transition_ticket(ticket, to_status=Status.WAITING_CUSTOMER, actor=world.l1)
    services.add_public_reply(ticket, actor=world.l1, body="Reminder: please send the log")
    assert fresh(ticket).status == Status.WAITING_CUSTOMER


def test_customer_reply_within_the_window_reopens_the_ticket(world: World) -> None:
    ticket = resolved_ticket(world)
    Ticket.objects.filter(pk=ticket.pk).update(resolved_at=timezone.now() - timedelta(days=6, hours=23))
    since = last_audit_id()
    services.add_public_reply(ticket, actor=world.customer_a, body="It broke again")
    ticket = fresh(ticket)
    assert ticket.status == Status.IN_PROGRESS
    assert ticket.reopen_count == 1
    assert ticket.resolved_at is None
    assert types_since(since) == ["ticket.reopened", "ticket.replied"]


def test_customer_reply_after_the_window_is_refused(world: World) -> None:
    ticket = resolved_ticket(world)
    Ticket.objects.filter(pk=ticket.pk).update(resolved_at=timezone.now() - timedelta(days=7, minutes=1))
    with refused(DomainError, code="reopen_window_passed", ticket=ticket):
        services.add_public_reply(ticket, actor=world.customer_a, body="It broke again")


def test_reopen_window_is_read_from_desk_settings(world: World) -> None:
    desk = DeskSettings.load()
    desk.reopen_window_days = 2
    services.save_desk_configuration(desk, actor=world.admin)
    old = resolved_ticket(world)
    Ticket.objects.filter(pk=old.pk).update(resolved_at=timezone.now() - timedelta(days=3))
    with refused(DomainError, code="reopen_window_passed", ticket=old):
        services.add_public_reply(old, actor=world.customer_a, body="Again")
    recent = resolved_ticket(world)
    Ticket.objects.filter(pk=recent.pk).update(resolved_at=timezone.now() - timedelta(days=1))
    services.add_public_reply(recent, actor=world.customer_a, body="Again")
    assert fresh(recent).reopen_count == 1


@pytest.mark.parametrize("final", [Status.CLOSED, Status.CANCELLED])
@pytest.mark.parametrize("who", ["customer_a", "l1", "admin"])
def test_closed_tickets_refuse_replies(world: World, final: str, who: str) -> None:
    ticket = resolved_ticket(world)
    if final == Status.CLOSED:
        services.transition_ticket(ticket, to_status=final, actor=world.l1)
    else:
        ticket = world.ticket()
        services.transition_ticket(ticket, to_status=final, actor=world.customer_a)
    with refused(Conflict, code="not_open", ticket=ticket):
        services.add_public_reply(ticket, actor=getattr(world, who), body="Hello?")


@pytest.mark.parametrize("who", ["customer_a2", "customer_b", "manager_b", "l1_b_only"])
def test_outsiders_cannot_reply(world: World, who: str) -> None:
    ticket = world.ticket()
    with refused(NotPermitted, ticket=ticket):
        services.add_public_reply(ticket, actor=getattr(world, who), body="Hi")


def test_manager_may_reply_on_a_colleagues_ticket(world: World) -> None:
    ticket = world.ticket()
    entry = services.add_public_reply(ticket, actor=world.manager_a, body="I confirm")
    assert entry.author == world.manager_a
    assert fresh(ticket).first_response_at is None


def test_empty_reply_is_refused(world: World) -> None:
    ticket = world.ticket()
    with refused(DomainError, field="body", code="required", ticket=ticket):
        services.add_public_reply(ticket, actor=world.l1, body="  ")


# --- first-contact resolution ----------------------------------------------------------------


def test_resolved_at_l1_without_escalation_is_a_first_contact_resolution(world: World) -> None:
    ticket = resolved_ticket(world)
    assert fresh(ticket).first_contact_resolution is True


def test_escalated_ticket_is_not_a_first_contact_resolution(world: World) -> None:
    ticket = world.ticket()
    services.escalate_ticket(ticket, to_line=world.lines["L2"], actor=world.l1, reason="Up")
    services.transition_ticket(ticket, to_status=Status.RESOLVED, actor=world.l2)
    assert fresh(ticket).first_contact_resolution is False


def test_ticket_escalated_and_returned_to_l1_is_not_a_first_contact_resolution(world: World) -> None:
    ticket = world.ticket()
    services.escalate_ticket(ticket, to_line=world.lines["L2"], actor=world.l1, reason="Up")
    services.deescalate_ticket(ticket, to_line=world.lines["L1"], actor=world.l2, reason="Down")
    services.transition_ticket(ticket, to_status=Status.RESOLVED, actor=world.l1)
    ticket = fresh(ticket)
    assert ticket.current_line.code == "L1"
    assert ticket.first_contact_resolution is False


def test_reopened_and_resolved_again_is_not_a_first_contact_resolution(world: World) -> None:
    ticket = resolved_ticket(world)
    assert fresh(ticket).first_contact_resolution is True
    services.add_public_reply(ticket, actor=world.customer_a, body="Still broken")
    assert fresh(ticket).first_contact_resolution is None
    services.transition_ticket(ticket, to_status=Status.RESOLVED, actor=world.l1)
    assert fresh(ticket).first_contact_resolution is False


def test_ticket_filed_directly_on_l2_is_not_a_first_contact_resolution(world: World) -> None:
    ticket = world.ticket(actor=world.l2, line=world.lines["L2"])
    services.transition_ticket(ticket, to_status=Status.RESOLVED, actor=world.l2)
    assert fresh(ticket).first_contact_resolution is False


# --- attachments -----------------------------------------------------------------------------


def test_attachment_is_stored_under_its_content_hash(world: World) -> None:
    ticket = world.ticket()
    data = b"%PDF-1.4 fake report"
    digest = hashlib.sha256(data).hexdigest()
    since = last_audit_id()
    att = services.add_attachment(ticket, actor=world.customer_a, file=upload(data), filename="report.pdf")
    assert att.sha256 == digest
    assert att.size == len(data)
    assert att.filename == "report.pdf"
    assert att.content_type == "application/pdf"
    assert att.file.name == f"attachments/{digest[:2]}/{digest[2:4]}/{digest}"
    with att.file.open("rb") as fh:
        assert fh.read() == data
    [event] = events_since(since)
    assert event.event_type == "ticket.attachment_added"
    assert event.new == {"attachment": att.pk, "filename": "report.pdf", "size": len(data), "sha256": digest}


def test_same_bytes_uploaded_twice_are_stored_once(world: World) -> None:
    first, second = world.ticket(), world.ticket()
    data = b"identical screenshot bytes"
    a = services.add_attachment(first, actor=world.customer_a, file=upload(data), filename="one.png")
    b = services.add_attachment(second, actor=world.l1, file=upload(data), filename="two.png")
    assert a.pk != b.pk
    assert a.file.name == b.file.name
    assert len(stored_files()) == 1
    c = services.add_attachment(first, actor=world.l1, file=upload(b"other bytes"), filename="three.png")
    assert c.file.name != a.file.name
    assert len(stored_files()) == 2


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("a\\b\\evil.exe", "evil.exe"),
        ("C:\\Users\\x\\report.docx", "report.docx"),
        ("in\x00voice\x07.pdf", "invoice.pdf"),
        ("line\nbreak\r.txt", "linebreak.txt"),
        ("evil\u202egpj.exe", "evilgpj.exe"),  # right-to-left override removed
        ("Отчёт за май.xlsx", "Отчёт_за_май.xlsx"),
        ("..", "attachment"),
        ("", "attachment"),
        ("/", "attachment"),
        (".htaccess", "htaccess"),
    ],
)
def test_safe_filename(raw: str, expected: str) -> None:
    assert services.safe_filename(raw) == expected


def test_safe_filename_truncates_long_names_keeping_the_extension() -> None:
    name = services.safe_filename("a" * 400 + ".pdf")
    assert len(name) <= 150
    assert name.endswith(".pdf")
    assert name.startswith("aaaa")
    cyrillic = services.safe_filename("ж" * 400 + ".docx")
    assert len(cyrillic) <= 150 and cyrillic.endswith(".docx")
    no_ext = services.safe_filename("b" * 400)
    assert 0 < len(no_ext) <= 150


def test_unsafe_filename_is_cleaned_on_upload(world: World) -> None:
    ticket = world.ticket()
    att = services.add_attachment(ticket, actor=world.l1, file=upload(b"x"), filename="../../etc/passwd")
    assert att.filename == "passwd"
    assert att.content_type == "application/octet-stream"
    assert ".." not in att.file.name


def test_attachment_over_the_limit_is_refused_and_nothing_is_stored(world: World, settings: object) -> None:
    settings.TIERDESK_MAX_ATTACHMENT_BYTES = 10  # type: ignore[attr-defined]
    ticket = world.ticket()
    with refused(services.TooLarge, code="too_large", field="file", ticket=ticket) as info:
        services.add_attachment(ticket, actor=world.customer_a, file=upload(b"x" * 11), filename="big.bin")
    assert info.value.status_code == 413
    assert stored_files() == []
    att = services.add_attachment(ticket, actor=world.customer_a, file=upload(b"x" * 10), filename="ok.bin")
    assert att.size == 10
    assert len(stored_files()) == 1


def test_empty_file_is_refused(world: World) -> None:
    ticket = world.ticket()
    with refused(DomainError, field="file", ticket=ticket):
        services.add_attachment(ticket, actor=world.customer_a, file=upload(b""), filename="empty.txt")
    assert stored_files() == []


def test_files_on_internal_notes_are_internal(world: World) -> None:
    ticket = world.ticket()
    note = services.add_internal_note(ticket, actor=world.l1, body="Memory dump")
    reply = services.add_public_reply(ticket, actor=world.l1, body="Screenshot attached")
    internal = services.add_attachment(
        ticket, actor=world.l1, file=upload(b"dump"), filename="dump.bin", entry=note
    )
    public = services.add_attachment(
        ticket, actor=world.l1, file=upload(b"shot"), filename="shot.png", entry=reply
    )
    loose = services.add_attachment(ticket, actor=world.customer_a, file=upload(b"log"), filename="log.txt")
    assert (internal.is_internal, public.is_internal, loose.is_internal) == (True, False, False)
    assert internal.entry == note


def test_entry_of_another_ticket_is_refused(world: World) -> None:
    ticket, other = world.ticket(), world.ticket()
    note = services.add_internal_note(other, actor=world.l1, body="Elsewhere")
    with refused(DomainError, field="entry", ticket=ticket):
        services.add_attachment(ticket, actor=world.l1, file=upload(b"data"), filename="a.txt", entry=note)


@pytest.mark.parametrize("who", ["customer_a2", "customer_b", "l1_b_only"])
def test_outsiders_cannot_attach(world: World, who: str) -> None:
    ticket = world.ticket()
    with refused(NotPermitted, ticket=ticket):
        services.add_attachment(ticket, actor=getattr(world, who), file=upload(b"data"), filename="a.txt")
    assert stored_files() == []


def test_customer_cannot_attach_to_a_closed_request(world: World) -> None:
    ticket = world.ticket()
    services.transition_ticket(ticket, to_status=Status.CANCELLED, actor=world.customer_a)
    with refused(Conflict, code="not_open", ticket=ticket):
        services.add_attachment(ticket, actor=world.customer_a, file=upload(b"data"), filename="a.txt")
    assert Attachment.objects.count() == 0


# --- desk configuration ----------------------------------------------------------------------


def test_configuration_saved_unchanged_writes_no_event(world: World) -> None:
    since = last_audit_id()
    services.save_desk_configuration(SupportLine.objects.get(code="L2"), actor=world.admin)
    assert events_since(since) == []


def test_team_membership_is_admin_only_and_agents_only(world: World) -> None:
    team = world.teams["L2"]
    with refused(NotPermitted):
        services.set_team_members(team, members=[world.l1], actor=world.l2)
    with refused(DomainError, field="members"):
        services.set_team_members(team, members=[world.customer_a], actor=world.admin)
    since = last_audit_id()
    services.set_team_members(team, members=[world.l2, world.l1], actor=world.admin)
    [event] = events_since(since)
    assert event.event_type == "team.updated"
    assert event.old == {"members": [world.l2.pk]}
    assert event.new == {"members": sorted([world.l1.pk, world.l2.pk])}


def test_a_request_is_created_with_its_files_in_one_step(world: World, settings: object) -> None:
    from django.core.files.base import ContentFile

    ticket = services.create_ticket(
        actor=world.customer_a,
        organisation=world.org_a,
        requester=world.customer_a,
        subject="Scanner",
        files=[("scan.pdf", ContentFile(b"%PDF-1.7 scan")), ("../../etc/passwd", ContentFile(b"x"))],
    )
    stored = {a.filename: a for a in ticket.attachments.all()}
    assert set(stored) == {"scan.pdf", "passwd"}  # names made safe as for any upload
    assert stored["scan.pdf"].file.read() == b"%PDF-1.7 scan"
    assert stored["scan.pdf"].uploaded_by == world.customer_a
    assert not stored["scan.pdf"].is_internal
    events = AuditEvent.objects.filter(target_id=ticket.pk, event_type__startswith="ticket.").order_by("id")
    added = "ticket.attachment_added"
    assert [e.event_type for e in events] == ["ticket.created", added, added]
    ticket.refresh_from_db()
    assert ticket.version == 1  # no second save: the files went in with the ticket

    settings.TIERDESK_MAX_ATTACHMENT_BYTES = 10  # type: ignore[attr-defined]
    count = Ticket.objects.count()
    with pytest.raises(services.TooLarge):
        services.create_ticket(
            actor=world.customer_a,
            organisation=world.org_a,
            requester=world.customer_a,
            subject="Too big",
            files=[("big.bin", ContentFile(b"x" * 11))],
        )
    assert Ticket.objects.count() == count  # the whole request is refused, nothing half-made
