"""The ticket page: conversation, replies and notes, actions, version conflicts, access, escaping."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from tests.factories import World
from tierdesk.tickets import services
from tierdesk.tickets.choices import EntryKind, Status
from tierdesk.tickets.models import Ticket, TicketEntry, TicketLink
from tierdesk.workspace import selectors
from tierdesk.workspace.models import CannedAnswer

pytestmark = pytest.mark.django_db


def page(ticket: Ticket) -> str:
    return reverse("workspace:ticket", args=[ticket.number])


def act(ticket: Ticket, action: str) -> str:
    return reverse("workspace:ticket_action", args=[ticket.number, action])


def test_conversation_entries_are_visibly_distinct(client: Client, world: World) -> None:
    t = world.ticket()
    services.add_public_reply(t, actor=world.l1, body="Hello customer")
    services.add_internal_note(t, actor=world.l1, body="Secret note")
    services.escalate_ticket(t, to_line=world.lines["L2"], actor=world.l1, reason="Needs L2")
    client.force_login(world.admin)
    html = client.get(page(t)).content.decode()
    assert 'class="entry public"' in html and 'class="entry note"' in html and 'class="entry event"' in html
    assert "Public reply" in html and "Internal note" in html and "System event" in html
    assert html.index("Hello customer") < html.index("Secret note") < html.index("Needs L2")
    assert reverse("workspace:person", args=[world.customer_a.pk]) in html


def test_access_is_restricted(client: Client, world: World) -> None:
    t = world.ticket(requester=world.customer_a)
    for user in (world.customer_a, world.l1_b_only):
        client.force_login(user)
        assert client.get(page(t)).status_code == 404
        assert client.post(act(t, "take"), {"expected_version": t.version}).status_code == 404
    client.force_login(world.l1_b_only)
    assert client.get(reverse("workspace:person", args=[world.customer_a.pk])).status_code == 404
    client.force_login(world.l1)
    response = client.get(reverse("workspace:person", args=[world.customer_a.pk]))
    assert response.status_code == 200 and t.number in response.content.decode()


def test_reply_and_note_via_post(client: Client, world: World) -> None:
    t = world.ticket()
    client.force_login(world.l1)
    response = client.post(
        act(t, "reply"),
        {
            "expected_version": t.version,
            "visibility": "public",
            "body": "We are on it",
            "attachments": [SimpleUploadedFile("log.txt", b"trace"), SimpleUploadedFile("b.txt", b"more")],
        },
    )
    assert response.status_code == 302
    entry = TicketEntry.objects.get(ticket=t, kind=EntryKind.PUBLIC)
    assert entry.body == "We are on it" and entry.attachments.count() == 2
    t.refresh_from_db()
    client.post(act(t, "reply"), {"expected_version": t.version, "visibility": "internal", "body": "psst"})
    assert TicketEntry.objects.filter(ticket=t, kind=EntryKind.INTERNAL, body="psst").exists()


def test_l3_public_reply_disabled_and_refused(client: Client, world: World) -> None:
    t = world.ticket()
    services.escalate_ticket(t, to_line=world.lines["L2"], actor=world.l1, reason="up")
    services.escalate_ticket(t, to_line=world.lines["L3"], actor=world.l2, reason="up again")
    t.refresh_from_db()
    client.force_login(world.l3)
    html = client.get(page(t)).content.decode()
    assert 'value="public" disabled' in html
    assert "Public replies are off" in html
    response = client.post(
        act(t, "reply"), {"expected_version": t.version, "visibility": "public", "body": "hi"}
    )
    assert response.status_code == 400
    assert not TicketEntry.objects.filter(ticket=t, kind=EntryKind.PUBLIC).exists()


def test_stale_version_changes_nothing(client: Client, world: World) -> None:
    t = world.ticket()
    stale = t.version
    services.add_internal_note(t, actor=world.l1, body="someone else")
    client.force_login(world.l1)
    response = client.post(act(t, "take"), {"expected_version": stale})
    assert response.status_code == 409
    assert "This ticket was changed by someone else meanwhile" in response.content.decode()
    assert "someone else" in response.content.decode()  # the current state is shown
    t.refresh_from_db()
    assert t.assignee_id is None
    response = client.post(
        act(t, "reply"), {"expected_version": stale, "visibility": "internal", "body": "x"}
    )
    assert response.status_code == 409
    assert not TicketEntry.objects.filter(ticket=t, body="x").exists()


def test_take_assign_transition_escalate(client: Client, world: World) -> None:
    t = world.ticket()
    client.force_login(world.l1)
    client.post(act(t, "take"), {"expected_version": t.version})
    t.refresh_from_db()
    assert t.assignee_id == world.l1.pk and t.status == Status.ASSIGNED
    client.post(act(t, "transition"), {"expected_version": t.version, "status": Status.IN_PROGRESS})
    t.refresh_from_db()
    assert t.status == Status.IN_PROGRESS
    response = client.post(act(t, "escalate"), {"expected_version": t.version, "line": world.lines["L2"].pk})
    assert response.status_code == 400  # reason required
    response = client.post(
        act(t, "escalate"), {"expected_version": t.version, "line": world.lines["L2"].pk, "reason": "network"}
    )
    assert response.status_code == 302
    t.refresh_from_db()
    assert t.current_line.code == "L2" and t.assignee_id is None
    client.force_login(world.l2)
    client.post(
        act(t, "deescalate"), {"expected_version": t.version, "line": world.lines["L1"].pk, "reason": "back"}
    )
    t.refresh_from_db()
    assert t.current_line.code == "L1"


def test_merge_and_link(client: Client, world: World) -> None:
    dup, main, other = world.ticket(), world.ticket(), world.ticket()
    client.force_login(world.l1)
    client.post(act(dup, "link"), {"expected_version": dup.version, "number": other.number})
    assert TicketLink.objects.count() == 1
    dup.refresh_from_db()
    response = client.post(act(dup, "merge"), {"expected_version": dup.version, "number": main.number})
    assert response.status_code == 302
    dup.refresh_from_db()
    assert dup.merged_into_id == main.pk and dup.status == Status.CANCELLED
    foreign = world.ticket(requester=world.customer_b)
    client.force_login(world.l1_b_only)
    response = client.post(act(foreign, "link"), {"expected_version": foreign.version, "number": main.number})
    assert response.status_code == 400 and "There is no ticket" in response.content.decode()


def test_history_tab(client: Client, world: World) -> None:
    t = world.ticket()
    client.force_login(world.l1)
    html = client.get(page(t) + "?tab=history").content.decode()
    assert "Ticket created" in html


def test_hostile_html_is_escaped(client: Client, world: World) -> None:
    t = world.ticket(subject="<script>alert(1)</script>", description="<img src=x onerror=alert(2)>")
    services.add_internal_note(t, actor=world.l1, body="<b>bold</b>")
    client.force_login(world.l1)
    for url in (page(t), reverse("workspace:queue")):
        html = client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    html = client.get(page(t)).content.decode()
    assert "<img src=x" not in html and "<b>bold</b>" not in html


def test_canned_answer_placeholders(client: Client, world: World) -> None:
    t = world.ticket()
    answer = CannedAnswer.objects.create(
        title="Hi",
        body="Dear {{ requester.first_name }}, re {{ ticket.number }} — {{agent.first_name}}. "
        "{{ ticket.subject|upper }} {% now 'Y' %} {{ requester.password }}",
    )
    text = selectors.render_canned(answer, ticket=t, agent=world.l1)
    assert text.startswith(f"Dear alex, re {t.number} — L1. ")
    assert "{{ ticket.subject|upper }} {% now 'Y' %} {{ requester.password }}" in text
    client.force_login(world.l1)
    url = reverse("workspace:canned_text", args=[t.number])
    response = client.get(url, {"canned": answer.pk})
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"text": text}
    assert client.get(url, {"canned": answer.pk + 1}).status_code == 404
    team_only = CannedAnswer.objects.create(title="L2 only", body="x", team=world.teams["L2"])
    assert client.get(url, {"canned": team_only.pk}).status_code == 404  # not offered on this ticket


def test_team_lead_manages_canned_answers(client: Client, world: World) -> None:
    url = reverse("workspace:canned")
    client.force_login(world.l1)
    assert client.get(url).status_code == 404
    team = world.teams["L1"]
    team.lead = world.l1
    services.save_desk_configuration(team, actor=world.admin)
    response = client.post(url, {"title": "Restart", "body": "Please restart", "team": team.pk})
    assert response.status_code == 302
    answer = CannedAnswer.objects.get()
    assert answer.team_id == team.pk
    response = client.post(url, {"title": "Global", "body": "x", "team": ""})
    assert response.status_code == 200 and CannedAnswer.objects.count() == 1
    client.post(reverse("workspace:delete_canned", args=[answer.pk]))
    assert not CannedAnswer.objects.exists()


def test_ticket_page_query_count_is_bounded(
    client: Client, world: World, django_assert_max_num_queries: Any
) -> None:
    t = world.ticket(category=world.category)
    services.assign_ticket(t, assignee=world.l1, actor=world.l1)
    services.add_public_reply(t, actor=world.l1, body="one")
    client.force_login(world.l1)
    with django_assert_max_num_queries(25) as few:
        client.get(page(t))
    for n in range(6):
        services.add_internal_note(t, actor=world.l1, body=f"note {n}")
        entry = services.add_public_reply(t, actor=world.l1, body=f"reply {n}")
        services.add_attachment(
            t, actor=world.l1, file=SimpleUploadedFile("a.txt", b"abc%d" % n), filename="a.txt", entry=entry
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(page(t))
    assert "note 5" in response.content.decode()


def test_admin_saves_canned_answers_through_the_service(client: Client, world: World) -> None:
    from tierdesk.audit.models import AuditEvent

    client.force_login(world.admin)
    assert client.get("/admin/workspace/cannedanswer/").status_code == 200
    response = client.post("/admin/workspace/cannedanswer/add/", {"title": "Hello", "body": "Hi", "team": ""})
    assert response.status_code == 302
    assert CannedAnswer.objects.get().team is None
    assert AuditEvent.objects.filter(event_type="canned_answer.saved").count() == 1
