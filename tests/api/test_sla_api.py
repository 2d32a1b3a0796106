"""The SLA in the ticket API: the detail's ``sla`` object, the list's deadlines and state,
``ordering=due`` across pages, the ``sla`` filter, and nothing of another organisation leaking.

Under the seeded default service level ("Standard": Moscow, Monday to Friday 09:00-18:00; a
medium ticket must be answered within 2 business hours and resolved within 27; at risk from
75 % of a target)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from tests.api.helpers import assert_error, assert_validation_error
from tests.factories import World
from tierdesk.sla import selectors as sla_selectors
from tierdesk.tickets import services
from tierdesk.tickets.choices import OPEN_STATUSES, Impact, Status, Urgency
from tierdesk.tickets.models import Ticket

MSK = ZoneInfo("Europe/Moscow")
MONDAY_10 = dt.datetime(2025, 6, 2, 10, 0, tzinfo=MSK)


def at(moment: dt.datetime) -> Any:
    return time_machine.travel(moment, tick=False)


def when(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value).astimezone(MSK) if value else None


def ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.content[:500]
    return [item["id"] for item in response.json()["items"]]


@pytest.fixture(autouse=True)
def _fresh_service_levels() -> Iterator[None]:
    sla_selectors.forget_service_levels()
    yield
    sla_selectors.forget_service_levels()


@dataclass
class Desk:
    """Tickets of both organisations at different points of their clocks (see ``desk``)."""

    medium: Ticket  # org A, medium, created Monday 10:00: response due 12:00
    critical: Ticket  # org A, critical, created 10:00: response due 10:15, resolution 14:00
    tie: Ticket  # org A, medium, created 10:00 like ``medium``: same deadlines, later id
    beta: Ticket  # org B, medium, created 10:45: response due 12:45
    waiting: Ticket  # org A, waiting for the customer since 10:30: paused, no deadline
    beta_waiting: Ticket  # org B, waiting since 10:30
    resolved: Ticket  # org A, resolved: not open
    cancelled: Ticket  # org B, cancelled: not open


@pytest.fixture
def desk(world: World) -> Desk:
    with at(MONDAY_10):
        medium = world.ticket()
        critical = world.ticket(impact=Impact.HIGH, urgency=Urgency.HIGH)
        tie = world.ticket()
        waiting = world.ticket()
        beta_waiting = world.ticket(requester=world.customer_b)
        resolved = world.ticket()
        cancelled = world.ticket(requester=world.customer_b)
        for ticket in (waiting, beta_waiting):
            services.assign_ticket(ticket, assignee=world.l1, actor=world.l1)
    with at(MONDAY_10.replace(minute=30)):
        for ticket in (waiting, beta_waiting):
            services.transition_ticket(ticket, to_status=Status.WAITING_CUSTOMER, actor=world.l1)
        services.transition_ticket(resolved, to_status=Status.RESOLVED, actor=world.l1)
        services.transition_ticket(cancelled, to_status=Status.CANCELLED, actor=world.l1)
    with at(MONDAY_10.replace(minute=45)):
        beta = world.ticket(requester=world.customer_b)
    return Desk(medium, critical, tie, beta, waiting, beta_waiting, resolved, cancelled)


# --- The detail and the list show the SLA ------------------------------------------------------


def test_the_detail_has_an_sla_object_with_deadlines_time_left_and_state(
    world: World, api: Any, desk: Desk
) -> None:
    client = api(world.l1)
    with at(MONDAY_10.replace(hour=11, minute=30)):
        sla = client.get(f"tickets/{desk.medium.number}").json()["sla"]
    assert sla["policy"] == "Standard"
    assert (sla["state"], sla["paused"], sla["paused_since"], sla["paused_seconds"]) == (
        "at_risk",
        False,
        None,
        0,
    )
    response, resolution = sla["targets"]
    assert response["target"] == "first_response" and resolution["target"] == "resolution"
    assert when(response["due_at"]) == MONDAY_10.replace(hour=12)
    assert (response["state"], response["business_seconds_left"]) == ("at_risk", 30 * 60)
    assert when(resolution["due_at"]) == dt.datetime(2025, 6, 5, 10, tzinfo=MSK)
    assert (resolution["state"], resolution["business_seconds_left"]) == ("on_track", 25.5 * 3600)


def test_a_paused_ticket_says_since_when_and_for_how_long(world: World, api: Any, desk: Desk) -> None:
    with at(MONDAY_10.replace(hour=12, minute=30)):
        sla = api(world.l1).get(f"tickets/{desk.waiting.number}").json()["sla"]
    assert sla["paused"] is True and sla["state"] == "paused"
    assert when(sla["paused_since"]) == MONDAY_10.replace(minute=30)
    assert sla["paused_seconds"] == 2 * 3600
    response = sla["targets"][0]
    # Frozen at what was left when the clock stopped: 90 of 120 minutes.
    assert (response["due_at"], response["state"], response["business_seconds_left"]) == (
        None,
        "paused",
        90 * 60,
    )


def test_an_overdue_target_has_negative_time_left(world: World, api: Any, desk: Desk) -> None:
    with at(MONDAY_10.replace(hour=13)):
        sla = api(world.admin).get(f"tickets/{desk.medium.number}").json()["sla"]
    assert sla["state"] == "breached"
    assert (sla["targets"][0]["state"], sla["targets"][0]["business_seconds_left"]) == ("breached", -3600)


def test_a_ticket_without_a_service_level_has_sla_null(world: World, api: Any, desk: Desk) -> None:
    Ticket.objects.filter(pk=desk.medium.pk).update(sla_policy=None)
    assert api(world.admin).get(f"tickets/{desk.medium.number}").json()["sla"] is None


def test_the_customer_sees_the_deadlines_of_his_ticket(world: World, api: Any, desk: Desk) -> None:
    with at(MONDAY_10.replace(hour=11)):
        sla = api(world.customer_a).get(f"tickets/{desk.medium.number}").json()["sla"]
    assert sla["targets"][0]["business_seconds_left"] == 3600


def test_list_rows_have_the_deadlines_and_the_overall_state(world: World, api: Any, desk: Desk) -> None:
    with at(MONDAY_10.replace(hour=11, minute=40)):
        rows = {row["id"]: row for row in api(world.admin).get("tickets").json()["items"]}
    medium = rows[desk.medium.pk]
    assert when(medium["response_due_at"]) == MONDAY_10.replace(hour=12)
    assert when(medium["resolution_due_at"]) == dt.datetime(2025, 6, 5, 10, tzinfo=MSK)
    assert medium["sla_state"] == "at_risk"  # the response is; the resolution is on track
    assert rows[desk.critical.pk]["sla_state"] == "breached"  # due at 10:15
    assert rows[desk.beta.pk]["sla_state"] == "on_track"
    waiting = rows[desk.waiting.pk]
    assert (waiting["sla_state"], waiting["response_due_at"], waiting["resolution_due_at"]) == (
        "paused",
        None,
        None,
    )
    # Resolved in time, its first response never given: that is still running.
    assert rows[desk.resolved.pk]["sla_state"] == "at_risk"
    assert rows[desk.cancelled.pk]["sla_state"] is None  # nothing is promised any more


# --- ordering=due -------------------------------------------------------------------------------


def due_order(tickets: list[Ticket]) -> list[int]:
    """Open tickets by resolution deadline then id, those without one after them by id."""
    fresh = Ticket.objects.filter(pk__in=[t.pk for t in tickets], status__in=OPEN_STATUSES)
    dated = sorted((t for t in fresh if t.resolution_due_at), key=lambda t: (t.resolution_due_at, t.pk))
    undated = sorted(t.pk for t in fresh if t.resolution_due_at is None)
    return [t.pk for t in dated] + undated


def walk(client: Any, params: dict[str, Any]) -> tuple[list[int], list[int]]:
    """Every page of a listing: the ids in order and the size of each page."""
    seen: list[int] = []
    sizes: list[int] = []
    cursor = None
    while True:
        response = client.get("tickets", dict(params, **({"cursor": cursor} if cursor else {})))
        page = ids(response)
        seen += page
        sizes.append(len(page))
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return seen, sizes
        assert len(page) == params["limit"], "a page before the last must be full"
        assert len(sizes) < 20, "pagination does not terminate"


def test_due_first_lists_open_tickets_by_deadline_then_the_undated_ones(
    world: World, api: Any, desk: Desk
) -> None:
    everything = list(Ticket.objects.all())
    expected = due_order(everything)
    # critical (Monday 14:00), medium and its tie (Thursday 10:00, by id), beta (Thursday 10:45),
    # then the two paused tickets; neither the resolved nor the cancelled one.
    assert expected == [
        desk.critical.pk,
        desk.medium.pk,
        desk.tie.pk,
        desk.beta.pk,
        desk.waiting.pk,
        desk.beta_waiting.pk,
    ]
    client = api(world.admin)
    # 2: the dated run ends exactly at the end of a page; 3: a page holds the end of the dated
    # run and the start of the undated one; 4 and 5: the same at other places; 50: one page.
    for limit, sizes in [(1, [1] * 6), (2, [2, 2, 2]), (3, [3, 3]), (4, [4, 2]), (5, [5, 1]), (50, [6])]:
        seen, pages = walk(client, {"ordering": "due", "limit": limit})
        assert (seen, pages) == (expected, sizes), limit


def test_due_first_combines_with_filters_and_respects_visibility(world: World, api: Any, desk: Desk) -> None:
    # Only dated tickets of org A: the dated run ends the listing, no empty page after it.
    seen, sizes = walk(
        api(world.admin), {"ordering": "due", "limit": 3, "organisation": world.org_a.pk, "status": ["new"]}
    )
    assert (seen, sizes) == ([desk.critical.pk, desk.medium.pk, desk.tie.pk], [3])
    # An agent serving only org B and a customer of org A see only their own, in the same order.
    seen, _ = walk(api(world.l1_b_only), {"ordering": "due", "limit": 1})
    assert seen == [desk.beta.pk, desk.beta_waiting.pk]
    seen, _ = walk(api(world.customer_a), {"ordering": "due", "limit": 2})
    assert seen == [desk.critical.pk, desk.medium.pk, desk.tie.pk, desk.waiting.pk]


def test_a_forged_due_cursor_is_a_clear_400(world: World, api: Any, desk: Desk) -> None:
    client = api(world.admin)
    dated = client.get("tickets", {"ordering": "due", "limit": 1}).json()["next_cursor"]
    # A cursor of the dated run (a deadline and an id) passed off as one of the undated run (an id).
    for cursor in ("u.garbage", "garbage", f"u.{dated}"):
        assert_error(client.get("tickets", {"ordering": "due", "cursor": cursor}), 400, field="cursor")
    assert_validation_error(client.get("tickets", {"ordering": "due-first"}), "ordering")


# --- The sla filter -----------------------------------------------------------------------------


def test_the_sla_filter_keeps_tickets_in_that_state(world: World, api: Any, desk: Desk) -> None:
    client = api(world.admin)
    with at(MONDAY_10.replace(hour=11, minute=40)):
        assert set(ids(client.get("tickets", {"sla": "breached"}))) == {desk.critical.pk}
        assert set(ids(client.get("tickets", {"sla": "at_risk"}))) == {
            desk.medium.pk,
            desk.tie.pk,
            desk.resolved.pk,
        }
        assert set(ids(client.get("tickets", {"sla": "paused"}))) == {desk.waiting.pk, desk.beta_waiting.pk}
        # The filter agrees with the state each row shows.
        for state in ("breached", "at_risk", "paused"):
            rows = client.get("tickets", {"sla": state}).json()["items"]
            assert {row["sla_state"] for row in rows} == {state}
    with at(MONDAY_10.replace(hour=12, minute=40)):  # beta answers by 12:45
        assert set(ids(client.get("tickets", {"sla": "at_risk"}))) == {desk.beta.pk}
        assert set(ids(client.get("tickets", {"sla": "breached", "ordering": "due"}))) == {
            desk.critical.pk,
            desk.medium.pk,
            desk.tie.pk,
        }
    assert_validation_error(client.get("tickets", {"sla": "late"}), "sla")


def test_the_sla_filter_never_shows_another_organisation(world: World, api: Any, desk: Desk) -> None:
    with at(MONDAY_10.replace(hour=13)):  # everyone running is breached by now
        assert set(ids(api(world.customer_a).get("tickets", {"sla": "breached"}))) == {
            desk.medium.pk,
            desk.critical.pk,
            desk.tie.pk,
            desk.resolved.pk,
        }
        assert set(ids(api(world.l1_b_only).get("tickets", {"sla": "breached"}))) == {desk.beta.pk}
        assert set(ids(api(world.customer_b).get("tickets", {"sla": "paused"}))) == {desk.beta_waiting.pk}
        assert (
            ids(api(world.customer_b).get("tickets", {"sla": "breached", "organisation": world.org_a.pk}))
            == []
        )


# --- Costs ---------------------------------------------------------------------------------------


def test_due_first_and_the_sla_filter_cost_no_more_queries(
    world: World, api: Any, desk: Desk, django_assert_max_num_queries: Any
) -> None:
    """A page inside one run costs what any list page costs (token, page, four configuration
    relations); the page where the dated run meets the undated one reads both runs."""
    client = api(world.l1)
    with at(MONDAY_10.replace(hour=11)):
        assert client.get("me").status_code == 200
        with django_assert_max_num_queries(6):
            first = client.get("tickets", {"ordering": "due", "limit": 2})
        with django_assert_max_num_queries(6):
            client.get("tickets", {"sla": "at_risk"})
        with django_assert_max_num_queries(6):
            client.get("tickets", {"sla": "breached", "ordering": "due"})
        with django_assert_max_num_queries(7):
            client.get("tickets", {"ordering": "due", "limit": 3})  # both runs on the first page
        with django_assert_max_num_queries(6):
            client.get(f"tickets/{desk.medium.number}")  # the sla object costs nothing
    assert len(first.json()["items"]) == 2
