"""The public web form and the call-back request: tickets from people without a session."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from tests.factories import World
from tierdesk.accounts.models import User
from tierdesk.tickets.choices import Channel
from tierdesk.tickets.models import Ticket


def web(**extra: Any) -> dict[str, Any]:
    return {
        "name": "Walter White",
        "email": "walter@alpha.test",
        "phone": "",
        "subject": "VPN down",
        "description": "Cannot connect since 9:00",
        "website": "",
        **extra,
    }


def callback(**extra: Any) -> dict[str, Any]:
    return {
        "name": "Carla Caller",
        "phone": "+7 900 000-00-00",
        "convenient_time": "after 3 pm",
        "email": "carla@alpha.test",
        "about": "Printer jams on every page",
        "website": "",
        **extra,
    }


def test_web_form_is_embeddable_and_needs_no_csrf_token(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.get(reverse("portal:web_form"))
    assert response.status_code == 200
    assert "X-Frame-Options" not in response
    assert 'class="hp"' in response.content.decode()
    response = client.post(reverse("portal:web_form"), web())
    assert response.status_code == 200


def test_web_form_creates_a_ticket_for_a_new_contact(world: World, client: Client) -> None:
    response = client.post(reverse("portal:web_form"), web())
    assert response.status_code == 200
    ticket = Ticket.objects.get(subject="VPN down")
    assert ticket.channel == Channel.WEB_FORM and ticket.organisation_id == world.org_a.pk
    contact = User.objects.get(email="walter@alpha.test")
    assert ticket.requester_id == contact.pk and contact.is_customer
    assert contact.first_name == "Walter" and contact.last_name == "White"
    assert not contact.has_usable_password()
    assert ticket.number in response.content.decode()


def test_web_form_uses_an_existing_contact(world: World, client: Client) -> None:
    client.post(reverse("portal:web_form"), web(email=world.customer_a.email.upper()))
    ticket = Ticket.objects.get(subject="VPN down")
    assert ticket.requester_id == world.customer_a.pk
    assert User.objects.filter(email__iexact=world.customer_a.email).count() == 1


def test_unknown_domain_is_refused(world: World, client: Client) -> None:
    response = client.post(reverse("portal:web_form"), web(email="someone@unknown.test"))
    assert response.status_code == 400
    assert "do not recognise the domain" in response.content.decode()
    assert not Ticket.objects.exists() and not User.objects.filter(email="someone@unknown.test").exists()


def test_filled_honeypot_pretends_success_and_creates_nothing(world: World, client: Client) -> None:
    users = User.objects.count()
    response = client.post(reverse("portal:web_form"), web(website="http://spam.test"))
    assert response.status_code == 200
    assert "Thank you" in response.content.decode()
    assert not Ticket.objects.exists() and User.objects.count() == users


def test_rate_limit_answers_429_and_creates_nothing(world: World, client: Client) -> None:
    for n in range(5):
        response = client.post(
            reverse("portal:web_form"), web(subject=f"Request {n}"), REMOTE_ADDR="10.0.0.7"
        )
        assert response.status_code == 200
    response = client.post(reverse("portal:web_form"), web(subject="One too many"), REMOTE_ADDR="10.0.0.7")
    assert response.status_code == 429
    assert "Too many requests" in response.content.decode()
    assert not Ticket.objects.filter(subject="One too many").exists()
    assert Ticket.objects.count() == 5
    # Another address is not affected.
    response = client.post(reverse("portal:web_form"), web(subject="Other office"), REMOTE_ADDR="10.0.0.8")
    assert response.status_code == 200


def test_hostile_html_in_the_web_form_is_escaped(world: World, client: Client) -> None:
    hostile = web(subject="<script>alert(1)</script>", email="x@unknown.test")
    page = client.post(reverse("portal:web_form"), hostile).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not Ticket.objects.exists()


def test_callback_request_creates_a_phone_ticket(world: World, client: Client) -> None:
    response = client.post(reverse("portal:callback"), callback())
    assert response.status_code == 200
    ticket = Ticket.objects.get()
    assert ticket.channel == Channel.PHONE
    assert ticket.subject == "Call-back request: Printer jams on every page"
    assert "+7 900 000-00-00" in ticket.description and "after 3 pm" in ticket.description
    assert ticket.requester.email == "carla@alpha.test"
    assert ticket.number in response.content.decode()


def test_callback_has_the_same_protections(world: World, client: Client) -> None:
    assert client.post(reverse("portal:callback"), callback(website="x")).status_code == 200
    assert not Ticket.objects.exists()
    response = client.post(reverse("portal:callback"), callback(email="x@nowhere.test"))
    assert response.status_code == 400 and not Ticket.objects.exists()
    for _ in range(3):
        client.post(reverse("portal:callback"), callback())
    assert client.post(reverse("portal:callback"), callback()).status_code == 429
