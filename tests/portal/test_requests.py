"""The signed-in portal: lists, a request's page, replies, status changes, ratings, new requests."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from tests.factories import World
from tierdesk.audit.models import AuditEvent
from tierdesk.tickets import services as tickets
from tierdesk.tickets.choices import Channel, Status
from tierdesk.tickets.models import Attachment, Ticket, TicketEntry

# Session, user, the page of tickets, its categories/lines/teams, a manager's contact list.
HOME_QUERIES = 9
# Session, user, the ticket, its configuration rows, the public entries and their files.
TICKET_QUERIES = 10


def resolved(world: World, **kwargs: Any) -> Ticket:
    ticket = world.ticket(**kwargs)
    tickets.transition_ticket(ticket, to_status=Status.IN_PROGRESS, actor=world.l1)
    return tickets.transition_ticket(ticket, to_status=Status.RESOLVED, actor=world.l1)


def fresh(ticket: Ticket) -> Ticket:
    return Ticket.objects.get(pk=ticket.pk)


# --- Who sees what ----------------------------------------------------------------------------


def test_customer_sees_only_his_own_requests(world: World, client: Client) -> None:
    mine = world.ticket(requester=world.customer_a, subject="My laptop")
    colleague = world.ticket(requester=world.customer_a2, subject="Colleague's printer")
    foreign = world.ticket(requester=world.customer_b, subject="Beta secret")
    client.force_login(world.customer_a)
    page = client.get(reverse("portal:home")).content.decode()
    assert mine.number in page and "My laptop" in page
    assert colleague.number not in page and foreign.number not in page
    assert client.get(reverse("portal:ticket", args=[colleague.number])).status_code == 404
    assert client.get(reverse("portal:ticket", args=[mine.number])).status_code == 200


def test_manager_sees_and_filters_the_organisation(world: World, client: Client) -> None:
    mine = world.ticket(requester=world.customer_a, subject="Alex laptop")
    colleague = world.ticket(requester=world.customer_a2, subject="Alice printer")
    foreign = world.ticket(requester=world.customer_b, subject="Beta secret")
    tickets.transition_ticket(colleague, to_status=Status.CANCELLED, actor=world.customer_a2)
    client.force_login(world.manager_a)
    page = client.get(reverse("portal:home")).content.decode()
    assert mine.number in page and colleague.number in page and foreign.number not in page

    by_requester = client.get(reverse("portal:home"), {"requester": world.customer_a2.pk}).content.decode()
    assert colleague.number in by_requester and mine.number not in by_requester
    by_status = client.get(reverse("portal:home"), {"status": "cancelled"}).content.decode()
    assert colleague.number in by_status and mine.number not in by_status
    assert "Withdrawn" in by_status
    by_text = client.get(reverse("portal:home"), {"q": "laptop"}).content.decode()
    assert mine.number in by_text and colleague.number not in by_text
    assert client.get(reverse("portal:ticket", args=[colleague.number])).status_code == 200
    assert client.get(reverse("portal:ticket", args=[foreign.number])).status_code == 404


def test_other_organisations_ticket_is_404_everywhere(world: World, client: Client) -> None:
    foreign = world.ticket(requester=world.customer_b)
    tickets.add_attachment(
        foreign, actor=world.customer_b, file=SimpleUploadedFile("b.txt", b"beta"), filename="b.txt"
    )
    attachment = Attachment.objects.get(ticket=foreign)
    client.force_login(world.manager_a)
    for name in ("portal:ticket",):
        assert client.get(reverse(name, args=[foreign.number])).status_code == 404
    for name in ("portal:reply", "portal:status", "portal:rate"):
        response = client.post(reverse(name, args=[foreign.number]), {"body": "x", "action": "withdraw"})
        assert response.status_code == 404
    assert client.get(reverse("portal:attachment", args=[attachment.pk])).status_code == 404
    assert fresh(foreign).status == Status.NEW


def test_staff_are_sent_to_their_workspace_and_strangers_to_sign_in(world: World, client: Client) -> None:
    assert client.get(reverse("portal:home")).status_code == 302
    assert "login" in client.get(reverse("portal:home")).url
    client.force_login(world.l1)
    response = client.get(reverse("portal:home"))
    assert response.status_code == 302 and response.url == reverse("home")


def test_customer_words_for_statuses(world: World, client: Client) -> None:
    ticket = resolved(world)
    client.force_login(world.customer_a)
    assert "Resolved — please confirm" in client.get(reverse("portal:home")).content.decode()
    page = client.get(reverse("portal:ticket", args=[ticket.number])).content.decode()
    assert "Resolved — please confirm" in page


# --- The conversation -------------------------------------------------------------------------


def test_internal_notes_and_events_never_shown(world: World, client: Client) -> None:
    ticket = world.ticket()
    tickets.add_internal_note(ticket, actor=world.l1, body="SECRET-NOTE: customer is difficult")
    tickets.add_public_reply(ticket, actor=world.l1, body="We are looking into it.")
    note = TicketEntry.objects.get(ticket=ticket, kind="internal")
    tickets.add_attachment(
        ticket,
        actor=world.l1,
        file=SimpleUploadedFile("internal.txt", b"internal"),
        filename="internal-file.txt",
        entry=note,
    )
    client.force_login(world.customer_a)
    page = client.get(reverse("portal:ticket", args=[ticket.number])).content.decode()
    assert "We are looking into it." in page
    assert "SECRET-NOTE" not in page and "internal-file.txt" not in page
    internal = Attachment.objects.get(ticket=ticket, is_internal=True)
    assert client.get(reverse("portal:attachment", args=[internal.pk])).status_code == 404


def test_reply_with_attachment(world: World, client: Client) -> None:
    ticket = world.ticket()
    client.force_login(world.customer_a)
    response = client.post(
        reverse("portal:reply", args=[ticket.number]),
        {"body": "Here is the log", "attachments": [SimpleUploadedFile("log.txt", b"log line")]},
    )
    assert response.status_code == 302
    entry = TicketEntry.objects.get(ticket=ticket, kind="public")
    assert entry.body == "Here is the log" and entry.author_id == world.customer_a.pk
    attachment = Attachment.objects.get(entry=entry)
    page = client.get(reverse("portal:ticket", args=[ticket.number])).content.decode()
    assert "Here is the log" in page and "log.txt" in page
    download = client.get(reverse("portal:attachment", args=[attachment.pk]))
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"log line"
    assert "attachment" in download["Content-Disposition"]


def test_reply_to_closed_request_shows_the_services_message(world: World, client: Client) -> None:
    ticket = world.ticket()
    tickets.transition_ticket(ticket, to_status=Status.CANCELLED, actor=world.customer_a)
    client.force_login(world.customer_a)
    response = client.post(reverse("portal:reply", args=[ticket.number]), {"body": "hello?"})
    assert response.status_code == 400
    assert "please open a new request" in response.content.decode()
    assert not TicketEntry.objects.filter(ticket=ticket, kind="public").exists()


# --- Status changes and rating ----------------------------------------------------------------


def test_close_a_resolved_request(world: World, client: Client) -> None:
    ticket = resolved(world)
    client.force_login(world.customer_a)
    response = client.post(reverse("portal:status", args=[ticket.number]), {"action": "close"})
    assert response.status_code == 302
    assert fresh(ticket).status == Status.CLOSED


def test_reopen_within_the_window(world: World, client: Client) -> None:
    ticket = resolved(world)
    client.force_login(world.customer_a)
    client.post(reverse("portal:status", args=[ticket.number]), {"action": "reopen"})
    assert fresh(ticket).status == Status.IN_PROGRESS  # back to the assignee


def test_reopen_after_the_window_shows_the_services_message(world: World, client: Client) -> None:
    from datetime import timedelta

    from django.utils import timezone

    ticket = resolved(world)
    Ticket.objects.filter(pk=ticket.pk).update(resolved_at=timezone.now() - timedelta(days=30))
    client.force_login(world.customer_a)
    response = client.post(reverse("portal:status", args=[ticket.number]), {"action": "reopen"}, follow=True)
    assert "can no longer be reopened" in response.content.decode()
    assert fresh(ticket).status == Status.RESOLVED


def test_withdraw_an_open_request(world: World, client: Client) -> None:
    ticket = world.ticket()
    client.force_login(world.customer_a)
    client.post(reverse("portal:status", args=[ticket.number]), {"action": "withdraw"})
    assert fresh(ticket).status == Status.CANCELLED
    page = client.get(reverse("portal:ticket", args=[ticket.number])).content.decode()
    assert "Withdrawn" in page and 'value="withdraw"' not in page


def test_rating_only_after_resolution(world: World, client: Client) -> None:
    ticket = world.ticket()
    client.force_login(world.customer_a)
    page = client.get(reverse("portal:ticket", args=[ticket.number])).content.decode()
    assert 'class="stars"' not in page
    response = client.post(reverse("portal:rate", args=[ticket.number]), {"rating": "5"}, follow=True)
    assert "once it is resolved" in response.content.decode()
    assert fresh(ticket).rating is None

    ticket = resolved(world)
    page = client.get(reverse("portal:ticket", args=[ticket.number])).content.decode()
    assert '<fieldset class="stars">' in page and "<legend>" in page
    response = client.post(
        reverse("portal:rate", args=[ticket.number]), {"rating": "4", "comment": "Quick, thanks"}
    )
    assert response.status_code == 302
    stored = fresh(ticket)
    assert stored.rating == 4 and stored.rating_comment == "Quick, thanks"
    assert client.post(reverse("portal:rate", args=[ticket.number]), {"rating": "9"}).status_code == 400
    assert fresh(ticket).rating == 4


# --- New requests -----------------------------------------------------------------------------


def test_new_request_with_attachments(world: World, client: Client) -> None:
    client.force_login(world.customer_a)
    assert client.get(reverse("portal:new")).status_code == 200
    response = client.post(
        reverse("portal:new"),
        {
            "category": world.category.pk,
            "subject": "Screen flickers",
            "description": "Since Monday",
            "attachments": [SimpleUploadedFile("a.png", b"png-bytes"), SimpleUploadedFile("b.txt", b"text")],
        },
    )
    assert response.status_code == 302
    ticket = Ticket.objects.get(subject="Screen flickers")
    assert ticket.requester_id == world.customer_a.pk and ticket.channel == Channel.PORTAL
    assert ticket.category_id == world.category.pk
    assert sorted(a.filename for a in ticket.attachments.all()) == ["a.png", "b.txt"]
    assert response.url == reverse("portal:ticket", args=[ticket.number])


def test_oversized_attachment_creates_nothing(world: World, client: Client, settings: Any) -> None:
    settings.TIERDESK_MAX_ATTACHMENT_BYTES = 10
    client.force_login(world.customer_a)
    before = (Ticket.objects.count(), Attachment.objects.count(), AuditEvent.objects.count())
    response = client.post(
        reverse("portal:new"),
        {
            "subject": "Big file",
            "description": "see attached",
            "attachments": [
                SimpleUploadedFile("small.txt", b"ok"),
                SimpleUploadedFile("big.bin", b"x" * 100),
            ],
        },
    )
    assert response.status_code == 400
    assert "at most 10 bytes" in response.content.decode()
    assert (Ticket.objects.count(), Attachment.objects.count(), AuditEvent.objects.count()) == before


@pytest.mark.parametrize(("limit", "says"), [(1, "At most 1 file can"), (3, "At most 3 files can")])
def test_too_many_files_are_refused_in_a_grammatical_sentence(
    world: World, client: Client, monkeypatch: Any, limit: int, says: str
) -> None:
    from tierdesk.portal import services as portal

    monkeypatch.setattr(portal, "MAX_FILES", limit)
    client.force_login(world.customer_a)
    files = [SimpleUploadedFile(f"{n}.txt", b"text") for n in range(limit + 1)]
    response = client.post(
        reverse("portal:new"), {"subject": "Many files", "description": "see", "attachments": files}
    )
    assert response.status_code == 400
    assert says in response.content.decode()
    assert not Ticket.objects.filter(subject="Many files").exists()


def test_hostile_html_is_escaped(world: World, client: Client) -> None:
    ticket = world.ticket(subject="<script>alert(1)</script>", description="<img src=x onerror=alert(2)>")
    client.force_login(world.customer_a)
    for url in (reverse("portal:home"), reverse("portal:ticket", args=[ticket.number])):
        page = client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<img src=x" not in page


# --- Query counts -----------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["customer_a", "manager_a"])
def test_home_queries_do_not_grow(
    world: World, client: Client, django_assert_max_num_queries: Any, who: str
) -> None:
    user = getattr(world, who)
    client.force_login(user)
    for _ in range(2):
        world.ticket(requester=world.customer_a, category=world.category)
    with django_assert_max_num_queries(HOME_QUERIES):
        assert client.get(reverse("portal:home")).status_code == 200
    for _ in range(15):
        world.ticket(requester=world.customer_a, category=world.category)
    with django_assert_max_num_queries(HOME_QUERIES):
        response = client.get(reverse("portal:home"), {"status": "open", "q": "Printer"})
        assert response.status_code == 200
    assert len(response.context["rows"]) == 17


def test_ticket_page_queries_do_not_grow(
    world: World, client: Client, django_assert_max_num_queries: Any
) -> None:
    ticket = world.ticket(category=world.category)
    client.force_login(world.customer_a)
    with django_assert_max_num_queries(TICKET_QUERIES):
        assert client.get(reverse("portal:ticket", args=[ticket.number])).status_code == 200
    for n in range(8):
        author = world.l1 if n % 2 else world.customer_a
        entry = tickets.add_public_reply(ticket, actor=author, body=f"m{n}")
        if n % 2 == 0:
            upload = SimpleUploadedFile(f"f{n}.txt", b"data")
            tickets.add_attachment(
                ticket, actor=world.customer_a, file=upload, filename=upload.name, entry=entry
            )
        tickets.add_internal_note(ticket, actor=world.l1, body=f"note {n} {entry.pk}")
    with django_assert_max_num_queries(TICKET_QUERIES):
        assert client.get(reverse("portal:ticket", args=[ticket.number])).status_code == 200


def test_the_request_shows_what_the_desk_promised_and_by_when(world: World, client: Client) -> None:
    """The service level in a customer's words: the first answer and the resolution by their
    deadlines; the answer once given; the clock waiting while the request waits for him."""
    from django.utils import formats, timezone

    ticket = world.ticket()
    assert ticket.response_due_at is not None and ticket.resolution_due_at is not None
    client.force_login(world.customer_a)
    url = reverse("portal:ticket", args=[ticket.number])

    def shown(when: Any) -> str:
        return formats.date_format(timezone.localtime(when), "SHORT_DATETIME_FORMAT")

    page = client.get(url).content.decode()
    assert "First answer by" in page and shown(ticket.response_due_at) in page
    assert "Resolution planned by" in page and shown(ticket.resolution_due_at) in page
    for internal in ("at risk", "breached", "Standard"):  # no internal states or policy names
        assert internal not in page

    tickets.add_public_reply(ticket, actor=world.l1, body="We are on it.")
    page = client.get(url).content.decode()
    assert "First answer by" not in page and "given" in page

    tickets.assign_ticket(ticket, assignee=world.l1, actor=world.l1)
    tickets.transition_ticket(ticket, to_status=Status.WAITING_CUSTOMER, actor=world.l1)
    page = client.get(url).content.decode()
    assert "Resolution planned by" not in page
    assert "The deadline waits while we wait for your answer." in page

    client.force_login(world.customer_b)  # and nobody else sees any of it
    assert client.get(url).status_code == 404
