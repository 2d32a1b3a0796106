"""Phone intake: a call becomes a ticket with channel phone, for a known or a new contact."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import World
from tierdesk.accounts.models import User
from tierdesk.tickets.choices import Channel
from tierdesk.tickets.models import Ticket

pytestmark = pytest.mark.django_db
NEW = reverse("workspace:new")


def base(**extra: object) -> dict[str, object]:
    return {"type": "incident", "impact": 2, "urgency": 2, "subject": "Printer jam", **extra}


def test_intake_for_existing_contact(client: Client, world: World) -> None:
    client.force_login(world.l1)
    assert client.get(NEW).status_code == 200
    response = client.post(NEW, base(contact=world.customer_b.pk))
    ticket = Ticket.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "workspace:ticket", args=[ticket.number]
    )
    assert ticket.channel == Channel.PHONE and ticket.requester == world.customer_b
    assert ticket.organisation == world.org_b


def test_intake_with_new_contact(client: Client, world: World) -> None:
    client.force_login(world.l1)
    response = client.post(
        NEW,
        base(organisation=world.org_a.pk, new_email="neo@alpha.test", new_first_name="Neo", new_phone="+7 1"),
    )
    assert response.status_code == 302
    person = User.objects.get(email="neo@alpha.test")
    assert Ticket.objects.get().requester == person and person.organisation == world.org_a


def test_intake_refuses_invisible_contact_and_missing_caller(client: Client, world: World) -> None:
    client.force_login(world.l1_b_only)
    response = client.post(NEW, base(contact=world.customer_a.pk))
    assert response.status_code == 200 and not Ticket.objects.exists()
    response = client.post(NEW, base())
    assert response.status_code == 200 and not Ticket.objects.exists()


def test_contact_lookup(client: Client, world: World) -> None:
    client.force_login(world.l1_b_only)
    html = client.get(reverse("workspace:contact_lookup"), {"lookup": "b"}).content.decode()
    assert "bob@beta.test" in html and "alpha.test" not in html


def test_contact_lookup_ignores_case_in_every_alphabet(client: Client, world: World) -> None:
    """On a call the agent types the name as he hears it: «иванов» must find «Иванов» (SQLite's
    LIKE folds ASCII only; the __casefold transform folds every alphabet on both databases)."""
    from tierdesk.orgs.services import create_contact

    ivanov = create_contact(
        world.org_b, actor=world.l1, email="Ivanov@Beta.test", first_name="Пётр", last_name="Иванов"
    )
    create_contact(world.org_a, actor=world.l1, email="ivanova@alpha.test", last_name="Иванова")
    client.force_login(world.l1_b_only)
    for text in ("иванов", "ИВАНОВ", "пётр", "IVANOV@BETA"):
        html = client.get(reverse("workspace:contact_lookup"), {"lookup": text}).content.decode()
        assert ivanov.email in html, text
        assert "ivanova@alpha.test" not in html  # another organisation's, still hidden
