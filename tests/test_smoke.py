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


def test_escalating_agent_gets_the_result_though_the_ticket_leaves_his_queue(world: World, api) -> None:
    ticket = world.ticket()
    client = api(world.l1)
    response = client.post(
        f"tickets/{ticket.number}/escalate", {"line": "L2", "reason": "Needs a server engineer"}
    )
    assert response.status_code == 200, response.content
    assert response.json()["line"] == "L2"
    assert client.get(f"tickets/{ticket.number}").status_code == 404  # now L2's, not his
