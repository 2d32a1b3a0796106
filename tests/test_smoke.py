from tests.factories import World
from tierdesk.tickets.choices import Status


def test_world_ticket_lands_on_l1(world: World) -> None:
    ticket = world.ticket()
    assert ticket.current_line.code == "L1"
    assert ticket.status == Status.NEW


def test_api_lists_own_ticket(world: World, api) -> None:
    ticket = world.ticket()
    world.ticket(requester=world.customer_b)
    response = api(world.customer_a).get("tickets")
    assert response.status_code == 200, response.content
    assert [t["number"] for t in response.json()["items"]] == [ticket.number]
