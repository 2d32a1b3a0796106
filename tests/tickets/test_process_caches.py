"""The per-process snapshots in tickets.selectors: the desk configuration (support lines and the
priority matrix, ``desk_config``) and the agents' scopes (``agent_scope``).

Creation reads the intake line and a matrix cell from them instead of the database, and every
agent request his scope; these tests pin down when a change becomes visible: at once in the
process that made it, within the TTL in the others.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from tests.factories import World
from tierdesk.accounts.models import User
from tierdesk.common import process_cache
from tierdesk.tickets import selectors, services
from tierdesk.tickets.choices import Impact, Priority, Urgency
from tierdesk.tickets.models import PriorityMatrixEntry, SupportLine, Team, Ticket

pytestmark = pytest.mark.django_db

LOW = {"impact": Impact.LOW, "urgency": Urgency.LOW}


def test_snapshot_is_read_once_then_served_without_queries(
    world: World, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(2):  # the lines and the matrix
        first = selectors.desk_config()
    with django_assert_num_queries(0):
        again = selectors.desk_config()
    assert again is first
    assert [line.code for line in first.active_lines] == ["L0", "L1", "L2", "L3", "L4"]
    assert first.priority(Impact.LOW, Urgency.LOW) == Priority.PLANNING


def test_another_process_change_is_seen_after_the_ttl(world: World, monkeypatch: Any) -> None:
    assert world.ticket(**LOW).priority == Priority.PLANNING  # snapshot taken
    # An UPDATE sends no signal: exactly what this process sees when another one (a second
    # server process, the worker) changes the matrix.
    PriorityMatrixEntry.objects.filter(**LOW).update(priority=Priority.CRITICAL)
    assert world.ticket(**LOW).priority == Priority.PLANNING  # still the snapshot

    clock = process_cache.time.monotonic() + selectors.DESK_CONFIG_TTL_SECONDS + 0.1
    monkeypatch.setattr(process_cache.time, "monotonic", lambda: clock)
    assert world.ticket(**LOW).priority == Priority.CRITICAL


def test_an_administrators_change_is_seen_at_once_in_this_process(world: World) -> None:
    assert world.ticket(**LOW).priority == Priority.PLANNING
    cell = PriorityMatrixEntry.objects.get(**LOW)
    cell.priority = Priority.HIGH
    services.save_desk_configuration(cell, actor=world.admin)
    assert world.ticket(**LOW).priority == Priority.HIGH


def test_a_deactivated_intake_line_sends_new_tickets_to_the_next_line(world: World) -> None:
    assert world.ticket().current_line.code == "L1"
    line = SupportLine.objects.get(code="L1")
    line.is_active = False
    services.save_desk_configuration(line, actor=world.admin)
    assert world.ticket().current_line.code == "L2"


def test_a_deleted_cell_falls_back_at_once(world: World) -> None:
    assert world.ticket(impact=Impact.HIGH, urgency=Urgency.HIGH).priority == Priority.CRITICAL
    cell = PriorityMatrixEntry.objects.get(impact=Impact.HIGH, urgency=Urgency.HIGH)
    cell.priority = Priority.LOW
    cell.save()
    assert world.ticket(impact=Impact.HIGH, urgency=Urgency.HIGH).priority == Priority.LOW
    PriorityMatrixEntry.objects.filter(pk=cell.pk).delete()
    assert world.ticket(impact=Impact.HIGH, urgency=Urgency.HIGH).priority == Priority.CRITICAL


def test_a_snapshot_taken_inside_the_changing_transaction_is_dropped_on_commit(
    world: World, django_assert_num_queries: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """Other threads must not keep a snapshot read before the commit; the commit drops it.
    (The test's own transaction never commits: the capture runs the on-commit callbacks.)"""
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        cell = PriorityMatrixEntry.objects.get(**LOW)
        cell.priority = Priority.MEDIUM
        services.save_desk_configuration(cell, actor=world.admin)
        assert selectors.desk_config().priority(Impact.LOW, Urgency.LOW) == Priority.MEDIUM
        with django_assert_num_queries(0):
            selectors.desk_config()  # cached inside the transaction
    assert callbacks  # the drop was registered for the commit, and has run
    with django_assert_num_queries(2):
        assert selectors.desk_config().priority(Impact.LOW, Urgency.LOW) == Priority.MEDIUM


# --- Agent scopes ----------------------------------------------------------------------------


def fresh_user(user: User) -> User:
    """The same person as a new object, as the next request's authentication would load him."""
    return User.objects.get(pk=user.pk)


def test_an_agents_scope_is_read_once_per_process(world: World, django_assert_num_queries: Any) -> None:
    selectors.agent_scope(fresh_user(world.l1))
    next_request = fresh_user(world.l1)
    with django_assert_num_queries(0):
        scope = selectors.agent_scope(next_request)
    assert scope.organisation_ids == {world.org_a.pk, world.org_b.pk}


def test_removal_from_a_team_takes_effect_at_once_in_this_process(world: World) -> None:
    ticket = world.ticket()
    assert Ticket.objects.restrict(fresh_user(world.l1)).filter(pk=ticket.pk).exists()
    services.set_team_members(world.teams["L1"], members=[], actor=world.admin)
    assert not Ticket.objects.restrict(fresh_user(world.l1)).filter(pk=ticket.pk).exists()


def test_a_team_dropping_an_organisation_takes_effect_at_once(world: World) -> None:
    ticket = world.ticket()  # org_a
    services.set_team_organisations(world.teams["L1"], organisations=[world.org_b], actor=world.admin)
    assert not Ticket.objects.restrict(fresh_user(world.l1)).filter(pk=ticket.pk).exists()


def test_another_processs_team_change_is_seen_after_the_ttl(world: World, monkeypatch: Any) -> None:
    ticket = world.ticket()
    assert Ticket.objects.restrict(fresh_user(world.l1)).filter(pk=ticket.pk).exists()
    Team.objects.filter(pk=world.teams["L1"].pk).update(is_active=False)  # no signal: "elsewhere"
    assert Ticket.objects.restrict(fresh_user(world.l1)).filter(pk=ticket.pk).exists()

    clock = process_cache.time.monotonic() + selectors.DESK_CONFIG_TTL_SECONDS + 0.1
    monkeypatch.setattr(process_cache.time, "monotonic", lambda: clock)
    assert not Ticket.objects.restrict(fresh_user(world.l1)).filter(pk=ticket.pk).exists()


def test_a_deactivated_agent_is_refused_at_once_despite_a_cached_scope(world: World, api: Any) -> None:
    """Scopes are cached; the person and his token are not: they are read on every request."""
    from tierdesk.accounts.services import update_user

    ticket = world.ticket()
    client = api(world.l1)
    assert client.get(f"tickets/{ticket.pk}").status_code == 200
    update_user(fresh_user(world.l1), actor=world.admin, changes={"is_active": False})
    assert client.get(f"tickets/{ticket.pk}").status_code == 401
