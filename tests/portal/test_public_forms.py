"""The public web form and the call-back request: tickets from people without a session."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import World
from tierdesk.accounts.models import User
from tierdesk.audit.models import AuditEvent
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


# --- Who filed it ---------------------------------------------------------------------------


def created_event(ticket: Ticket) -> AuditEvent:
    return AuditEvent.objects.get(event_type="ticket.created", target_id=ticket.pk)


def test_web_form_ticket_is_filed_in_the_name_of_the_new_contact(world: World, client: Client) -> None:
    client.post(reverse("portal:web_form"), web())
    ticket = Ticket.objects.get(subject="VPN down")
    contact = User.objects.get(email="walter@alpha.test")
    assert ticket.created_by_id == contact.pk
    event = created_event(ticket)
    assert event.actor_id == contact.pk and event.actor_label == contact.username
    assert event.new is not None and event.new["channel"] == Channel.WEB_FORM


def test_web_form_ticket_is_filed_in_the_name_of_the_existing_contact(world: World, client: Client) -> None:
    client.post(reverse("portal:web_form"), web(email=world.customer_a.email))
    ticket = Ticket.objects.get(subject="VPN down")
    assert ticket.created_by_id == world.customer_a.pk
    assert created_event(ticket).actor_id == world.customer_a.pk


def test_callback_ticket_is_filed_in_the_name_of_the_caller(world: World, client: Client) -> None:
    client.post(reverse("portal:callback"), callback())
    ticket = Ticket.objects.get()
    contact = User.objects.get(email="carla@alpha.test")
    assert ticket.created_by_id == contact.pk and created_event(ticket).actor_id == contact.pk


def test_a_signed_in_visitor_is_not_the_actor_of_the_public_form(world: World, client: Client) -> None:
    # The form takes posts from any site (no CSRF check): it must never act as the session's user.
    client.force_login(world.manager_a)
    client.post(reverse("portal:web_form"), web())
    ticket = Ticket.objects.get(subject="VPN down")
    contact = User.objects.get(email="walter@alpha.test")
    assert ticket.created_by_id == contact.pk and created_event(ticket).actor_id == contact.pk


# --- The rate limit behind a reverse proxy --------------------------------------------------


def post_via(client: Client, url: str, data: dict[str, Any], *, remote: str, forwarded: str = "") -> int:
    extra = {"REMOTE_ADDR": remote}
    if forwarded:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return int(client.post(url, data, **extra).status_code)


def test_rate_limit_counts_each_client_behind_a_trusted_proxy(
    world: World, client: Client, settings: Any
) -> None:
    settings.TIERDESK_TRUSTED_PROXIES = ["10.0.0.0/24"]
    settings.TIERDESK_PORTAL_FORM_RATE = (2, 600)
    url = reverse("portal:web_form")
    for n in range(2):
        assert post_via(client, url, web(subject=f"A{n}"), remote="10.0.0.5", forwarded="203.0.113.1") == 200
    assert post_via(client, url, web(subject="A2"), remote="10.0.0.5", forwarded="203.0.113.1") == 429
    # Another client through the same proxy has his own count.
    assert post_via(client, url, web(subject="B0"), remote="10.0.0.5", forwarded="203.0.113.2") == 200
    # A client cannot escape his count by sending a header of his own: the proxy appends his
    # real address, and that is the one counted.
    spoofed = "198.51.100.99, 203.0.113.1"
    assert post_via(client, url, web(subject="A3"), remote="10.0.0.5", forwarded=spoofed) == 429
    assert not Ticket.objects.filter(subject__in=["A2", "A3"]).exists()


def test_forwarded_header_from_an_untrusted_address_is_ignored(
    world: World, client: Client, settings: Any
) -> None:
    settings.TIERDESK_TRUSTED_PROXIES = ["10.0.0.0/24"]
    settings.TIERDESK_PORTAL_FORM_RATE = (1, 600)
    url = reverse("portal:web_form")
    assert post_via(client, url, web(subject="X0"), remote="192.0.2.7", forwarded="203.0.113.1") == 200
    # A different X-Forwarded-For does not make the same direct client someone else.
    assert post_via(client, url, web(subject="X1"), remote="192.0.2.7", forwarded="203.0.113.2") == 429


@pytest.mark.parametrize(("window", "says"), [(60, "wait 1 minute,"), (600, "wait 10 minutes,")])
def test_rate_limit_message_names_the_configured_window(
    world: World, client: Client, settings: Any, window: int, says: str
) -> None:
    settings.TIERDESK_PORTAL_FORM_RATE = (1, window)
    url = reverse("portal:callback")
    client.post(url, callback())
    response = client.post(url, callback())
    assert response.status_code == 429 and says in response.content.decode()
