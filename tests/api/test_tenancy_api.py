"""Tenant isolation over HTTP: a ticket of organisation A does not exist for outsiders.

Outsiders are a customer of organisation B, the L1 agent who serves only B, and (for good
measure) a plain customer of A who did not request the ticket. Every ticket endpoint answers
them 404 with the same body as for a ticket that does not exist (never 403, which would confirm
that it exists), and nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.api.helpers import db_state
from tests.factories import World
from tierdesk.audit.models import AuditEvent
from tierdesk.tickets import services
from tierdesk.tickets.models import Attachment, Ticket

NOT_FOUND = {"detail": "Not found.", "code": "not_found"}
MISSING = 999_999

Call = Callable[[Any, str], Any]


def _file() -> SimpleUploadedFile:
    return SimpleUploadedFile("evil.txt", b"planted", content_type="text/plain")


# (name, call(client, ref)) for every endpoint that takes a ticket reference.
ENDPOINTS: list[tuple[str, Call]] = [
    ("read", lambda c, ref: c.get(f"tickets/{ref}")),
    ("patch", lambda c, ref: c.patch(f"tickets/{ref}", {"subject": "Hijacked", "expected_version": 1})),
    ("transition", lambda c, ref: c.post(f"tickets/{ref}/transition", {"status": "cancelled"})),
    ("assign", lambda c, ref: c.post(f"tickets/{ref}/assign", {"assignee_id": None})),
    ("escalate", lambda c, ref: c.post(f"tickets/{ref}/escalate", {"line": "L2", "reason": "because"})),
    ("de-escalate", lambda c, ref: c.post(f"tickets/{ref}/de-escalate", {"line": "L0", "reason": "because"})),
    ("reply", lambda c, ref: c.post(f"tickets/{ref}/replies", {"body": "Hello from outside"})),
    ("note", lambda c, ref: c.post(f"tickets/{ref}/notes", {"body": "Planted note"})),
    ("entries", lambda c, ref: c.get(f"tickets/{ref}/entries")),
    ("upload", lambda c, ref: c.post(f"tickets/{ref}/attachments", {"file": _file()}, multipart=True)),
    ("attachments", lambda c, ref: c.get(f"tickets/{ref}/attachments")),
    ("history", lambda c, ref: c.get(f"tickets/{ref}/history")),
]

OUTSIDERS = ["customer_b", "l1_b_only", "customer_a2"]


@pytest.fixture
def secret_ticket(world: World) -> Ticket:
    """An org A ticket with a reply, a note and a public attachment."""
    ticket = world.ticket(subject="Alpha merger server TOPSECRET")
    services.add_public_reply(ticket, actor=world.l1, body="Reply TOPSECRET")
    services.add_internal_note(ticket, actor=world.l1, body="Note TOPSECRET")
    services.add_attachment(
        ticket,
        actor=world.customer_a,
        file=ContentFile(b"alpha data", name="a.txt"),
        filename="alpha-plan.txt",
    )
    ticket.refresh_from_db()
    return ticket


@pytest.mark.parametrize(("endpoint", "call"), ENDPOINTS, ids=[name for name, _ in ENDPOINTS])
def test_outsiders_get_404_and_change_nothing(
    world: World, api: Any, secret_ticket: Ticket, endpoint: str, call: Call
) -> None:
    clients = {who: api(getattr(world, who)) for who in OUTSIDERS}
    version = secret_ticket.version
    events = AuditEvent.objects.count()
    before = db_state()
    for who, client in clients.items():
        for ref in (str(secret_ticket.pk), secret_ticket.number):
            response = call(client, ref)
            context = (who, endpoint, ref, response.status_code, response.content[:300])
            assert response.status_code == 404, context
            assert response.json() == NOT_FOUND, context
            assert b"TOPSECRET" not in response.content
            assert b"alpha" not in response.content.lower()
        # Indistinguishable from a ticket that does not exist at all.
        missing = call(client, str(MISSING))
        assert (missing.status_code, missing.json()) == (404, NOT_FOUND), who
    secret_ticket.refresh_from_db()
    assert secret_ticket.version == version
    assert AuditEvent.objects.count() == events
    assert db_state() == before


@pytest.mark.parametrize("who", OUTSIDERS)
def test_outsiders_cannot_download_the_attachment(
    world: World, api: Any, secret_ticket: Ticket, who: str
) -> None:
    attachment = Attachment.objects.get(ticket=secret_ticket)
    client = api(getattr(world, who))
    response = client.get(f"attachments/{attachment.pk}")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    assert client.get(f"attachments/{MISSING}").json() == NOT_FOUND


@pytest.mark.parametrize("who", OUTSIDERS)
def test_outsiders_do_not_find_it_in_lists_or_search(
    world: World, api: Any, secret_ticket: Ticket, who: str
) -> None:
    client = api(getattr(world, who))
    for params in (
        {},
        {"q": secret_ticket.number},
        {"q": "TOPSECRET"},
        {"organisation": world.org_a.pk},
        {"requester": world.customer_a.pk},
    ):
        response = client.get("tickets", params)
        assert response.status_code == 200, response.content
        assert secret_ticket.pk not in {t["id"] for t in response.json()["items"]}, params
        assert b"TOPSECRET" not in response.content


@pytest.mark.parametrize(("endpoint", "call"), ENDPOINTS, ids=[name for name, _ in ENDPOINTS])
def test_the_same_calls_reach_the_ticket_for_insiders(
    world: World, api: Any, secret_ticket: Ticket, endpoint: str, call: Call
) -> None:
    """Control: the 404s above come from tenancy, not from broken calls. An admin gets past the
    look-up on every endpoint (any answer but 404)."""
    response = call(api(world.admin), str(secret_ticket.pk))
    assert response.status_code != 404, (endpoint, response.content[:300])
    assert response.status_code < 500


def test_agent_serving_only_b_works_b_tickets(world: World, api: Any) -> None:
    """Control for the L1-B agent: his own organisation's tickets are fully available to him."""
    ticket = world.ticket(requester=world.customer_b)
    client = api(world.l1_b_only)
    assert client.get(f"tickets/{ticket.number}").status_code == 200
    response = client.post(f"tickets/{ticket.pk}/assign", {"assignee_id": world.l1_b_only.pk})
    assert response.status_code == 200, response.content
    assert response.json()["team"]["id"] == world.teams["L1-B"].pk
    assert client.post(f"tickets/{ticket.pk}/replies", {"body": "On it"}).status_code == 201
