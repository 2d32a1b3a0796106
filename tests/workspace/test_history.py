"""The readable ticket history: field names and values translated, references named in a
bounded number of queries, shown on the ticket page's history tab."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse
from django.utils import formats, timezone, translation

from tests.factories import World
from tierdesk.audit.models import AuditEvent
from tierdesk.tickets import selectors as ticket_selectors
from tierdesk.tickets import services
from tierdesk.tickets.choices import Impact, Status
from tierdesk.tickets.models import Ticket
from tierdesk.workspace.history import FieldChange, describe_events, field_label

pytestmark = pytest.mark.django_db


def lines_of(ticket: Ticket, event_type: str) -> list[str]:
    items = describe_events(ticket_selectors.ticket_history(ticket))
    return [change.line for item in items if item.event.event_type == event_type for change in item.changes]


def event(ticket: Ticket, **fields: Any) -> AuditEvent:
    """An unsaved event about ``ticket`` (to format values no service writes today)."""
    return AuditEvent(
        event_type=fields.pop("event_type", "ticket.updated"),
        target_type=ContentType.objects.get_for_model(Ticket),
        target_id=ticket.pk,
        **fields,
    )


def test_status_and_assignment_read_as_words(world: World) -> None:
    t = world.ticket()
    services.assign_ticket(t, assignee=world.l1, actor=world.l1)
    assert "Status: New → Assigned" in lines_of(t, "ticket.status_changed")
    assert lines_of(t, "ticket.assigned") == ["Team: — → Team L1", "Assignee: — → L1"]  # form order


def test_creation_lists_values_without_arrows(world: World) -> None:
    t = world.ticket(category=world.category, impact=Impact.HIGH)
    created = lines_of(t, "ticket.created")
    assert "Type: Incident" in created and "Channel: Portal" in created
    assert "Category: Hardware" in created and "Impact: High" in created
    assert "Requester: alex" in created and "Line: L1 " + world.lines["L1"].name in created
    assert not any("→" in line for line in created)


def test_escalation_names_lines_recorded_by_code(world: World) -> None:
    t = world.ticket()
    services.escalate_ticket(t, to_line=world.lines["L2"], actor=world.l1, reason="Needs L2")
    assert f"Line: {world.lines['L1']} → {world.lines['L2']}" in lines_of(t, "ticket.escalated")


def test_labels_and_values_are_translated(world: World) -> None:
    t = world.ticket()
    services.assign_ticket(t, assignee=world.l1, actor=world.l1)
    with translation.override("ru"):
        assert "Статус: Новая → Назначена" in lines_of(t, "ticket.status_changed")
        assert field_label("line") == "Линия"  # the alias "line" is the ticket's current_line


def test_other_values(world: World) -> None:
    t, other = world.ticket(), world.ticket()
    items = describe_events(
        [
            event(t, event_type="ticket.unlinked", old={"related": other.pk}),
            event(
                t,
                old={"resolved_at": None, "first_contact_resolution": True, "assignee": 999_999},
                new={
                    "resolved_at": "2025-03-04T05:06:07Z",
                    "first_contact_resolution": None,
                    "assignee": None,
                },
            ),
            event(t, event_type="ticket.attachment_added", new={"filename": "a.txt", "size": 2048}),
        ]
    )
    assert [c.line for c in items[0].changes] == [f"Related ticket: {other.number} → —"]
    assert items[0].label == "Related ticket unlinked"
    moment = timezone.localtime(datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC))
    assert [c.line for c in items[1].changes] == [  # in the ticket's field order, on any database
        "Assignee: #999999 → —",  # a person deleted since is still shown by id
        f"Resolved at: — → {formats.date_format(moment, 'SHORT_DATETIME_FORMAT')}",
        "First-contact resolution: Yes → —",
    ]
    assert [c.line for c in items[2].changes] == ["File name: a.txt", "Size: 2.0\xa0KB"]
    assert FieldChange(label="Subject", old=None, new="x").line == "Subject: x"


def test_names_are_read_once_per_kind(world: World, django_assert_max_num_queries: Any) -> None:
    t = world.ticket(category=world.category)
    for _round in range(3):
        services.assign_ticket(t, assignee=world.l1, actor=world.admin)
        services.escalate_ticket(t, to_line=world.lines["L2"], actor=world.admin, reason="up")
        services.assign_ticket(t, assignee=world.l2, actor=world.admin)
        services.deescalate_ticket(t, to_line=world.lines["L1"], actor=world.admin, reason="down")
    services.update_ticket(t, actor=world.admin, changes={"category": None})
    events = list(ticket_selectors.ticket_history(t))
    assert len(events) > 15
    # people, teams, lines, categories: one query each, however long the history.
    with django_assert_max_num_queries(4):
        items = describe_events(events)
    assert any(c.line == "Assignee: — → L2" for item in items for c in item.changes)
    assert any(c.line == "Category: Hardware → —" for item in items for c in item.changes)


def test_history_tab_shows_readable_lines(client: Client, world: World) -> None:
    t = world.ticket(subject="<b>Printer</b>")
    services.assign_ticket(t, assignee=world.l1, actor=world.l1)
    services.transition_ticket(t, to_status=Status.IN_PROGRESS, actor=world.l1, comment="On it")
    client.force_login(world.l1)
    html = client.get(reverse("workspace:ticket", args=[t.number]) + "?tab=history").content.decode()
    assert "Status: Assigned → In progress" in html and "On it" in html
    assert "{&#x27;status&#x27;" not in html and "{'status'" not in html  # no raw dicts any more
    assert "Subject: &lt;b&gt;Printer&lt;/b&gt;" in html


def test_history_tab_query_count_does_not_grow(
    client: Client, world: World, django_assert_max_num_queries: Any
) -> None:
    t = world.ticket(category=world.category)
    services.assign_ticket(t, assignee=world.l1, actor=world.l1)
    url = reverse("workspace:ticket", args=[t.number]) + "?tab=history"
    client.force_login(world.l1)
    with django_assert_max_num_queries(25) as few:
        client.get(url)
    for n in range(4):
        services.escalate_ticket(t, to_line=world.lines["L2"], actor=world.admin, reason=f"up {n}")
        services.deescalate_ticket(t, to_line=world.lines["L1"], actor=world.admin, reason=f"down {n}")
        services.assign_ticket(t, assignee=world.l1, actor=world.admin)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(url)
    assert "down 3" in response.content.decode()
