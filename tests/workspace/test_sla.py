"""The SLA in the agent workspace: the ticket page's block, the queue's "Due" column, the
"due first" sort and the SLA filter (under the seeded "Standard" service level: Moscow, Monday to
Friday 09:00-18:00; a medium ticket is answered within 2 business hours, resolved within 27)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from tests.factories import World
from tierdesk.sla import selectors as sla_selectors
from tierdesk.tickets import services
from tierdesk.tickets.choices import Impact, Status, Urgency
from tierdesk.tickets.models import Ticket

pytestmark = pytest.mark.django_db
MSK = ZoneInfo("Europe/Moscow")
MONDAY_10 = dt.datetime(2025, 6, 2, 10, 0, tzinfo=MSK)
QUEUE = reverse("workspace:queue")


def at(moment: dt.datetime) -> Any:
    return time_machine.travel(moment, tick=False)


def page(ticket: Ticket) -> str:
    return reverse("workspace:ticket", args=[ticket.number])


def numbers(response: Any) -> list[str]:
    return [t.number for t in response.context["page"].items]


def sla_block(html: str) -> str:
    return html.split('aria-labelledby="sla-h"')[1].split("</section>")[0]


def row(html: str, ticket: Ticket) -> str:
    return html.split(f'data-ticket="{ticket.number}"')[1].split("</tr>")[0]


@pytest.fixture(autouse=True)
def _fresh_service_levels() -> Iterator[None]:
    sla_selectors.forget_service_levels()
    yield
    sla_selectors.forget_service_levels()


@pytest.fixture
def tickets(world: World) -> dict[str, Ticket]:
    """Created on Monday at 10:00: a medium and a critical ticket of org A, one of org B, and
    one of org A waiting for the customer since 10:30."""
    with at(MONDAY_10):
        made = {
            "medium": world.ticket(subject="Medium one"),
            "critical": world.ticket(subject="Critical one", impact=Impact.HIGH, urgency=Urgency.HIGH),
            "beta": world.ticket(requester=world.customer_b, subject="Beta one"),
            "waiting": world.ticket(subject="Waiting one"),
        }
        services.assign_ticket(made["waiting"], assignee=world.l1, actor=world.l1)
    with at(MONDAY_10.replace(minute=30)):
        services.transition_ticket(made["waiting"], to_status=Status.WAITING_CUSTOMER, actor=world.l1)
    return made


def test_the_ticket_page_shows_each_target_with_due_time_time_left_and_state(
    client: Client, world: World, tickets: dict[str, Ticket], settings: Any
) -> None:
    settings.TIME_ZONE = "Asia/Yekaterinburg"  # the viewer's zone: two hours ahead of Moscow
    client.force_login(world.l1)
    with at(MONDAY_10.replace(hour=11, minute=30)):
        html = client.get(page(tickets["medium"])).content.decode()
    block = sla_block(html)
    assert "Service level" in html and "Standard" in block
    response = block.split('data-target="first_response"')[1].split("</dd>")[0]
    assert 'class="badge sla-at_risk">At risk<' in response
    assert '<time datetime="2025-06-02T14:00:00+05:00">' in response  # 12:00 in Moscow
    assert "30 min left" in response
    resolution = block.split('data-target="resolution"')[1].split("</dd>")[0]
    assert 'class="badge sla-on_track">On track<' in resolution and "25 h 30 min left" in resolution
    assert "First response" in block and "Resolution" in block
    assert "Time left counts business hours only." in block


def test_the_ticket_page_says_since_when_the_clock_is_paused_and_what_is_overdue(
    client: Client, world: World, tickets: dict[str, Ticket], settings: Any
) -> None:
    settings.TIME_ZONE = "Europe/Moscow"
    client.force_login(world.l1)
    with at(MONDAY_10.replace(hour=13)):
        paused = sla_block(client.get(page(tickets["waiting"])).content.decode())
        overdue = sla_block(client.get(page(tickets["critical"])).content.decode())
    assert "Clock paused since" in paused and "MSK" in paused
    assert 'class="badge sla-paused">Paused<' in paused and "1 h 30 min left" in paused
    assert 'class="badge sla-breached">Breached<' in overdue
    assert "2 h 45 min overdue" in overdue  # due at 10:15
    # A met target says when it was achieved.
    with at(MONDAY_10.replace(hour=13, minute=10)):
        services.add_public_reply(tickets["medium"], actor=world.l1, body="On it")
    with at(MONDAY_10.replace(hour=14)):
        late = sla_block(client.get(page(tickets["medium"])).content.decode())
    response = late.split('data-target="first_response"')[1].split("</dd>")[0]
    assert "Met late" in response and "achieved" in response and "left" not in response


def test_the_queue_has_a_due_column_with_badges_where_they_matter(
    client: Client, world: World, tickets: dict[str, Ticket]
) -> None:
    client.force_login(world.l1)
    with at(MONDAY_10.replace(hour=11, minute=40)):
        html = client.get(QUEUE).content.decode()
    assert '<th scope="col">Due</th>' in html
    critical = row(html, tickets["critical"])
    assert 'data-label="Due"' in critical and "sla-breached" in critical
    assert '<time datetime="2025-06-02T11:00:00+00:00">' in critical  # 14:00 in Moscow
    assert "sla-at_risk" in row(html, tickets["medium"])  # its response is at risk
    waiting = row(html, tickets["waiting"])
    assert "sla-paused" in waiting and "—" in waiting.split('data-label="Due"')[1]
    with at(MONDAY_10.replace(hour=11)):
        html = client.get(QUEUE).content.decode()
    assert "badge sla-" not in row(html, tickets["medium"])  # on track: no badge
    assert "sla-breached" in row(html, tickets["critical"])


def test_the_queue_sorts_due_first_and_filters_by_sla_state(
    client: Client, world: World, tickets: dict[str, Ticket]
) -> None:
    client.force_login(world.l1)
    with at(MONDAY_10.replace(hour=11, minute=40)):
        assert numbers(client.get(QUEUE, {"sort": "due"})) == [
            tickets["critical"].number,  # resolution due Monday 14:00
            tickets["medium"].number,  # Thursday 10:00
            tickets["beta"].number,  # Thursday 10:00, later id
            tickets["waiting"].number,  # paused: no deadline
        ]
        assert numbers(client.get(QUEUE, {"sla": "breached"})) == [tickets["critical"].number]
        assert numbers(client.get(QUEUE, {"sla": "at_risk"})) == [
            tickets["medium"].number,
            tickets["beta"].number,
        ]
        assert numbers(client.get(QUEUE, {"sla": "paused"})) == [tickets["waiting"].number]
        # The agent of org B sees only its tickets, whatever the filter.
        client.force_login(world.l1_b_only)
        assert numbers(client.get(QUEUE, {"sort": "due"})) == [tickets["beta"].number]
        assert numbers(client.get(QUEUE, {"sla": "at_risk"})) == [tickets["beta"].number]
        assert numbers(client.get(QUEUE, {"sla": "breached"})) == []
        html = client.get(QUEUE).content.decode()
    assert re.search(r'<option value="due"[^>]*>Due first</option>', html)
    assert re.search(r'<select name="sla"[^>]*>', html) and '<option value="at_risk">At risk</option>' in html


def test_due_first_pages_through_the_queue(
    client: Client, world: World, tickets: dict[str, Ticket], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tierdesk.workspace import views

    monkeypatch.setattr(views, "PAGE_SIZE", 3)
    client.force_login(world.admin)
    seen: list[str] = []
    url = QUEUE + "?sort=due"
    for _ in range(5):
        response = client.get(url)
        seen += numbers(response)
        if not response.context["page"].next_cursor:
            break
        url = QUEUE + "?" + response.context["next_query"]
    assert seen == [tickets[k].number for k in ("critical", "medium", "beta", "waiting")]


def test_the_queue_with_sla_sort_and_filter_stays_within_its_query_budget(
    client: Client, world: World, tickets: dict[str, Ticket], django_assert_max_num_queries: Any
) -> None:
    client.force_login(world.l1)
    with at(MONDAY_10.replace(hour=11, minute=40)):
        client.get(QUEUE)  # warms the agent's scope
        for params in ({"sort": "due"}, {"sla": "at_risk"}, {"sla": "breached", "sort": "due"}):
            with django_assert_max_num_queries(16):
                response = client.get(QUEUE, params)
            assert response.status_code == 200
