"""The audit trail: each service writes exactly its events, in the same transaction as the change."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.utils.dateparse import parse_datetime

from tests.factories import PASSWORD, World
from tests.tickets.helpers import assigned_ticket, events_since, last_audit_id, resolved_ticket, upload
from tierdesk.accounts.services import create_api_token, create_user, revoke_api_token, update_user
from tierdesk.audit.models import AuditEvent
from tierdesk.audit.services import record_event
from tierdesk.common import context
from tierdesk.common.errors import Conflict
from tierdesk.common.middleware import RequestIdMiddleware
from tierdesk.orgs.models import Site
from tierdesk.orgs.services import create_organisation, save_site, update_organisation
from tierdesk.tickets import selectors, services
from tierdesk.tickets.choices import Status
from tierdesk.tickets.models import Category, Escalation, SupportLine, Ticket
from tierdesk.tickets.services import lifecycle


def _only(since: int, *expected: str) -> list[AuditEvent]:
    events = events_since(since)
    assert [e.event_type for e in events] == list(expected)
    return events


def _targets(event: AuditEvent, obj: Any, *, renamed: bool = False) -> None:
    assert event.target_type == ContentType.objects.get_for_model(obj)
    assert event.target_id == obj.pk
    if not renamed:  # the label is the object's name at the time of the event
        assert event.target_repr == str(obj)[:200]


# --- every service writes exactly its events -------------------------------------------------


@pytest.mark.django_db
class TestTicketServicesAudit:
    def test_create(self, world: World) -> None:
        since = last_audit_id()
        ticket = world.ticket(actor=world.l1, requester=world.customer_a2)
        [event] = _only(since, "ticket.created")
        _targets(event, ticket)
        assert event.actor == world.l1 and event.actor_label == "l1"
        assert event.organisation == world.org_a
        assert event.old is None
        assert event.new["requester"] == world.customer_a2.pk

    def test_update(self, world: World) -> None:
        ticket = world.ticket()
        since = last_audit_id()
        services.update_ticket(ticket, actor=world.l1, changes={"description": "More detail"})
        [event] = _only(since, "ticket.updated")
        _targets(event, ticket)
        assert (event.old, event.new) == ({"description": ""}, {"description": "More detail"})
        assert event.organisation == world.org_a

    def test_transition_with_comment(self, world: World) -> None:
        ticket = assigned_ticket(world)
        since = last_audit_id()
        services.transition_ticket(
            ticket, to_status=Status.WAITING_CUSTOMER, actor=world.l1, comment="Asked for the log"
        )
        # Waiting for the customer stops the SLA clock: audited too.
        event, paused = _only(since, "ticket.status_changed", "ticket.sla_paused")
        assert (event.old, event.new) == ({"status": "assigned"}, {"status": "waiting_customer"})
        assert paused.new == {"status": "waiting_customer", "line": ticket.current_line_id}
        assert event.message == "Asked for the log"
        assert event.actor == world.l1

    def test_resolve_records_resolution_fields(self, world: World) -> None:
        ticket = assigned_ticket(world)
        since = last_audit_id()
        services.transition_ticket(ticket, to_status=Status.RESOLVED, actor=world.l1)
        event, met = _only(since, "ticket.status_changed", "ticket.sla_met")  # resolution target met
        assert met.new["target"] == "resolution"
        ticket.refresh_from_db()
        assert event.new["status"] == "resolved"
        assert event.new["first_contact_resolution"] is True
        recorded = parse_datetime(event.new["resolved_at"])
        assert recorded is not None and abs(recorded - ticket.resolved_at) < timedelta(milliseconds=1)

    def test_reopen(self, world: World) -> None:
        ticket = resolved_ticket(world)
        since = last_audit_id()
        services.transition_ticket(ticket, to_status=Status.IN_PROGRESS, actor=world.l1)
        [event] = _only(since, "ticket.reopened")
        assert event.old["status"] == "resolved" and event.old["first_contact_resolution"] is True
        assert event.new == {
            "status": "in_progress",
            "resolved_at": None,
            "first_contact_resolution": None,
            "reopen_count": 1,
        }

    def test_assign_and_reassign(self, world: World) -> None:
        ticket = world.ticket()
        since = last_audit_id()
        services.assign_ticket(ticket, assignee=world.l1, actor=world.admin)
        status, assigned = _only(since, "ticket.status_changed", "ticket.assigned")
        assert (status.old, status.new) == ({"status": "new"}, {"status": "assigned"})
        assert assigned.actor == world.admin
        since = last_audit_id()
        services.assign_ticket(ticket, assignee=world.admin, actor=world.admin)
        [event] = _only(since, "ticket.assigned")
        assert event.old["assignee"] == world.l1.pk and event.new["assignee"] == world.admin.pk

    def test_escalate_and_deescalate(self, world: World) -> None:
        ticket = world.ticket()
        since = last_audit_id()
        services.escalate_ticket(ticket, to_line=world.lines["L2"], actor=world.l1, reason="Network")
        [up] = _only(since, "ticket.escalated")
        assert up.message == "Network"
        assert (up.old["line"], up.new["line"]) == ("L1", "L2")
        since = last_audit_id()
        services.deescalate_ticket(ticket, to_line=world.lines["L1"], actor=world.l2, reason="Done")
        [down] = _only(since, "ticket.deescalated")
        assert (down.old["line"], down.new["line"]) == ("L2", "L1")
        assert down.actor == world.l2

    def test_conversation_and_files(self, world: World) -> None:
        ticket = world.ticket()
        since = last_audit_id()
        reply = services.add_public_reply(ticket, actor=world.l1, body="Hello")
        note = services.add_internal_note(ticket, actor=world.l1, body="Hm")
        att = services.add_attachment(ticket, actor=world.customer_a, file=upload(b"abc"), filename="a.txt")
        replied, met, noted, attached = _only(
            since, "ticket.replied", "ticket.sla_met", "ticket.note_added", "ticket.attachment_added"
        )
        assert met.new["target"] == "first_response"
        assert replied.new["entry"] == reply.pk
        assert noted.new["entry"] == note.pk
        assert attached.new["attachment"] == att.pk
        assert attached.actor == world.customer_a
        assert all(e.organisation == world.org_a for e in (replied, noted, attached))

    def test_system_actor_is_labelled(self, world: World) -> None:
        ticket = assigned_ticket(world)
        since = last_audit_id()
        services.transition_ticket(ticket, to_status=Status.RESOLVED, actor=None)
        event, met = _only(since, "ticket.status_changed", "ticket.sla_met")
        assert event.actor is None and event.actor_label == "system"
        assert met.actor is None and met.actor_label == "system"


@pytest.mark.django_db
class TestConfigurationAndPeopleAudit:
    def test_desk_configuration(self, world: World) -> None:
        since = last_audit_id()
        category = Category(name="Network")
        services.save_desk_configuration(category, actor=world.admin)
        [created] = _only(since, "category.created")
        _targets(created, category)
        assert created.organisation is None
        assert created.new["name"] == "Network" and created.new["is_active"] is True
        assert created.new.get("parent") is None

        line = SupportLine.objects.get(code="L2")
        line.time_budget_minutes = 120
        since = last_audit_id()
        services.save_desk_configuration(line, actor=world.admin)
        [updated] = _only(since, "line.updated")
        assert (updated.old, updated.new) == ({"time_budget_minutes": None}, {"time_budget_minutes": 120})

    def test_team_organisations(self, world: World) -> None:
        team = world.teams["L1-B"]
        since = last_audit_id()
        services.set_team_organisations(team, organisations=[world.org_a, world.org_b], actor=world.admin)
        [event] = _only(since, "team.updated")
        assert event.old == {"organisations": [world.org_b.pk]}
        assert event.new == {"organisations": sorted([world.org_a.pk, world.org_b.pk])}
        since = last_audit_id()
        services.set_team_organisations(team, organisations=[world.org_b, world.org_a], actor=world.admin)
        _only(since)

    def test_organisation_site_user_and_token(self, world: World) -> None:
        since = last_audit_id()
        org = create_organisation(actor=world.admin, name="Gamma")
        update_organisation(org, actor=world.admin, changes={"phone": "+7 495 000"})
        site = Site(organisation=org, name="HQ")
        save_site(site, actor=world.admin)
        user = create_user(
            actor=world.admin, username="gina", organisation=org, email="gina@gamma.test", password=PASSWORD
        )
        update_user(user, actor=world.admin, changes={"first_name": "Gina"})
        assert str(user) == "Gina"
        token, _raw = create_api_token(user, actor=world.admin, name="script")
        revoke_api_token(token, actor=world.admin)
        events = _only(
            since,
            "organisation.created",
            "organisation.updated",
            "site.created",
            "user.created",
            "user.updated",
            "token.created",
            "token.revoked",
        )
        for event, target in zip(events, [org, org, site, user, user, token, token], strict=True):
            _targets(event, target, renamed=target is user)
            assert event.organisation == org
            assert event.actor == world.admin


# --- same transaction ------------------------------------------------------------------------


@pytest.mark.django_db
def test_refused_service_rolls_back_the_events_it_already_wrote(world: World) -> None:
    """Moving an unassigned ticket "in progress" records the self-assignment before the status
    check; when the status check refuses (cancelled tickets are final) that event must go too."""
    ticket = world.ticket()
    services.transition_ticket(ticket, to_status=Status.CANCELLED, actor=world.customer_a)
    since, count = last_audit_id(), AuditEvent.objects.count()
    with pytest.raises(Conflict):
        services.transition_ticket(ticket, to_status=Status.IN_PROGRESS, actor=world.l1)
    assert AuditEvent.objects.count() == count
    assert events_since(since) == []
    stored = Ticket.objects.get(pk=ticket.pk)
    assert stored.assignee is None and stored.status == Status.CANCELLED


@pytest.mark.django_db
def test_failure_after_the_audit_event_rolls_back_change_and_event(world: World, monkeypatch: Any) -> None:
    ticket = world.ticket()

    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(lifecycle, "_event_entry", explode)  # runs after record_event()
    count = AuditEvent.objects.count()
    with pytest.raises(RuntimeError):
        services.escalate_ticket(ticket, to_line=world.lines["L2"], actor=world.l1, reason="Up")
    assert AuditEvent.objects.count() == count
    assert Escalation.objects.count() == 0
    assert Ticket.objects.get(pk=ticket.pk).current_line.code == "L1"


# These need real commits, so they run outside the per-test transaction; `committed_world`
# seeds again what the flush of an earlier transactional test erased.


def test_record_event_outside_a_transaction_raises(committed_world: World) -> None:
    world = committed_world
    count = AuditEvent.objects.count()
    assert not transaction.get_connection().in_atomic_block
    with pytest.raises(RuntimeError, match="inside the transaction"):
        record_event(
            world.org_a, event_type="organisation.updated", actor=world.admin, organisation=world.org_a
        )
    assert AuditEvent.objects.count() == count
    with transaction.atomic():
        record_event(
            world.org_a, event_type="organisation.updated", actor=world.admin, organisation=world.org_a
        )
    assert AuditEvent.objects.count() == count + 1


def test_committed_change_and_event_go_together(committed_world: World, monkeypatch: Any) -> None:
    world = committed_world
    ticket = world.ticket()
    count = AuditEvent.objects.count()
    services.escalate_ticket(ticket, to_line=world.lines["L2"], actor=world.l1, reason="Up")
    assert AuditEvent.objects.count() == count + 1
    assert Escalation.objects.filter(ticket=ticket).count() == 1

    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(lifecycle, "_save", explode)  # the very last step, after the event
    with pytest.raises(RuntimeError):
        services.deescalate_ticket(ticket, to_line=world.lines["L1"], actor=world.l2, reason="Down")
    assert AuditEvent.objects.count() == count + 1
    assert Escalation.objects.filter(ticket=ticket).count() == 1
    assert Ticket.objects.get(pk=ticket.pk).current_line.code == "L2"


# --- request ids -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_request_id_is_recorded(world: World) -> None:
    since = last_audit_id()
    world.ticket()
    assert events_since(since)[0].request_id == ""
    token = context.request_id.set("req-0123456789")
    try:
        since = last_audit_id()
        ticket = world.ticket()
        services.assign_ticket(ticket, assignee=world.l1, actor=world.l1)
    finally:
        context.request_id.reset(token)
    events = events_since(since)
    assert len(events) == 3
    assert {e.request_id for e in events} == {"req-0123456789"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("incoming", "kept"),
    [("abcd-1234.XYZ_9", True), ("bad id!", False), ("", False), ("short", False), ("x" * 65, False)],
)
def test_middleware_request_id_reaches_the_audit_trail(world: World, incoming: str, kept: bool) -> None:
    seen: list[AuditEvent] = []

    def view(request: HttpRequest) -> HttpResponse:
        since = last_audit_id()
        world.ticket()
        seen.extend(events_since(since))
        return HttpResponse("ok")

    headers = {"HTTP_X_REQUEST_ID": incoming} if incoming else {}
    response = RequestIdMiddleware(view)(RequestFactory().get("/", **headers))
    [event] = seen
    assert event.request_id == response["X-Request-ID"]
    if kept:
        assert event.request_id == incoming
    else:
        assert event.request_id != incoming and len(event.request_id) == 32
    assert context.request_id.get() == ""  # reset after the request


# --- history ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_ticket_history_is_the_tickets_events_oldest_first(world: World) -> None:
    ticket = world.ticket()
    other = world.ticket()
    services.assign_ticket(ticket, assignee=world.l1, actor=world.l1)
    services.add_internal_note(other, actor=world.l1, body="Other ticket")
    services.add_public_reply(ticket, actor=world.l1, body="Working on it")
    services.escalate_ticket(ticket, to_line=world.lines["L2"], actor=world.l1, reason="Up")
    services.transition_ticket(ticket, to_status=Status.RESOLVED, actor=world.l2)
    history = list(selectors.ticket_history(ticket))
    assert [e.event_type for e in history] == [
        "ticket.created",
        "ticket.status_changed",
        "ticket.assigned",
        "ticket.replied",
        "ticket.sla_met",  # the first response
        "ticket.status_changed",
        "ticket.escalated",
        "ticket.status_changed",
        "ticket.sla_met",  # the resolution
    ]
    assert [e.id for e in history] == sorted(e.id for e in history)
    assert all(a.created_at <= b.created_at for a, b in itertools.pairwise(history))
    assert {e.target_id for e in history} == {ticket.pk}
    assert [e.new["status"] for e in history if e.event_type == "ticket.status_changed"] == [
        "assigned",
        "new",
        "resolved",
    ]
