"""``restrict(user, line=...)``, the shape the queues use, means exactly "restrict, then filter by
line" for every kind of user — it is only a cheaper query."""

from __future__ import annotations

import pytest

from tests.factories import World
from tierdesk.tickets import services
from tierdesk.tickets.models import Ticket


@pytest.fixture
def spread(world: World) -> World:
    for requester in (world.customer_a, world.customer_b, world.manager_a, world.manager_b):
        world.ticket(requester=requester)
        escalated = world.ticket(requester=requester)
        services.escalate_ticket(
            escalated, to_line=world.lines["L2"], actor=world.admin, reason="server side"
        )
    # One L2 ticket of org A assigned to the agent who serves only org B on L1.
    stray = world.ticket(requester=world.customer_a)
    services.escalate_ticket(stray, to_line=world.lines["L2"], actor=world.admin, reason="needs L2")
    Ticket.objects.filter(pk=stray.pk).update(assignee=world.l1_b_only)  # a stale assignment from before
    return world


@pytest.mark.parametrize("who", ["admin", "l1", "l2", "l3", "l1_b_only", "manager_a", "customer_b"])
@pytest.mark.parametrize("code", ["L1", "L2", "L3"])
def test_line_restriction_equals_restrict_then_filter(spread: World, who: str, code: str) -> None:
    user = getattr(spread, who)
    line = spread.lines[code]
    expected = set(Ticket.objects.restrict(user).filter(current_line=line).values_list("pk", flat=True))
    actual = set(Ticket.objects.restrict(user, line=line.pk).values_list("pk", flat=True))
    assert actual == expected


def test_an_agent_sees_only_his_own_ticket_on_a_line_he_does_not_serve(spread: World) -> None:
    visible = Ticket.objects.restrict(spread.l1_b_only, line=spread.lines["L2"].pk)
    assert [t.assignee_id for t in visible] == [spread.l1_b_only.pk]
    served = Ticket.objects.restrict(spread.l1_b_only, line=spread.lines["L1"].pk)
    assert {t.organisation_id for t in served} == {spread.org_b.pk}
