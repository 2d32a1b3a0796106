"""Ticket page additions: unlinking related tickets, editing the details, downloading files."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from tests.factories import World
from tierdesk.audit.models import AuditEvent
from tierdesk.tickets import services
from tierdesk.tickets.choices import EntryKind, Impact, Priority, TicketType, Urgency
from tierdesk.tickets.models import Category, Ticket, TicketLink

pytestmark = pytest.mark.django_db


def page(ticket: Ticket) -> str:
    return reverse("workspace:ticket", args=[ticket.number])


def act(ticket: Ticket, action: str) -> str:
    return reverse("workspace:ticket_action", args=[ticket.number, action])


# --- Unlink -----------------------------------------------------------------------------------


def test_unlink_button_removes_the_relation_through_the_service(client: Client, world: World) -> None:
    t, other = world.ticket(), world.ticket()
    services.link_tickets(t, other=other, actor=world.l1)
    client.force_login(world.l1)
    html = client.get(page(t)).content.decode()
    assert act(t, "unlink") in html and f'name="number" value="{other.number}"' in html
    t.refresh_from_db()
    response = client.post(act(t, "unlink"), {"expected_version": t.version, "number": other.number})
    assert response.status_code == 302
    assert not TicketLink.objects.exists()
    # Audited on both tickets, as the service does.
    assert AuditEvent.objects.filter(event_type="ticket.unlinked").count() == 2
    html = client.get(page(t)).content.decode()
    assert "is no longer related to this ticket" in html and act(t, "unlink") not in html


def test_unlink_checks_the_version_and_the_relation(client: Client, world: World) -> None:
    t, other, stranger = world.ticket(), world.ticket(), world.ticket()
    services.link_tickets(t, other=other, actor=world.l1)
    t.refresh_from_db()
    stale = t.version
    services.add_internal_note(t, actor=world.l1, body="meanwhile")
    client.force_login(world.l1)
    response = client.post(act(t, "unlink"), {"expected_version": stale, "number": other.number})
    assert response.status_code == 409 and TicketLink.objects.count() == 1
    t.refresh_from_db()
    response = client.post(act(t, "unlink"), {"expected_version": t.version, "number": stranger.number})
    assert response.status_code == 400
    assert "is not related to this ticket" in response.content.decode()
    assert TicketLink.objects.count() == 1


def test_unlink_needs_access_to_the_ticket(client: Client, world: World) -> None:
    t, other = world.ticket(), world.ticket()
    services.link_tickets(t, other=other, actor=world.l1)
    t.refresh_from_db()
    client.force_login(world.l1_b_only)  # serves only org_b: the ticket does not exist for him
    response = client.post(act(t, "unlink"), {"expected_version": t.version, "number": other.number})
    assert response.status_code == 404 and TicketLink.objects.count() == 1


# --- Edit -------------------------------------------------------------------------------------


def edit_data(ticket: Ticket, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "expected_version": ticket.version,
        "subject": ticket.subject,
        "type": ticket.type,
        "category": ticket.category_id or "",
        "impact": ticket.impact,
        "urgency": ticket.urgency,
    }
    return data | changes


def test_edit_changes_only_what_was_changed_and_audits_it(client: Client, world: World) -> None:
    t = world.ticket(subject="Printr")
    client.force_login(world.l1)
    html = client.get(page(t)).content.decode()
    assert act(t, "edit") in html and 'value="Printr"' in html
    response = client.post(
        act(t, "edit"),
        edit_data(t, subject="Printer", category=world.category.pk, impact=Impact.HIGH, urgency=Urgency.HIGH),
    )
    assert response.status_code == 302
    t.refresh_from_db()
    assert (t.subject, t.category_id, t.priority) == ("Printer", world.category.pk, Priority.CRITICAL)
    event = AuditEvent.objects.filter(event_type="ticket.updated").get()
    assert event.old == {"subject": "Printr", "category": None, "impact": 2, "urgency": 2, "priority": 3}
    assert event.actor_id == world.l1.pk
    version = t.version
    response = client.post(act(t, "edit"), edit_data(t), follow=True)
    assert "Nothing was changed." in response.content.decode()
    t.refresh_from_db()
    assert t.version == version and AuditEvent.objects.filter(event_type="ticket.updated").count() == 1


def test_edit_keeps_a_retired_category_it_does_not_touch(client: Client, world: World) -> None:
    t = world.ticket(category=world.category)
    retired = Category.objects.get(pk=world.category.pk)
    retired.is_active = False
    services.save_desk_configuration(retired, actor=world.admin)
    client.force_login(world.l1)
    response = client.post(act(t, "edit"), edit_data(t, type=TicketType.QUESTION))
    assert response.status_code == 302
    t.refresh_from_db()
    assert t.type == TicketType.QUESTION and t.category_id == world.category.pk


def test_edit_refuses_stale_versions_and_bad_input(client: Client, world: World) -> None:
    t = world.ticket(subject="Old")
    stale = edit_data(t, subject="Mine")
    services.add_internal_note(t, actor=world.l1, body="meanwhile")
    client.force_login(world.l1)
    response = client.post(act(t, "edit"), stale)
    assert response.status_code == 409
    assert "This ticket was changed by someone else meanwhile" in response.content.decode()
    t.refresh_from_db()
    assert t.subject == "Old"
    response = client.post(act(t, "edit"), edit_data(t, subject="  "))
    assert response.status_code == 400
    t.refresh_from_db()
    assert t.subject == "Old"


def test_edit_is_for_staff_who_may_act(client: Client, world: World) -> None:
    t = world.ticket(subject="Old")
    for user in (world.customer_a, world.l1_b_only):
        client.force_login(user)
        assert client.post(act(t, "edit"), edit_data(t, subject="New")).status_code == 404
    t.refresh_from_db()
    assert t.subject == "Old"


# --- Files ------------------------------------------------------------------------------------


def test_files_download_from_the_workspace_with_safe_headers(client: Client, world: World) -> None:
    t = world.ticket()
    entry = services.add_internal_note(t, actor=world.l1, body="log")
    item = services.add_attachment(
        t,
        actor=world.l1,
        file=SimpleUploadedFile("boot log.html", b"<script>x</script>"),
        filename="boot log.html",
    )
    on_note = services.add_attachment(
        t, actor=world.l1, file=SimpleUploadedFile("trace.txt", b"trace"), filename="trace.txt", entry=entry
    )
    assert entry.kind == EntryKind.INTERNAL and on_note.is_internal
    url = reverse("workspace:attachment", args=[item.pk])
    client.force_login(world.l1)
    html = client.get(page(t)).content.decode()
    assert url in html and reverse("workspace:attachment", args=[on_note.pk]) in html
    assert "/api/v1/attachments/" not in html
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"<script>x</script>"
    assert response["Content-Disposition"] == 'attachment; filename="boot_log.html"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"
    # The staff's own internal file too.
    assert client.get(reverse("workspace:attachment", args=[on_note.pk])).status_code == 200


def test_files_are_hidden_from_whoever_may_not_see_the_ticket(client: Client, world: World) -> None:
    t = world.ticket()
    item = services.add_attachment(
        t, actor=world.customer_a, file=SimpleUploadedFile("a.txt", b"abc"), filename="a.txt"
    )
    url = reverse("workspace:attachment", args=[item.pk])
    assert client.get(url).status_code == 302  # strangers sign in first
    client.force_login(world.l1_b_only)  # an agent not serving Alpha
    assert client.get(url).status_code == 404
    client.force_login(world.customer_a)  # customers download in the portal, not here
    assert client.get(url).status_code == 404
    client.force_login(world.l1)
    assert client.get(url).status_code == 200
    assert client.get(reverse("workspace:attachment", args=[item.pk + 100])).status_code == 404
