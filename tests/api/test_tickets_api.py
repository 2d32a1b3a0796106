"""The ticket API end to end: filters, keyset pagination, create/read/edit, workflow, conversation,
history, and the small read-only endpoints (/me, /organisations, /lines, /teams, /categories)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from tests.api.helpers import assert_error, assert_validation_error, db_state
from tests.factories import World
from tierdesk.accounts.models import User
from tierdesk.audit.models import AuditEvent
from tierdesk.tickets import services
from tierdesk.tickets.choices import EntryKind, Impact, Status, TicketType, Urgency
from tierdesk.tickets.models import Escalation, Ticket


def ids(response: Any) -> set[int]:
    assert response.status_code == 200, response.content[:500]
    return {item["id"] for item in response.json()["items"]}


# --- Filters ---------------------------------------------------------------------------------


@dataclass
class Queue:
    vpn: Ticket  # org A, priority 1, category, "VPN" in the subject
    request: Ticket  # org A, requested by customer_a2, a service request, assigned to l1 (team L1)
    on_l2: Ticket  # org A, escalated to L2
    resolved: Ticket  # org A, resolved
    beta: Ticket  # org B, priority 5


@pytest.fixture
def queue(world: World) -> Queue:
    vpn = world.ticket(
        subject="The VPN is down", impact=Impact.HIGH, urgency=Urgency.HIGH, category=world.category
    )
    request = world.ticket(
        requester=world.customer_a2, subject="New laptop please", type=TicketType.SERVICE_REQUEST
    )
    services.assign_ticket(request, assignee=world.l1, actor=world.l1)
    on_l2 = world.ticket(subject="Server slow")
    services.escalate_ticket(on_l2, to_line=world.lines["L2"], actor=world.l1, reason="needs the second line")
    resolved = world.ticket(subject="Password reset")
    services.transition_ticket(resolved, to_status=Status.RESOLVED, actor=world.l1)
    beta = world.ticket(
        requester=world.customer_b, subject="Printer jammed", impact=Impact.LOW, urgency=Urgency.LOW
    )
    return Queue(vpn=vpn, request=request, on_l2=on_l2, resolved=resolved, beta=beta)


def test_list_without_filters_shows_everything_the_admin_may_see(
    world: World, api: Any, queue: Queue
) -> None:
    body = api(world.admin).get("tickets").json()
    assert {t["id"] for t in body["items"]} == {t.pk for t in vars(queue).values()}
    assert body["next_cursor"] is None
    by_id = {t["id"]: t for t in body["items"]}
    vpn = by_id[queue.vpn.pk]
    assert vpn["number"] == queue.vpn.number
    assert vpn["priority"] == 1
    assert vpn["organisation"] == {"id": world.org_a.pk, "name": "Alpha Ltd"}
    assert vpn["category"]["id"] == world.category.pk
    assert by_id[queue.request.pk]["assignee"]["id"] == world.l1.pk
    assert by_id[queue.on_l2.pk]["line"] == "L2"


def test_filter_by_organisation(world: World, api: Any, queue: Queue) -> None:
    client = api(world.admin)
    assert ids(client.get("tickets", {"organisation": world.org_b.pk})) == {queue.beta.pk}
    assert ids(client.get("tickets", {"organisation": world.org_a.pk})) == {
        queue.vpn.pk,
        queue.request.pk,
        queue.on_l2.pk,
        queue.resolved.pk,
    }


def test_filter_by_status_single_and_repeated(world: World, api: Any, queue: Queue) -> None:
    client = api(world.admin)
    assert ids(client.get("tickets", {"status": "new"})) == {queue.vpn.pk, queue.on_l2.pk, queue.beta.pk}
    assert ids(client.get("tickets", {"status": ["assigned", "resolved"]})) == {
        queue.request.pk,
        queue.resolved.pk,
    }
    assert ids(client.get("tickets", {"status": ["closed"]})) == set()


def test_filter_by_line_code_is_case_insensitive_and_unknown_code_is_a_clear_400(
    world: World, api: Any, queue: Queue
) -> None:
    client = api(world.admin)
    assert ids(client.get("tickets", {"line": "L2"})) == {queue.on_l2.pk}
    assert ids(client.get("tickets", {"line": "l2"})) == {queue.on_l2.pk}
    assert queue.on_l2.pk not in ids(client.get("tickets", {"line": "L1"}))
    body = assert_error(client.get("tickets", {"line": "L9"}), 400, field="line")
    assert "L9" in body["detail"]


def test_filter_by_team_assignee_and_unassigned(world: World, api: Any, queue: Queue) -> None:
    client = api(world.admin)
    assert ids(client.get("tickets", {"team": world.teams["L1"].pk})) == {queue.request.pk}
    assert ids(client.get("tickets", {"team": world.teams["L2"].pk})) == set()
    assert ids(client.get("tickets", {"assignee": world.l1.pk})) == {queue.request.pk}
    assert ids(client.get("tickets", {"assignee": world.l2.pk})) == set()
    assert ids(client.get("tickets", {"unassigned": "true"})) == {
        queue.vpn.pk,
        queue.on_l2.pk,
        queue.resolved.pk,
        queue.beta.pk,
    }


def test_filter_by_priority_single_and_repeated(world: World, api: Any, queue: Queue) -> None:
    client = api(world.admin)
    assert ids(client.get("tickets", {"priority": 1})) == {queue.vpn.pk}
    assert ids(client.get("tickets", {"priority": [1, 5]})) == {queue.vpn.pk, queue.beta.pk}


def test_filter_by_type_category_and_requester(world: World, api: Any, queue: Queue) -> None:
    client = api(world.admin)
    assert ids(client.get("tickets", {"type": "request"})) == {queue.request.pk}
    assert ids(client.get("tickets", {"category": world.category.pk})) == {queue.vpn.pk}
    assert ids(client.get("tickets", {"requester": world.customer_a2.pk})) == {queue.request.pk}
    assert ids(client.get("tickets", {"requester": world.customer_b.pk})) == {queue.beta.pk}


def test_filter_q_matches_subject_text_case_insensitively(world: World, api: Any, queue: Queue) -> None:
    client = api(world.admin)
    assert ids(client.get("tickets", {"q": "vpn"})) == {queue.vpn.pk}
    assert ids(client.get("tickets", {"q": "  JAMMED "})) == {queue.beta.pk}
    assert ids(client.get("tickets", {"q": "no such words"})) == set()


def test_filter_q_ignores_case_in_every_alphabet_and_finds_parts_of_words(world: World, api: Any) -> None:
    """SQLite's LIKE folds only ASCII; the subject index (trigrams on SQLite, on PostgreSQL
    UPPER with a trigram GIN) must find «Принтер» for «принтер» on both."""
    printer = world.ticket(subject="Принтер не печатает")
    quoted = world.ticket(subject='Tray "A4" empty; 50% toner')
    client = api(world.admin)
    for q in ("принтер", "ПРИНТЕР", "нтер не", "ПЕЧАТ"):
        assert ids(client.get("tickets", {"q": q})) == {printer.pk}, q
    # FTS5 and LIKE syntax in the text is only text.
    assert ids(client.get("tickets", {"q": '"A4"'})) == {quoted.pk}
    assert ids(client.get("tickets", {"q": "50%"})) == {quoted.pk}
    for q in ('" OR "', "NEAR(tray toner)", "tray*", "A4 AND toner", "_0%", '"""'):
        assert ids(client.get("tickets", {"q": q})) == set(), q
    # Shorter than a trigram still works.
    assert ids(client.get("tickets", {"q": "a4"})) == {quoted.pk}


def test_filter_q_follows_a_changed_subject(world: World, api: Any) -> None:
    ticket = world.ticket(subject="Scanner offline")
    services.update_ticket(ticket, actor=world.l1, changes={"subject": "Плоттер не отвечает"})
    client = api(world.admin)
    assert ids(client.get("tickets", {"q": "scanner"})) == set()
    assert ids(client.get("tickets", {"q": "плоттер"})) == {ticket.pk}


def test_filter_q_matches_a_ticket_number(world: World, api: Any, queue: Queue) -> None:
    client = api(world.admin)
    number = queue.beta.number
    assert number.startswith("TD-") and len(number) == len("TD-000012")
    assert ids(client.get("tickets", {"q": number})) == {queue.beta.pk}
    assert ids(client.get("tickets", {"q": number.lower()})) == {queue.beta.pk}
    assert ids(client.get("tickets", {"q": str(queue.beta.pk)})) == {queue.beta.pk}


def test_filters_combine(world: World, api: Any, queue: Queue) -> None:
    client = api(world.admin)
    found = ids(client.get("tickets", {"organisation": world.org_a.pk, "status": "new", "line": "L1"}))
    assert found == {queue.vpn.pk}


def test_filters_never_widen_what_a_user_may_see(world: World, api: Any, queue: Queue) -> None:
    assert ids(api(world.customer_a).get("tickets", {"organisation": world.org_b.pk})) == set()
    assert ids(api(world.customer_a).get("tickets", {"requester": world.customer_a2.pk})) == set()
    assert ids(api(world.l1_b_only).get("tickets", {"organisation": world.org_a.pk})) == set()
    assert ids(api(world.l1_b_only).get("tickets", {"q": queue.vpn.number})) == set()
    # The L1 agent sees L1 tickets of both organisations, not the one that went up to L2.
    assert ids(api(world.l1).get("tickets")) == {
        queue.vpn.pk,
        queue.request.pk,
        queue.resolved.pk,
        queue.beta.pk,
    }
    # A plain customer sees only what he requested; his manager sees the whole organisation.
    assert ids(api(world.customer_a).get("tickets")) == {queue.vpn.pk, queue.on_l2.pk, queue.resolved.pk}
    assert ids(api(world.manager_a).get("tickets")) == {
        queue.vpn.pk,
        queue.request.pk,
        queue.on_l2.pk,
        queue.resolved.pk,
    }


def test_invalid_filter_values_are_422_naming_the_parameter(world: World, api: Any) -> None:
    client = api(world.admin)
    assert_validation_error(client.get("tickets", {"status": "bogus"}), "status")
    assert_validation_error(client.get("tickets", {"organisation": "abc"}), "organisation")
    assert_validation_error(client.get("tickets", {"type": "bogus"}), "type")
    assert_validation_error(client.get("tickets", {"ordering": "subject"}), "ordering")


# --- Keyset pagination -----------------------------------------------------------------------


@pytest.fixture
def many_tickets(world: World) -> list[Ticket]:
    """Eleven tickets of mixed priorities; several share priority *and* created_at, so the id
    tiebreak decides their order, across page boundaries."""
    combos = [(1, 1), (2, 2), (3, 3), (2, 2), (1, 3), (2, 2), (3, 1), (2, 2), (2, 2), (1, 1), (3, 3)]
    tickets = [
        world.ticket(requester=world.customer_a if i % 2 else world.customer_b, impact=imp, urgency=urg)
        for i, (imp, urg) in enumerate(combos)
    ]
    same_instant = timezone.now() - timedelta(hours=1)
    medium = [t.pk for t in tickets if t.priority == 3]
    assert len(medium) >= 4
    Ticket.objects.filter(pk__in=medium).update(created_at=same_instant)
    return tickets


def walk(client: Any, params: dict[str, Any]) -> tuple[list[int], int]:
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        response = client.get("tickets", query)
        assert response.status_code == 200, response.content
        body = response.json()
        pages += 1
        assert len(body["items"]) <= params["limit"]
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen, pages
        assert len(body["items"]) == params["limit"], "a page before the last must be full"
        assert pages < 50, "pagination does not terminate"


@pytest.mark.parametrize("who", ["admin", "l1"])
def test_keyset_walk_priority_order_has_no_duplicates_and_no_gaps(
    world: World, api: Any, many_tickets: list[Ticket], who: str
) -> None:
    seen, pages = walk(api(getattr(world, who)), {"limit": 2})
    expected = [t.pk for t in sorted(Ticket.objects.all(), key=lambda t: (t.priority, t.created_at, t.pk))]
    assert len(seen) == len(set(seen)), "duplicates across pages"
    assert seen == expected
    assert pages == (len(expected) + 1) // 2


def test_keyset_walk_newest_first(world: World, api: Any, many_tickets: list[Ticket]) -> None:
    seen, _ = walk(api(world.admin), {"limit": 3, "ordering": "-created"})
    expected = [t.pk for t in sorted(Ticket.objects.all(), key=lambda t: (t.created_at, t.pk), reverse=True)]
    assert seen == expected


def test_keyset_walk_combined_with_a_filter(world: World, api: Any, many_tickets: list[Ticket]) -> None:
    seen, _ = walk(api(world.admin), {"limit": 2, "organisation": world.org_b.pk})
    expected = [
        t.pk
        for t in sorted(
            Ticket.objects.filter(organisation=world.org_b), key=lambda t: (t.priority, t.created_at, t.pk)
        )
    ]
    assert seen == expected


def _cursor(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("!!!not-a-cursor!!!", id="not-base64"),
        pytest.param("YWJj", id="base64-not-json"),
        pytest.param(_cursor({"priority": 1}), id="json-object"),
        pytest.param(_cursor([1, 2]), id="wrong-length"),
        pytest.param(
            _cursor(["x", "2024-01-01T00:00:00+00:00", 1]),
            id="priority-not-a-number",
        ),
        pytest.param(
            _cursor([1, "2024-01-01T00:00:00+00:00", {"a": 1}]),
            id="id-not-a-number",
        ),
        pytest.param(
            _cursor([1, "2024-99-99T00:00:00", 1]),
            id="impossible-date",
        ),
        pytest.param(
            _cursor([1, "yesterday", 1]),
            id="not-a-date",
        ),
    ],
)
def test_garbage_cursor_is_a_400_that_says_the_cursor_is_invalid(
    world: World, api: Any, many_tickets: list[Ticket], cursor: str
) -> None:
    body = assert_error(api(world.admin).get("tickets", {"cursor": cursor}), 400, field="cursor")
    assert "cursor" in body["detail"].lower()


def test_limit_bounds(world: World, api: Any, many_tickets: list[Ticket]) -> None:
    client = api(world.admin)
    assert_validation_error(client.get("tickets", {"limit": 201}), "limit")
    assert_validation_error(client.get("tickets", {"limit": 0}), "limit")
    assert len(client.get("tickets", {"limit": 200}).json()["items"]) == len(many_tickets)
    assert len(client.get("tickets", {"limit": 1}).json()["items"]) == 1
    assert_validation_error(client.get("tickets", {"cursor": "a" * 501}), "cursor")


# --- Create ----------------------------------------------------------------------------------


def test_customer_creates_a_ticket_for_himself_by_default(world: World, api: Any) -> None:
    response = api(world.customer_a).post(
        "tickets", {"subject": "  Monitor flickers  ", "description": "Since Monday"}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["organisation"]["id"] == world.org_a.pk
    assert body["requester"]["id"] == world.customer_a.pk
    assert body["subject"] == "Monitor flickers"
    assert body["status"] == "new"
    assert body["line"] == "L1"
    assert body["channel"] == "api"
    assert body["version"] == 1
    assert body["number"] == f"TD-{body['id']:06d}"
    ticket = Ticket.objects.get(pk=body["id"])
    assert ticket.requester == world.customer_a
    assert AuditEvent.objects.filter(event_type="ticket.created", target_id=ticket.pk).count() == 1


def test_customer_cannot_route_his_own_ticket(world: World, api: Any) -> None:
    response = api(world.customer_a).post(
        "tickets", {"subject": "Route me", "line": "L3", "team_id": world.teams["L3"].pk}
    )
    assert response.status_code == 201, response.content
    assert response.json()["line"] == "L1"
    assert response.json()["team"] is None


def test_customer_cannot_open_a_ticket_for_another_organisation(world: World, api: Any) -> None:
    client = api(world.customer_a)
    before = db_state()
    assert_error(
        client.post("tickets", {"subject": "x", "organisation_id": world.org_b.pk}),
        400,
        code="unknown_reference",
        field="organisation_id",
    )
    assert db_state() == before


def test_plain_customer_cannot_file_for_a_colleague_but_his_manager_can(world: World, api: Any) -> None:
    client = api(world.customer_a)
    before = db_state()
    assert_error(
        client.post("tickets", {"subject": "x", "requester_id": world.customer_a2.pk}),
        400,
        code="unknown_reference",
        field="requester_id",
    )
    assert db_state() == before
    response = api(world.manager_a).post(
        "tickets", {"subject": "For Alex", "requester_id": world.customer_a.pk}
    )
    assert response.status_code == 201, response.content
    assert response.json()["requester"]["id"] == world.customer_a.pk


def test_agent_creates_a_ticket_for_a_served_organisation(world: World, api: Any) -> None:
    response = api(world.l1).post(
        "tickets",
        {
            "subject": "Caller: printer offline",
            "organisation_id": world.org_a.pk,
            "requester_id": world.customer_a.pk,
            "channel": "phone",
            "impact": 1,
            "urgency": 1,
            "category_id": world.category.pk,
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["requester"]["id"] == world.customer_a.pk
    assert body["channel"] == "phone"
    assert body["priority"] == 1
    assert body["category"]["id"] == world.category.pk


def test_agent_cannot_create_for_an_organisation_he_does_not_serve(world: World, api: Any) -> None:
    client = api(world.l1_b_only)
    before = db_state()
    # Org A is invisible to him: same answer as for an organisation that does not exist.
    invisible = assert_error(
        client.post("tickets", {"subject": "x", "organisation_id": world.org_a.pk}),
        400,
        code="unknown_reference",
        field="organisation_id",
    )
    missing = assert_error(
        client.post("tickets", {"subject": "x", "organisation_id": 999_999}),
        400,
        code="unknown_reference",
        field="organisation_id",
    )
    assert invisible["detail"].replace(str(world.org_a.pk), "N") == missing["detail"].replace("999999", "N")
    # The provider organisation is visible to agents, but no team of his serves it.
    body = assert_error(client.post("tickets", {"subject": "x"}), 403, code="not_permitted")
    assert "Provider" in body["detail"]
    assert db_state() == before


def test_create_with_unknown_references(world: World, api: Any) -> None:
    client = api(world.l1)
    before = db_state()
    base = {"subject": "x", "organisation_id": world.org_a.pk, "requester_id": world.customer_a.pk}
    assert_error(
        client.post("tickets", {**base, "category_id": 999_999}),
        400,
        code="unknown_reference",
        field="category_id",
    )
    assert_error(
        client.post("tickets", {**base, "team_id": 999_999}), 400, code="unknown_reference", field="team_id"
    )
    assert_error(
        client.post("tickets", {**base, "requester_id": world.customer_b.pk}), 400, field="requester"
    )
    assert_error(client.post("tickets", {**base, "line": "L7"}), 400, field="line")
    assert_error(
        client.post("tickets", {**base, "line": "L1", "team_id": world.teams["L2"].pk}), 400, field="team"
    )
    assert db_state() == before


# --- Read ------------------------------------------------------------------------------------


def test_read_by_id_and_by_number(world: World, api: Any) -> None:
    ticket = world.ticket(description="Paper jam in tray 2")
    client = api(world.customer_a)
    by_id = client.get(f"tickets/{ticket.pk}")
    assert by_id.status_code == 200, by_id.content
    assert by_id.json()["description"] == "Paper jam in tray 2"
    for ref in (ticket.number, ticket.number.lower(), str(ticket.pk)):
        response = client.get(f"tickets/{ref}")
        assert response.status_code == 200, (ref, response.content)
        assert response.json() == by_id.json()
    assert_error(client.get("tickets/TD-999999"), 404, code="not_found")
    assert_error(client.get("tickets/not-a-ticket"), 404, code="not_found")


def test_detail_tells_staff_and_customers_what_they_may_do(world: World, api: Any) -> None:
    ticket = world.ticket()
    agent = api(world.l1).get(f"tickets/{ticket.pk}").json()
    assert set(agent["allowed_statuses"]) == {
        "assigned",
        "in_progress",
        "waiting_customer",
        "waiting_third_party",
        "resolved",
        "cancelled",
    }
    assert agent["can_reply_publicly"] is True
    customer = api(world.customer_a).get(f"tickets/{ticket.pk}").json()
    assert customer["allowed_statuses"] == []
    services.escalate_ticket(ticket, to_line=world.lines["L3"], actor=world.admin, reason="expert needed")
    assert api(world.l3).get(f"tickets/{ticket.pk}").json()["can_reply_publicly"] is False


# --- Edit ------------------------------------------------------------------------------------


def test_patch_with_expected_version_and_stale_version_conflict(world: World, api: Any) -> None:
    ticket = world.ticket()
    client = api(world.l1)
    response = client.patch(f"tickets/{ticket.pk}", {"subject": "Printer on floor 3", "expected_version": 1})
    assert response.status_code == 200, response.content
    assert response.json()["subject"] == "Printer on floor 3"
    assert response.json()["version"] == 2
    before = db_state()
    stale = assert_error(
        client.patch(f"tickets/{ticket.pk}", {"subject": "Overwrite", "expected_version": 1}),
        409,
        code="stale_version",
    )
    assert "version 2" in stale["detail"]
    assert db_state() == before
    ticket.refresh_from_db()
    assert ticket.subject == "Printer on floor 3"


def test_etag_and_if_match_guard_an_edit_like_expected_version(world: World, api: Any) -> None:
    """The read's ETag is the version; If-Match with it edits, a stale one is a 409 that
    changes nothing, and the answer carries the new ETag."""
    ticket = world.ticket()
    client = api(world.l1)
    read = client.get(f"tickets/{ticket.pk}")
    assert read.headers["ETag"] == '"1"'
    edited = client.patch(f"tickets/{ticket.pk}", {"subject": "Scanner jam"}, headers={"If-Match": '"1"'})
    assert edited.status_code == 200, edited.content
    assert edited.headers["ETag"] == '"2"' and edited.json()["version"] == 2
    before = db_state()
    assert_error(
        client.patch(f"tickets/{ticket.pk}", {"subject": "Overwrite"}, headers={"If-Match": 'W/"1"'}),
        409,
        code="stale_version",
    )
    # The header and the body must agree; a header that names no version is refused.
    assert_error(
        client.patch(
            f"tickets/{ticket.pk}",
            {"subject": "Overwrite", "expected_version": 2},
            headers={"If-Match": '"1"'},
        ),
        400,
        field="If-Match",
    )
    assert_error(
        client.patch(f"tickets/{ticket.pk}", {"subject": "Overwrite"}, headers={"If-Match": "*"}),
        400,
        field="If-Match",
    )
    assert db_state() == before
    ticket.refresh_from_db()
    assert (ticket.subject, ticket.version) == ("Scanner jam", 2)


def test_patch_recomputes_priority_and_audits_the_change(world: World, api: Any) -> None:
    ticket = world.ticket()
    response = api(world.l1).patch(f"tickets/{ticket.pk}", {"impact": 1, "urgency": 1})
    assert response.status_code == 200, response.content
    assert response.json()["priority"] == 1
    event = AuditEvent.objects.filter(event_type="ticket.updated", target_id=ticket.pk).get()
    assert event.old == {"impact": 2, "urgency": 2, "priority": 3}
    assert event.new == {"impact": 1, "urgency": 1, "priority": 1}
    assert event.actor == world.l1


def test_patch_refusals(world: World, api: Any) -> None:
    ticket = world.ticket()
    customer, agent = api(world.customer_a), api(world.l1)
    before = db_state()
    assert_error(customer.patch(f"tickets/{ticket.pk}", {"subject": "mine"}), 403, code="not_permitted")
    assert_error(agent.patch(f"tickets/{ticket.pk}", {"subject": None}), 400, field="subject")
    assert_error(
        agent.patch(f"tickets/{ticket.pk}", {"subject": "   "}), 400, code="required", field="subject"
    )
    assert_error(
        agent.patch(f"tickets/{ticket.pk}", {"requester_id": world.customer_b.pk}), 400, field="requester"
    )
    assert db_state() == before


# --- Workflow --------------------------------------------------------------------------------


def test_transition_along_the_table(world: World, api: Any) -> None:
    ticket = world.ticket()
    client = api(world.l1)
    response = client.post(f"tickets/{ticket.pk}/transition", {"status": "in_progress"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "in_progress"
    assert body["assignee"]["id"] == world.l1.pk  # taking it in progress takes it
    response = client.post(
        f"tickets/{ticket.pk}/transition", {"status": "resolved", "comment": "Replaced toner"}
    )
    assert response.status_code == 200
    assert response.json()["status"] == "resolved"
    assert response.json()["resolved_at"] is not None
    assert response.json()["first_contact_resolution"] is True


def test_transition_not_in_the_table_is_409(world: World, api: Any) -> None:
    ticket = world.ticket()
    client = api(world.l1)
    before = db_state()
    body = assert_error(
        client.post(f"tickets/{ticket.pk}/transition", {"status": "closed"}),
        409,
        code="transition_not_allowed",
        field="status",
    )
    assert "New" in body["detail"] and "Closed" in body["detail"]
    assert db_state() == before


def test_customer_may_withdraw_but_not_resolve(world: World, api: Any) -> None:
    ticket = world.ticket()
    client = api(world.customer_a)
    before = db_state()
    assert_error(
        client.post(f"tickets/{ticket.pk}/transition", {"status": "resolved"}), 403, code="not_permitted"
    )
    assert db_state() == before
    response = client.post(f"tickets/{ticket.pk}/transition", {"status": "cancelled"})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"


def test_assign_and_unassign(world: World, api: Any) -> None:
    ticket = world.ticket()
    client = api(world.l1)
    response = client.post(f"tickets/{ticket.pk}/assign", {"assignee_id": world.l1.pk})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "assigned"
    assert body["assignee"]["id"] == world.l1.pk
    assert body["team"]["id"] == world.teams["L1"].pk
    response = client.post(f"tickets/{ticket.pk}/assign", {"assignee_id": None})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "new"
    assert response.json()["assignee"] is None


def test_assign_refusals(world: World, api: Any) -> None:
    ticket = world.ticket()
    customer, agent = api(world.customer_a), api(world.l1)
    before = db_state()
    assert_error(
        customer.post(f"tickets/{ticket.pk}/assign", {"assignee_id": world.l1.pk}), 403, code="not_permitted"
    )
    # l3 is in no team on L1 that serves org A.
    assert_error(
        agent.post(f"tickets/{ticket.pk}/assign", {"assignee_id": world.l3.pk}), 400, field="assignee"
    )
    # A customer is not an agent.
    assert_error(
        agent.post(f"tickets/{ticket.pk}/assign", {"assignee_id": world.customer_a.pk}), 400, field="assignee"
    )
    assert_error(
        agent.post(f"tickets/{ticket.pk}/assign", {"assignee_id": 999_999}),
        400,
        code="unknown_reference",
        field="assignee_id",
    )
    assert db_state() == before


def test_escalate_and_deescalate_as_admin(world: World, api: Any) -> None:
    ticket = world.ticket()
    client = api(world.admin)
    response = client.post(
        f"tickets/{ticket.pk}/escalate",
        {"line": "L2", "reason": "Needs server access", "team_id": world.teams["L2"].pk},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["line"] == "L2"
    assert body["team"]["id"] == world.teams["L2"].pk
    assert body["escalation_count"] == 1
    assert body["status"] == "new"
    escalation = Escalation.objects.get(ticket=ticket)
    assert escalation.reason == "Needs server access"
    assert escalation.direction == "up"
    response = client.post(
        f"tickets/{ticket.pk}/de-escalate", {"line": "L1", "reason": "Fixed, please tell them"}
    )
    assert response.status_code == 200, response.content
    assert response.json()["line"] == "L1"
    assert response.json()["escalation_count"] == 1
    assert Escalation.objects.filter(ticket=ticket, direction="down").count() == 1


def test_escalate_and_deescalate_need_a_reason(world: World, api: Any) -> None:
    ticket = world.ticket()
    client = api(world.l1)
    before = db_state()
    assert_validation_error(client.post(f"tickets/{ticket.pk}/escalate", {"line": "L2"}), "reason")
    assert_error(
        client.post(f"tickets/{ticket.pk}/escalate", {"line": "L2", "reason": ""}),
        400,
        code="required",
        field="reason",
    )
    assert_error(
        client.post(f"tickets/{ticket.pk}/escalate", {"line": "L2", "reason": "   "}),
        400,
        code="required",
        field="reason",
    )
    assert_error(
        client.post(f"tickets/{ticket.pk}/de-escalate", {"line": "L0", "reason": ""}),
        400,
        code="required",
        field="reason",
    )
    assert_error(
        client.post(f"tickets/{ticket.pk}/escalate", {"line": "L2", "reason": "r" * 2001}),
        400,
        code="too_long",
        field="reason",
    )
    assert db_state() == before


def test_escalate_refusals(world: World, api: Any) -> None:
    ticket = world.ticket()
    customer, agent = api(world.customer_a), api(world.l1)
    before = db_state()
    assert_error(
        agent.post(f"tickets/{ticket.pk}/escalate", {"line": "L1", "reason": "same line"}),
        400,
        field="to_line",
    )
    assert_error(
        agent.post(f"tickets/{ticket.pk}/de-escalate", {"line": "L2", "reason": "up is not down"}),
        400,
        field="to_line",
    )
    assert_error(
        agent.post(f"tickets/{ticket.pk}/escalate", {"line": "L9", "reason": "no such line"}),
        400,
        field="line",
    )
    assert_error(
        customer.post(f"tickets/{ticket.pk}/escalate", {"line": "L2", "reason": "hurry"}),
        403,
        code="not_permitted",
    )
    assert db_state() == before


def test_agent_escalating_out_of_his_line_gets_a_success_response(world: World, api: Any) -> None:
    """After the move the ticket is outside the caller's queue, but the change he made succeeded
    and the answer must say so (an earlier version re-read the ticket with his permissions: 404)."""
    ticket = world.ticket()
    response = api(world.l1).post(f"tickets/{ticket.pk}/escalate", {"line": "L2", "reason": "needs L2"})
    assert response.status_code == 200, response.content
    assert response.json()["line"] == "L2"
    assert response.json()["escalation_count"] == 1
    ticket.refresh_from_db()
    assert ticket.current_line.code == "L2"
    assert api(world.l1).get(f"tickets/{ticket.pk}").status_code == 404  # no longer in his queue
    response = api(world.l2).post(
        f"tickets/{ticket.pk}/de-escalate", {"line": "L1", "reason": "your customer"}
    )
    assert response.status_code == 200, response.content
    assert response.json()["line"] == "L1"
    assert Escalation.objects.filter(ticket=ticket).count() == 2


# --- Conversation ----------------------------------------------------------------------------


def test_replies_and_notes(world: World, api: Any) -> None:
    ticket = world.ticket()
    response = api(world.l1).post(f"tickets/{ticket.pk}/replies", {"body": "Please restart it"})
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "public"
    assert response.json()["author"]["id"] == world.l1.pk
    assert response.json()["channel"] == "api"
    ticket.refresh_from_db()
    assert ticket.first_response_at is not None
    response = api(world.l1).post(f"tickets/{ticket.pk}/notes", {"body": "Probably the driver"})
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "internal"
    response = api(world.customer_a).post(f"tickets/{ticket.pk}/replies", {"body": "Done, still broken"})
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "public"


def test_l3_agent_may_not_reply_publicly(world: World, api: Any) -> None:
    ticket = world.ticket()
    services.escalate_ticket(ticket, to_line=world.lines["L3"], actor=world.admin, reason="expert needed")
    client = api(world.l3)
    before = db_state()
    body = assert_error(
        client.post(f"tickets/{ticket.pk}/replies", {"body": "Hello customer"}),
        403,
        code="line_may_not_contact_customer",
    )
    assert "internal note" in body["detail"]
    assert db_state() == before
    # ... but he may write an internal note.
    assert client.post(f"tickets/{ticket.pk}/notes", {"body": "Root cause found"}).status_code == 201


def test_customer_may_not_write_internal_notes(world: World, api: Any) -> None:
    ticket = world.ticket()
    client = api(world.customer_a)
    before = db_state()
    assert_error(client.post(f"tickets/{ticket.pk}/notes", {"body": "psst"}), 403, code="not_permitted")
    assert db_state() == before


def test_empty_reply_is_refused(world: World, api: Any) -> None:
    ticket = world.ticket()
    client = api(world.customer_a)
    before = db_state()
    assert_error(
        client.post(f"tickets/{ticket.pk}/replies", {"body": " \n "}), 400, code="required", field="body"
    )
    assert_validation_error(client.post(f"tickets/{ticket.pk}/replies", {}), "body")
    assert db_state() == before


SECRETS = ("SECRET-NOTE", "SECRET-COMMENT", "SECRET-REASON", "internal-findings.txt")


@pytest.fixture
def busy_ticket(world: World) -> Ticket:
    """A ticket with public replies, an internal note with a file, a status change with a comment
    and an escalation with a reason; only the public replies and their files are for customers."""
    ticket = world.ticket()
    reply = services.add_public_reply(ticket, actor=world.customer_a, body="It does not print")
    services.add_attachment(
        ticket,
        actor=world.customer_a,
        file=ContentFile(b"photo", name="p.jpg"),
        filename="photo.jpg",
        entry=reply,
    )
    services.add_public_reply(ticket, actor=world.l1, body="Which printer?")
    note = services.add_internal_note(ticket, actor=world.l1, body="SECRET-NOTE the customer owes us money")
    services.add_attachment(
        ticket,
        actor=world.l1,
        file=ContentFile(b"internal bytes", name="i.txt"),
        filename="internal-findings.txt",
        entry=note,
    )
    services.transition_ticket(
        ticket, to_status=Status.WAITING_CUSTOMER, actor=world.l1, comment="SECRET-COMMENT chasing them"
    )
    services.escalate_ticket(
        ticket, to_line=world.lines["L2"], actor=world.admin, reason="SECRET-REASON escalated"
    )
    return ticket


@pytest.mark.parametrize("who", ["customer_a", "manager_a"])
def test_customers_see_only_public_entries(world: World, api: Any, busy_ticket: Ticket, who: str) -> None:
    client = api(getattr(world, who))
    response = client.get(f"tickets/{busy_ticket.pk}/entries")
    assert response.status_code == 200, response.content
    entries = response.json()
    assert [e["kind"] for e in entries] == ["public", "public"]
    assert [e["body"] for e in entries] == ["It does not print", "Which printer?"]
    assert [a["filename"] for a in entries[0]["attachments"]] == ["photo.jpg"]
    for secret in SECRETS:
        assert secret not in response.content.decode()


@pytest.mark.parametrize("who", ["customer_a", "manager_a"])
def test_customers_see_only_public_entries_inside_the_ticket_detail(
    world: World, api: Any, busy_ticket: Ticket, who: str
) -> None:
    response = api(getattr(world, who)).get(f"tickets/{busy_ticket.number}")
    assert response.status_code == 200, response.content
    detail = response.json()
    assert {e["kind"] for e in detail["entries"]} == {"public"}
    assert len(detail["entries"]) == 2
    assert [a["filename"] for a in detail["attachments"]] == ["photo.jpg"]
    assert all(not a["is_internal"] for a in detail["attachments"])
    for secret in SECRETS:
        assert secret not in response.content.decode()
    listing = api(getattr(world, who)).get(f"tickets/{busy_ticket.pk}/attachments").json()
    assert [a["filename"] for a in listing] == ["photo.jpg"]


def test_staff_see_the_whole_conversation(world: World, api: Any, busy_ticket: Ticket) -> None:
    response = api(world.l2).get(f"tickets/{busy_ticket.pk}/entries")
    assert response.status_code == 200, response.content
    kinds = [e["kind"] for e in response.json()]
    assert kinds.count(EntryKind.PUBLIC) == 2
    assert kinds.count(EntryKind.INTERNAL) == 1
    assert kinds.count(EntryKind.EVENT) == 2
    events = [e for e in response.json() if e["kind"] == "event"]
    assert events[-1]["event"] == "ticket.escalated"
    assert events[-1]["data"] == {"from": "L1", "to": "L2"}
    detail = api(world.l2).get(f"tickets/{busy_ticket.pk}").json()
    assert sorted(a["filename"] for a in detail["attachments"]) == ["internal-findings.txt", "photo.jpg"]


# --- History ---------------------------------------------------------------------------------


def test_history_is_for_staff_only(world: World, api: Any, busy_ticket: Ticket) -> None:
    response = api(world.admin).get(f"tickets/{busy_ticket.pk}/history")
    assert response.status_code == 200, response.content
    events = response.json()
    types = [e["event_type"] for e in events]
    assert types[0] == "ticket.created"
    assert "ticket.escalated" in types and "ticket.note_added" in types
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    escalated = next(e for e in events if e["event_type"] == "ticket.escalated")
    assert escalated["actor"]["id"] == world.admin.pk
    assert escalated["message"] == "SECRET-REASON escalated"
    assert api(world.l2).get(f"tickets/{busy_ticket.pk}/history").status_code == 200
    # The customer may see the ticket, so it is no secret that it exists: 403, not 404.
    assert api(world.customer_a).get(f"tickets/{busy_ticket.pk}").status_code == 200
    body = assert_error(
        api(world.customer_a).get(f"tickets/{busy_ticket.pk}/history"), 403, code="not_permitted"
    )
    assert "SECRET" not in json.dumps(body)
    assert_error(api(world.manager_a).get(f"tickets/{busy_ticket.pk}/history"), 403, code="not_permitted")


# --- /me, organisations, contacts, configuration ---------------------------------------------


def test_me_for_a_customer_and_an_agent(world: World, api: Any) -> None:
    me = api(world.customer_a).get("me").json()
    assert me["id"] == world.customer_a.pk
    assert me["role"] == "customer"
    assert me["organisation_id"] == world.org_a.pk
    assert me["teams"] == []
    agent = api(world.l3).get("me").json()
    assert agent["role"] == "agent"
    assert agent["teams"] == [
        {"id": world.teams["L3"].pk, "line_id": world.lines["L3"].pk, "may_contact_customer": False}
    ]


def test_organisations_visible_to_each_role(world: World, api: Any) -> None:
    def names(user: User) -> list[str]:
        response = api(user).get("organisations")
        assert response.status_code == 200, response.content
        return [o["name"] for o in response.json()]

    assert names(world.customer_a) == ["Alpha Ltd"]
    assert names(world.manager_b) == ["Beta LLC"]
    assert names(world.l1_b_only) == ["Beta LLC", "Provider"]
    assert names(world.admin) == ["Alpha Ltd", "Beta LLC", "Provider"]
    assert_error(api(world.customer_a).get(f"organisations/{world.org_b.pk}"), 404, code="not_found")
    assert api(world.customer_a).get(f"organisations/{world.org_a.pk}").json()["short_name"] == "alpha"


def test_organisation_contacts(world: World, api: Any) -> None:
    def emails(user: User, org_id: int) -> list[str]:
        response = api(user).get(f"organisations/{org_id}/contacts")
        assert response.status_code == 200, response.content
        return sorted(c["email"] for c in response.json())

    alpha = ["alex@alpha.test", "alice@alpha.test", "anna@alpha.test"]
    assert emails(world.manager_a, world.org_a.pk) == alpha
    assert emails(world.l1, world.org_a.pk) == alpha
    assert emails(world.customer_a, world.org_a.pk) == ["alex@alpha.test"]
    assert_error(api(world.customer_a).get(f"organisations/{world.org_b.pk}/contacts"), 404)
    assert_error(api(world.l1_b_only).get(f"organisations/{world.org_a.pk}/contacts"), 404)


def test_create_contact(world: World, api: Any) -> None:
    response = api(world.l1).post(
        f"organisations/{world.org_a.pk}/contacts",
        {"email": "Caller@Alpha.test", "first_name": "Carl", "phone": "+7 900 000-00-00"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"].lower() == "caller@alpha.test"
    assert body["is_org_manager"] is False
    created = User.objects.get(pk=body["id"])
    assert created.organisation == world.org_a
    assert created.role == "customer"
    assert not created.has_usable_password()


def test_create_contact_refusals(world: World, api: Any) -> None:
    customer, outsider, agent = api(world.customer_a), api(world.l1_b_only), api(world.l1)
    before = db_state()
    assert_error(
        customer.post(f"organisations/{world.org_a.pk}/contacts", {"email": "new@alpha.test"}),
        403,
        code="not_permitted",
    )
    assert_error(outsider.post(f"organisations/{world.org_a.pk}/contacts", {"email": "new@alpha.test"}), 404)
    assert_error(
        agent.post(f"organisations/{world.org_a.pk}/contacts", {"email": "ALEX@alpha.test"}),
        400,
        field="email",
    )
    assert_error(
        agent.post(f"organisations/{world.org_a.pk}/contacts", {"email": "not-an-address"}),
        400,
        field="email",
    )
    assert_validation_error(agent.post(f"organisations/{world.org_a.pk}/contacts", {}), "email")
    assert db_state() == before


def test_lines_teams_categories(world: World, api: Any) -> None:
    client = api(world.customer_a)
    lines = client.get("lines").json()
    assert [line["code"] for line in lines] == ["L0", "L1", "L2", "L3", "L4"]
    assert {line["code"]: line["may_contact_customer"] for line in lines} == {
        "L0": True,
        "L1": True,
        "L2": True,
        "L3": False,
        "L4": False,
    }
    teams = client.get("teams").json()
    assert [(t["name"], t["line"]) for t in teams] == [
        ("Team L1", "L1"),
        ("Team L1-B", "L1"),
        ("Team L2", "L2"),
        ("Team L3", "L3"),
    ]
    categories = client.get("categories").json()
    assert categories == [{"id": world.category.pk, "name": "Hardware", "parent_id": None}]
