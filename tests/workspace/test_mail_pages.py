"""The workspace pages of received mail: the held list, the quarantine and every message
(administrators), one message with its actions and raw source, and a person's bounce mark."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import World
from tierdesk.audit.models import AuditEvent
from tierdesk.mail import services
from tierdesk.mail.choices import InboundState, Transport
from tierdesk.mail.models import FailingAddress, InboundMessage
from tierdesk.tickets.models import Ticket

pytestmark = pytest.mark.django_db

MAIL = reverse("workspace:mail")
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4


def raw_mail(
    *,
    sender: str = "Sam Stranger <stranger@nowhere.test>",
    subject: str = "Our VPN is down",
    body: str = "Nobody can connect since 9:00.\n",
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "support@desk.test"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(timezone.now())
    msg["Message-ID"] = make_msgid(domain="nowhere.test")
    msg.set_content(body)
    return msg.as_bytes()


def receive(raw: bytes) -> InboundMessage:
    return services.import_message(raw, transport=Transport.IMAP, mailbox=None)


def held(**kwargs: Any) -> InboundMessage:
    message = receive(raw_mail(**kwargs))
    assert message.state == InboundState.HELD, (message.state, message.reason, message.error)
    return message


def quarantined(data: bytes = PNG) -> InboundMessage:
    message = receive(data)
    assert message.state == InboundState.QUARANTINED, message.state
    return message


def page(pk: int, name: str = "mail_message") -> str:
    return reverse(f"workspace:{name}", args=[pk])


# --- Who sees what ----------------------------------------------------------------------------


def test_agents_see_the_held_list_admins_the_quarantine(client: Client, world: World) -> None:
    waiting = held(subject="Printer on fire")
    broken = quarantined()
    client.force_login(world.l1)
    response = client.get(MAIL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Printer on fire" in html
    assert "stranger@nowhere.test" in html
    assert "Sam Stranger" in html
    assert [m.pk for m in response.context["page"].items] == [waiting.pk]
    assert page(broken.pk) not in html
    assert client.get(MAIL, {"tab": "quarantine"}).status_code == 404
    assert client.get(MAIL, {"tab": "all"}).status_code == 404
    assert client.get(MAIL, {"tab": "nonsense"}).status_code == 404
    assert client.get(page(broken.pk)).status_code == 404
    assert client.get(page(waiting.pk)).status_code == 200

    client.force_login(world.admin)
    response = client.get(MAIL, {"tab": "quarantine"})
    assert response.status_code == 200
    assert [m.pk for m in response.context["page"].items] == [broken.pk]
    assert broken.error[:40] in response.content.decode()
    every = client.get(MAIL, {"tab": "all"})
    assert {m.pk for m in every.context["page"].items} == {waiting.pk, broken.pk}
    only_held = client.get(MAIL, {"tab": "all", "state": "held"})
    assert [m.pk for m in only_held.context["page"].items] == [waiting.pk]
    assert client.get(page(broken.pk)).status_code == 200


def test_customers_and_strangers_are_kept_out(client: Client, world: World) -> None:
    waiting = held()
    broken = quarantined()
    gets = [
        MAIL,
        f"{MAIL}?tab=quarantine",
        reverse("workspace:mail_badge"),
        page(waiting.pk),
        page(waiting.pk, "mail_source"),
        page(broken.pk, "mail_source"),
    ]
    posts = [
        (page(waiting.pk, "mail_assign"), {"organisation": world.org_a.pk}),
        (page(waiting.pk, "mail_discard"), {"reason": "spam"}),
        (page(broken.pk, "mail_retry"), {}),
        (page(broken.pk, "mail_discard"), {"reason": "spam"}),
    ]
    for url in gets:
        assert client.get(url).status_code == 302, url  # to the sign-in page
    for customer in (world.customer_a, world.manager_b):
        client.force_login(customer)
        for url in gets:
            assert client.get(url).status_code == 404, url
        for url, data in posts:
            assert client.post(url, data).status_code == 404, url
    waiting.refresh_from_db()
    broken.refresh_from_db()
    assert (waiting.state, broken.state) == (InboundState.HELD, InboundState.QUARANTINED)
    assert not Ticket.objects.exists()


def test_the_nav_links_the_mail_and_counts_held_messages(client: Client, world: World) -> None:
    held()
    held(sender="other@nowhere.test")
    quarantined()
    client.force_login(world.l1)
    queue = client.get(reverse("workspace:queue")).content.decode()
    assert f'href="{MAIL}"' in queue
    assert reverse("workspace:mail_badge") in queue
    badge = client.get(reverse("workspace:mail_badge")).content.decode()
    assert ">2<" in badge


# --- Paging and query counts ------------------------------------------------------------------


def test_older_pages_and_fixed_query_count(
    client: Client, world: World, monkeypatch: pytest.MonkeyPatch, django_assert_max_num_queries: Any
) -> None:
    from tierdesk.workspace import mail_views

    for n in range(3):
        held(sender=f"s{n}@nowhere.test", subject=f"Message {n}")
    client.force_login(world.l1)
    with django_assert_max_num_queries(8) as few:
        assert client.get(MAIL).status_code == 200
    for n in range(3, 30):
        held(sender=f"s{n}@nowhere.test", subject=f"Message {n}")
    quarantined()
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(client.get(MAIL).context["page"].items) == 30
    client.force_login(world.admin)
    for tab in ("quarantine", "all"):
        with django_assert_max_num_queries(len(few.captured_queries)):
            assert client.get(MAIL, {"tab": tab}).status_code == 200

    monkeypatch.setattr(mail_views, "PAGE_SIZE", 12)
    everything = InboundMessage.objects.all()
    for tab, rows in [
        ("held", everything.filter(state=InboundState.HELD).order_by("-received_at", "-id")),
        ("all", everything.order_by("-id")),
    ]:
        seen: list[int] = []
        url = f"{MAIL}?tab={tab}"
        while url:
            response = client.get(url)
            seen += [m.pk for m in response.context["page"].items]
            query = response.context["older_query"]
            url = f"{MAIL}?{query}" if query else ""
        assert seen == list(rows.values_list("pk", flat=True))
        assert len(seen) == {"held": 30, "all": 31}[tab]
    assert client.get(MAIL, {"tab": "all", "cursor": "forged!"}).context["error"]


def test_message_page_query_count_is_bounded(
    client: Client, world: World, django_assert_max_num_queries: Any
) -> None:
    message = held()
    client.force_login(world.l1)
    with django_assert_max_num_queries(12):
        response = client.get(page(message.pk))
    assert response.status_code == 200
    assert "Nobody can connect since 9:00." in response.content.decode()
    assert response.context["preview"].to == "support@desk.test"


# --- One message ------------------------------------------------------------------------------


def test_user_text_is_escaped(client: Client, world: World) -> None:
    message = held(
        sender='"<script>alert(3)</script>" <stranger@nowhere.test>',
        subject="<script>alert(1)</script>",
        body="<script>alert(2)</script><img src=x onerror=alert(4)>\n",
    )
    client.force_login(world.l1)
    for url in (MAIL, page(message.pk)):
        html = client.get(url).content.decode()
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    html = client.get(page(message.pk)).content.decode()
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html


def test_raw_source_is_a_download_for_those_who_may_read_it(client: Client, world: World) -> None:
    raw = raw_mail(subject="Source please")
    message = receive(raw)
    client.force_login(world.l1)
    response = client.get(page(message.pk, "mail_source"))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert ".eml" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == raw  # type: ignore[attr-defined]

    # A message that became a ticket: its content is read on the ticket, the source by admins.
    from_contact = receive(raw_mail(sender=world.customer_a.email, subject="Known sender"))
    assert from_contact.state == InboundState.TICKET
    assert client.get(page(from_contact.pk)).status_code == 200
    assert client.get(page(from_contact.pk, "mail_source")).status_code == 404
    client.force_login(world.l1_b_only)  # does not serve org_a: the message does not exist
    assert client.get(page(from_contact.pk)).status_code == 404
    client.force_login(world.admin)
    assert client.get(page(from_contact.pk, "mail_source")).status_code == 200
    broken = quarantined()
    assert client.get(page(broken.pk, "mail_source")).status_code == 200


def test_unparseable_message_shows_the_error(client: Client, world: World) -> None:
    broken = quarantined()
    client.force_login(world.admin)
    response = client.get(page(broken.pk))
    assert response.status_code == 200
    assert response.context["preview"].error
    assert "Retry import" in response.content.decode()


# --- Actions ----------------------------------------------------------------------------------


def test_assign_creates_the_request_and_opens_it(client: Client, world: World) -> None:
    message = held(subject="Please help")
    client.force_login(world.l1)
    form = client.get(page(message.pk)).context["forms"]["assign"]
    choices = set(form.fields["organisation"].queryset)
    assert choices == {world.org_a, world.org_b}  # never the provider
    response = client.post(page(message.pk, "mail_assign"), {"organisation": world.org_a.pk})
    message.refresh_from_db()
    assert message.state == InboundState.TICKET
    ticket = message.ticket
    assert ticket is not None
    assert response.status_code == 302
    assert response["Location"] == reverse("workspace:ticket", args=[ticket.number])
    assert ticket.organisation == world.org_a
    assert ticket.requester.email == "stranger@nowhere.test"
    assert ticket.subject == "Please help"
    assert message.handled_by == world.l1
    assert AuditEvent.objects.filter(event_type="mail.assigned").exists()
    # Done: a second assignment is refused, nothing else is created.
    again = client.post(page(message.pk, "mail_assign"), {"organisation": world.org_b.pk})
    assert again.status_code == 409
    assert "Only held messages can be assigned." in again.content.decode()
    assert "assign" not in again.context["forms"]
    assert Ticket.objects.count() == 1


def test_agent_cannot_assign_to_an_organisation_he_does_not_serve(client: Client, world: World) -> None:
    message = held()
    client.force_login(world.l1_b_only)
    form = client.get(page(message.pk)).context["forms"]["assign"]
    assert set(form.fields["organisation"].queryset) == {world.org_b}
    response = client.post(page(message.pk, "mail_assign"), {"organisation": world.org_a.pk})
    assert response.status_code == 400
    assert response.context["forms"]["assign"].errors["organisation"]
    message.refresh_from_db()
    assert message.state == InboundState.HELD
    assert not Ticket.objects.exists()
    assert not InboundMessage.objects.filter(ticket__isnull=False).exists()


def test_domain_error_of_assign_is_shown_and_nothing_changes(client: Client, world: World) -> None:
    # Staff wrote without a ticket: he is no contact of org_a, the service refuses.
    message = held(sender=world.l2.email, subject="Staff without a ticket")
    client.force_login(world.l1)
    response = client.post(page(message.pk, "mail_assign"), {"organisation": world.org_a.pk})
    assert response.status_code == 400
    assert response.context["forms"]["assign"].errors
    assert "is not a contact of" in response.content.decode()
    message.refresh_from_db()
    assert message.state == InboundState.HELD
    assert not Ticket.objects.exists()


def test_discard_a_held_message(client: Client, world: World) -> None:
    message = held()
    client.force_login(world.l1)
    assert client.post(page(message.pk, "mail_discard"), {"reason": ""}).status_code == 400
    response = client.post(page(message.pk, "mail_discard"), {"reason": "Newsletter"})
    assert response.status_code == 302
    assert response["Location"] == MAIL
    message.refresh_from_db()
    assert (message.state, message.reason, message.handled_by) == (
        InboundState.DISCARDED,
        "Newsletter",
        world.l1,
    )
    assert client.get(MAIL).context["page"].items == []


def test_quarantine_actions_are_for_admins(
    client: Client, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_route(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the importer had a bug")

    with monkeypatch.context() as patch:
        patch.setattr(services, "_route", broken_route)
        failed = quarantined(raw_mail(subject="Imported after the fix"))
    assert "the importer had a bug" in failed.error
    png = quarantined()

    client.force_login(world.l1)
    assert client.post(page(failed.pk, "mail_retry")).status_code == 404
    assert client.post(page(png.pk, "mail_discard"), {"reason": "x"}).status_code == 404

    client.force_login(world.admin)
    html = client.get(page(failed.pk)).content.decode()
    assert "the importer had a bug" in html
    response = client.post(page(failed.pk, "mail_retry"))
    assert response.status_code == 302
    failed.refresh_from_db()
    assert failed.state == InboundState.HELD  # the stranger's message, held for an agent now
    assert failed.handled_by == world.admin

    response = client.post(page(png.pk, "mail_retry"), follow=True)
    png.refresh_from_db()
    assert png.state == InboundState.QUARANTINED
    assert "stays quarantined" in response.content.decode()

    # Retrying what is no longer quarantined is a clear error, nothing changes.
    response = client.post(page(failed.pk, "mail_retry"))
    assert response.status_code == 409
    assert "Only quarantined messages" in response.content.decode()

    response = client.post(page(png.pk, "mail_discard"), {"reason": "Not a mail"})
    assert response.status_code == 302
    png.refresh_from_db()
    assert png.state == InboundState.DISCARDED


# --- A person's failing address ---------------------------------------------------------------


def test_failing_address_mark_and_clear(client: Client, world: World) -> None:
    person = reverse("workspace:person", args=[world.customer_a.pk])
    clear = reverse("workspace:clear_failing_address", args=[world.customer_a.pk])
    client.force_login(world.l1)
    assert "bounces" not in client.get(person).content.decode()
    FailingAddress.objects.create(address=world.customer_a.email, reason="5.1.1 <b>user unknown</b>")
    html = client.get(person).content.decode()
    assert "Mail to this address bounces: 5.1.1 &lt;b&gt;user unknown&lt;/b&gt;, since" in html
    assert clear in html

    client.force_login(world.l1_b_only)  # does not serve org_a: the person does not exist
    assert client.post(clear).status_code == 404
    client.force_login(world.customer_a)
    assert client.post(clear).status_code == 404
    assert FailingAddress.objects.exists()

    client.force_login(world.l1)
    assert client.get(clear).status_code == 405
    response = client.post(clear)
    assert response.status_code == 302
    assert response["Location"] == person
    assert not FailingAddress.objects.exists()
    assert AuditEvent.objects.filter(event_type="mail.address_cleared").exists()
    assert "bounces" not in client.get(person).content.decode()
    assert client.post(clear, follow=True).status_code == 200  # already cleared: said so
