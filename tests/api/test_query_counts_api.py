"""Query counts of the ticket list and detail: no N+1, whatever the data.

The list and the detail read their related rows (organisation, requester, line, team, assignee,
category and its parent) with one query per relation after the page; a relation that is empty on
every row of the page costs no query, so their counts are an upper bound that holds for any
amount of data. The conversation's count is exact. A change that adds a query per row (or per
request) fails here and must update the number deliberately.

Each client makes one request before the measurement: the first use of a bearer token records
``last_used_at`` (one UPDATE, at most every five minutes), which is bookkeeping, not the view.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.base import ContentFile

from tests.factories import World
from tierdesk.tickets import services
from tierdesk.tickets.models import Category, Ticket

# token -> user (1) + the page with its organisation and people (1) + one query per configuration
# relation shown (line, team, category and its parent: 4). See selectors._LIST_JOINED /
# _LIST_PREFETCHED for why. An agent's scope (his teams with the organisations they serve) is
# read once per process every few seconds (selectors.agent_scope), so a warmed client does not
# pay for it; the agent's first request costs one query more.
LIST_QUERIES = {"l1": 6, "customer_a": 6, "manager_a": 6, "admin": 6}
# token (1) + ticket (1) + its configuration relations (4) + entries (1) + their attachments (1)
# + the ticket's attachments (1)
DETAIL_QUERIES = {"l1": 9, "customer_a": 9, "manager_a": 9, "admin": 9}
ENTRIES_QUERIES = {"l1": 4, "customer_a": 4, "manager_a": 4, "admin": 4}


def warmed(api: Any, user: Any) -> Any:
    client = api(user)
    assert client.get("me").status_code == 200
    return client


def subcategory(world: World) -> Category:
    """A category with a parent: its name is shown as "Parent / Child", a relation of a relation."""
    child = Category.objects.filter(parent=world.category).first()
    if child is None:
        child = Category(name="Printer", parent=world.category)
        services.save_desk_configuration(child, actor=world.admin)
    return child


def add_tickets(world: World, count: int) -> None:
    """Tickets of both organisations with every relation the list shows filled in on some."""
    requesters = [world.customer_a, world.customer_a2, world.customer_b, world.manager_a]
    child = subcategory(world)
    for i in range(count):
        ticket = world.ticket(requester=requesters[i % 4], category=child if i % 2 else None)
        if i % 3 == 1:
            services.assign_ticket(ticket, assignee=world.l1, actor=world.admin)


@pytest.mark.parametrize("who", sorted(LIST_QUERIES))
def test_ticket_list_query_count_does_not_grow_with_the_number_of_tickets(
    world: World, api: Any, django_assert_max_num_queries: Any, who: str
) -> None:
    client = warmed(api, getattr(world, who))
    created = 0
    sizes = []
    for total in (5, 30, 60):
        add_tickets(world, total - created)
        created = total
        with django_assert_max_num_queries(LIST_QUERIES[who]):
            response = client.get("tickets")
        assert response.status_code == 200
        items = response.json()["items"]
        sizes.append(len(items))
        # The relations really were rendered from the joined rows.
        assert all(item["organisation"]["name"] and item["requester"]["name"] for item in items)
    assert sizes[-1] <= 50
    assert sizes[0] < sizes[1], "the second measurement must list more tickets than the first"
    if who in ("l1", "admin"):
        assert sizes == [5, 30, 50]


def test_ticket_list_with_every_filter_is_still_one_query_for_the_page(
    world: World, api: Any, django_assert_max_num_queries: Any
) -> None:
    client = warmed(api, world.admin)
    add_tickets(world, 12)
    child = subcategory(world)
    params = {
        "organisation": world.org_a.pk,
        "status": ["new", "assigned"],
        "line": "L1",
        "priority": [3],
        "type": "incident",
        "category": child.pk,
        "q": "printer",
    }
    # token (1) + line look-up (1) + the page (1) + its configuration relations (4)
    with django_assert_max_num_queries(7):
        response = client.get("tickets", params)
    assert response.status_code == 200
    assert response.json()["items"]


def test_following_the_cursor_costs_the_same_as_the_first_page(
    world: World, api: Any, django_assert_max_num_queries: Any
) -> None:
    client = warmed(api, world.l1)
    add_tickets(world, 9)
    cursor = client.get("tickets", {"limit": 4}).json()["next_cursor"]
    assert cursor
    with django_assert_max_num_queries(LIST_QUERIES["l1"]):
        response = client.get("tickets", {"limit": 4, "cursor": cursor})
    assert len(response.json()["items"]) == 4


def grow_conversation(world: World, ticket: Ticket, rounds: int) -> None:
    """Per round: a customer reply with a file, an internal note with a file, a loose file and an
    agent reply."""
    for _ in range(rounds):
        reply = services.add_public_reply(ticket, actor=world.customer_a, body="still broken")
        services.add_attachment(
            ticket,
            actor=world.customer_a,
            file=ContentFile(b"r%d" % reply.pk, name="r"),
            filename="photo.jpg",
            entry=reply,
        )
        note = services.add_internal_note(ticket, actor=world.l1, body="checked logs")
        services.add_attachment(
            ticket,
            actor=world.l1,
            file=ContentFile(b"n%d" % note.pk, name="n"),
            filename="log.txt",
            entry=note,
        )
        services.add_attachment(
            ticket, actor=world.l1, file=ContentFile(b"f%d" % note.pk, name="f"), filename="manual.pdf"
        )
        services.add_public_reply(ticket, actor=world.l1, body="try this")


@pytest.mark.parametrize("who", sorted(DETAIL_QUERIES))
def test_ticket_detail_query_count_does_not_grow_with_entries_and_attachments(
    world: World, api: Any, django_assert_max_num_queries: Any, who: str
) -> None:
    client = warmed(api, getattr(world, who))
    ticket = world.ticket(category=subcategory(world))
    services.assign_ticket(ticket, assignee=world.l1, actor=world.l1)
    shapes = []
    for rounds in (1, 4):
        grow_conversation(world, ticket, rounds)
        with django_assert_max_num_queries(DETAIL_QUERIES[who]):
            response = client.get(f"tickets/{ticket.pk}")
        assert response.status_code == 200
        detail = response.json()
        shapes.append((len(detail["entries"]), len(detail["attachments"])))
        assert all(entry["author"] is not None for entry in detail["entries"] if entry["kind"] != "event")
    (entries_before, files_before), (entries_after, files_after) = shapes
    assert entries_after >= entries_before + 8
    assert files_after >= files_before + 8


@pytest.mark.parametrize("who", sorted(ENTRIES_QUERIES))
def test_conversation_query_count_does_not_grow_with_entries(
    world: World, api: Any, django_assert_num_queries: Any, who: str
) -> None:
    client = warmed(api, getattr(world, who))
    ticket = world.ticket()
    lengths = []
    for rounds in (1, 4):
        grow_conversation(world, ticket, rounds)
        with django_assert_num_queries(ENTRIES_QUERIES[who]):
            response = client.get(f"tickets/{ticket.pk}/entries")
        assert response.status_code == 200
        lengths.append(len(response.json()))
    assert lengths[1] > lengths[0]


def test_first_use_of_a_token_adds_one_bookkeeping_update(
    world: World, api: Any, django_assert_num_queries: Any
) -> None:
    client = api(world.admin)
    # token (1) + its last_used_at UPDATE (1) + the page, empty here (1)
    with django_assert_num_queries(3) as captured:
        client.get("tickets")
    assert any(
        q["sql"].startswith("UPDATE") and "last_used_at" in q["sql"] for q in captured.captured_queries
    )


def test_ticket_creation_by_an_agent_reads_each_thing_once(
    world: World, api: Any, django_assert_num_queries: Any
) -> None:
    """Creation is the hottest write (phone intake, mail, monitoring). Token (1), requester joined
    with his organisation (1), then in the transaction (savepoint + release here, BEGIN + COMMIT
    in production): the ticket (1) and its audit event (1). The agent's scope, the intake line
    and the priority matrix come from the process's snapshots (selectors)."""
    client = warmed(api, world.l1)
    body = {"organisation_id": world.org_a.pk, "requester_id": world.customer_a.pk, "subject": "Paper jam"}
    assert client.post("tickets", body).status_code == 201  # warms the process-wide content types
    with django_assert_num_queries(7):  # + the outbox row (tierdesk.mail.outgoing)
        response = client.post("tickets", body)
    assert response.status_code == 201, response.content
    ticket = Ticket.objects.get(pk=response.json()["id"])
    assert (ticket.organisation_id, ticket.requester_id) == (world.org_a.pk, world.customer_a.pk)
