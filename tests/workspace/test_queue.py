"""The agent queue: visibility, tabs and counts, filters, sorting, paging, saved views, bulk."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import World
from tierdesk.audit.models import AuditEvent
from tierdesk.tickets import services
from tierdesk.tickets.choices import Channel, Impact, Status, Urgency
from tierdesk.tickets.models import Ticket
from tierdesk.workspace.models import SavedView

pytestmark = pytest.mark.django_db
QUEUE = reverse("workspace:queue")
COUNTS = reverse("workspace:queue_counts")


def numbers(response: Any) -> list[str]:
    return [t.number for t in response.context["page"].items]


def test_queue_shows_only_visible_tickets(client: Client, world: World) -> None:
    a = world.ticket(requester=world.customer_a, subject="Alpha printer")
    b = world.ticket(requester=world.customer_b, subject="Beta printer")
    client.force_login(world.l1_b_only)
    response = client.get(QUEUE)
    assert response.status_code == 200
    assert numbers(response) == [b.number]
    assert a.number not in response.content.decode()
    client.force_login(world.l1)
    assert set(numbers(client.get(QUEUE))) == {a.number, b.number}


def test_customers_and_strangers_are_kept_out(client: Client, world: World) -> None:
    assert client.get(QUEUE).status_code == 302
    client.force_login(world.customer_a)
    assert client.get(QUEUE).status_code == 404


def test_tabs_count_open_tickets(client: Client, world: World) -> None:
    mine = world.ticket()
    services.assign_ticket(mine, assignee=world.l1, actor=world.l1)
    world.ticket(requester=world.customer_b)
    done = world.ticket()
    services.transition_ticket(done, to_status=Status.CANCELLED, actor=world.l1)
    escalated = world.ticket()
    services.escalate_ticket(escalated, to_line=world.lines["L2"], actor=world.l1, reason="needs L2")
    client.force_login(world.l1)
    response = client.get(COUNTS)
    counts = {t["key"]: t["count"] for t in response.context["tabs"]}
    # l1 sees L1 tickets of both orgs: mine, the org_b one, the cancelled one (not counted).
    assert counts == {"mine": 1, "team": 1, "line": 2, "unassigned": 1, "all": 2}
    assert numbers(client.get(QUEUE, {"tab": "mine"})) == [mine.number]
    client.force_login(world.l2)
    response = client.get(QUEUE, {"tab": "line"})
    assert numbers(response) == [escalated.number]


def test_filters_sorting_and_paging(client: Client, world: World) -> None:
    urgent = world.ticket(subject="Server down", impact=Impact.HIGH, urgency=Urgency.HIGH)
    phone = world.ticket(subject="Phone call", channel=Channel.PHONE)
    other = world.ticket(requester=world.customer_b, subject="Beta mail")
    client.force_login(world.l1)
    assert numbers(client.get(QUEUE))[0] == urgent.number  # priority first
    assert numbers(client.get(QUEUE, {"sort": "-created"}))[0] == other.number
    assert numbers(client.get(QUEUE, {"sort": "created"}))[0] == urgent.number
    assert numbers(client.get(QUEUE, {"organisation": world.org_b.pk})) == [other.number]
    assert numbers(client.get(QUEUE, {"channel": "phone"})) == [phone.number]
    assert numbers(client.get(QUEUE, {"q": "server"})) == [urgent.number]
    assert numbers(client.get(QUEUE, {"priority": 1})) == [urgent.number]


def test_keyset_pagination(client: Client, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from tierdesk.workspace import views

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    made = [world.ticket() for _ in range(5)]
    client.force_login(world.l1)
    seen: list[str] = []
    url = QUEUE + "?sort=created"
    for _ in range(5):
        response = client.get(url)
        seen += numbers(response)
        if not response.context["page"].next_cursor:
            break
        url = QUEUE + "?" + response.context["next_query"]
    assert seen == [t.number for t in made]
    assert client.get(QUEUE, {"cursor": "garbage"}).status_code == 200


def test_htmx_poll_returns_rows_only(client: Client, world: World) -> None:
    t = world.ticket()
    client.force_login(world.l1)
    response = client.get(QUEUE, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert t.number in body and "<html" not in body and "<tr" in body


def test_the_page_loads_its_counts_afterwards_and_they_keep_the_filters(client: Client, world: World) -> None:
    """The queue page shows the tabs at once and fetches their counts with HTMX; the counts view
    renders the same tabs (links keep the filters, the current tab stays marked) with numbers."""
    world.ticket()
    client.force_login(world.l1)
    page = client.get(QUEUE, {"tab": "line", "priority": "3"}).content.decode()
    assert 'class="badge">' not in page.split('id="queue-tabs"')[1].split("</ul>")[0]
    counts_url = re.search(r'id="queue-tabs"[^>]*hx-get="([^"]+)"', page)
    assert counts_url is not None and 'hx-trigger="load, every 30s"' in page
    fragment = client.get(counts_url.group(1).replace("&amp;", "&"))
    assert fragment.status_code == 200
    html = fragment.content.decode()
    assert 'hx-trigger="every 30s"' in html  # refreshes itself, no second "load"
    assert re.search(r'href="\?[^"]*tab=line[^"]*" aria-current="page"', html)
    assert "priority=3" in html
    assert {t["key"]: t["count"] for t in fragment.context["tabs"]}["all"] == 1


def test_counts_are_for_staff_only(client: Client, world: World) -> None:
    assert client.get(reverse("workspace:queue_counts")).status_code == 302
    client.force_login(world.customer_a)
    assert client.get(reverse("workspace:queue_counts")).status_code == 404


def test_queue_query_count_is_bounded(
    client: Client, world: World, django_assert_max_num_queries: Any
) -> None:
    client.force_login(world.l1)
    first = world.ticket(category=world.category)
    services.assign_ticket(first, assignee=world.l1, actor=world.l1)
    with django_assert_max_num_queries(16) as few:
        client.get(QUEUE)
    for requester in [world.customer_a, world.customer_b, world.customer_a2] * 3:
        t = world.ticket(requester=requester, category=world.category)
        services.assign_ticket(t, assignee=world.l1, actor=world.l1)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(QUEUE)
    assert len(response.context["page"].items) == 10


def test_saved_views(client: Client, world: World) -> None:
    client.force_login(world.l1)
    response = client.post(
        reverse("workspace:save_view"), {"name": "Phone", "query": "channel=phone&tab=all"}
    )
    assert response.status_code == 302
    view = SavedView.objects.get(user=world.l1)
    assert view.query == "channel=phone&tab=all"
    assert "Phone" in client.get(QUEUE).content.decode()
    client.force_login(world.l2)
    assert client.post(reverse("workspace:delete_view", args=[view.pk])).status_code == 404
    client.force_login(world.l1)
    client.post(reverse("workspace:delete_view", args=[view.pk]))
    assert not SavedView.objects.exists()


def bulk_data(*rows: Ticket, **fields: Any) -> dict[str, Any]:
    """What the queue posts: the checked ids and, per row, the version it showed."""
    return {"tickets": [t.pk for t in rows], **{f"version-{t.pk}": t.version for t in rows}, **fields}


def test_bulk_assign_audits_each_ticket_and_reports_failures(client: Client, world: World) -> None:
    first, second = world.ticket(), world.ticket()
    closed = world.ticket()
    services.transition_ticket(closed, to_status=Status.CANCELLED, actor=world.l1)
    invisible = world.ticket(requester=world.customer_a)
    before = AuditEvent.objects.filter(event_type="ticket.assigned").count()
    client.force_login(world.l1)
    closed.refresh_from_db()
    response = client.post(
        reverse("workspace:bulk"), bulk_data(first, second, closed, action="take", next=QUEUE), follow=True
    )
    assert AuditEvent.objects.filter(event_type="ticket.assigned").count() == before + 2
    assert Ticket.objects.filter(assignee=world.l1).count() == 2
    texts = [str(m) for m in response.context["messages"]]
    assert any(closed.number in text for text in texts)
    client.force_login(world.l1_b_only)
    response = client.post(reverse("workspace:bulk"), bulk_data(invisible, action="take"), follow=True)
    assert any("not found" in str(m) for m in response.context["messages"])
    invisible.refresh_from_db()
    assert invisible.assignee_id is None


def test_bulk_escalate_needs_reason(client: Client, world: World) -> None:
    t = world.ticket()
    client.force_login(world.l1)
    client.post(reverse("workspace:bulk"), bulk_data(t, action="escalate", line=world.lines["L2"].pk))
    t.refresh_from_db()
    assert t.current_line.code == "L1"
    client.post(
        reverse("workspace:bulk"),
        bulk_data(t, action="escalate", line=world.lines["L2"].pk, reason="network"),
    )
    t.refresh_from_db()
    assert t.current_line.code == "L2"


def test_bulk_skips_tickets_changed_since_the_queue_was_shown(client: Client, world: World) -> None:
    fresh, changed, also_changed = world.ticket(), world.ticket(), world.ticket()
    client.force_login(world.l1)
    shown = {t.pk: t.version for t in client.get(QUEUE).context["page"].items}
    assert f'name="version-{changed.pk}" value="{changed.version}"' in client.get(QUEUE).content.decode()
    # Meanwhile a colleague works on two of them.
    services.assign_ticket(changed, assignee=world.admin, actor=world.admin)
    services.add_internal_note(also_changed, actor=world.admin, body="on it")
    response = client.post(
        reverse("workspace:bulk"),
        {
            "tickets": [fresh.pk, changed.pk, also_changed.pk],
            **{f"version-{pk}": version for pk, version in shown.items()},
            "action": "take",
            "next": QUEUE,
        },
        follow=True,
    )
    texts = [str(m) for m in response.context["messages"]]
    assert "1 ticket changed." in texts
    assert any(
        changed.number in text and also_changed.number in text and "changed by someone else" in text
        for text in texts
    )
    fresh.refresh_from_db()
    changed.refresh_from_db()
    also_changed.refresh_from_db()
    assert fresh.assignee_id == world.l1.pk
    assert changed.assignee_id == world.admin.pk and also_changed.assignee_id is None
    assert AuditEvent.objects.filter(event_type="ticket.assigned", actor=world.l1).count() == 1


def test_bulk_without_versions_changes_nothing(client: Client, world: World) -> None:
    t = world.ticket()
    client.force_login(world.l1)
    response = client.post(reverse("workspace:bulk"), {"tickets": [t.pk], "action": "take"}, follow=True)
    assert any("reload it" in str(m) for m in response.context["messages"])
    t.refresh_from_db()
    assert t.assignee_id is None


def new_rows(html: str) -> list[str]:
    return re.findall(r'<tr class="new" data-ticket="([^"]+)"', html)


def test_poll_marks_rows_that_are_new_since_the_previous_render(client: Client, world: World) -> None:
    old = world.ticket()
    moved_in = world.ticket()
    services.escalate_ticket(moved_in, to_line=world.lines["L2"], actor=world.l1, reason="up")
    client.force_login(world.l1)
    response = client.get(QUEUE, {"tab": "line"})
    html = response.content.decode()
    assert new_rows(html) == []  # a first render has nothing to compare with
    poll = re.search(r'<tbody id="queue-rows" hx-get="([^"]+)"', html)
    assert poll is not None
    poll_url = poll.group(1).replace("&amp;", "&")
    assert f"seen={old.pk}" in poll_url and "tab=line" in poll_url
    # A new ticket arrives and one comes back down to L1 (new to this queue, although older).
    created = world.ticket(requester=world.customer_b)
    services.deescalate_ticket(moved_in, to_line=world.lines["L1"], actor=world.admin, reason="back")
    response = client.get(poll_url, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "<html" not in html
    assert sorted(new_rows(html)) == sorted([created.number, moved_in.number])
    assert f'data-ticket="{old.number}"' in html
    # The refreshed rows carry their own seen-set: the next poll marks nothing.
    poll = re.search(r'hx-get="([^"]+)"', html)
    assert poll is not None
    html = client.get(poll.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"}).content.decode()
    assert new_rows(html) == [] and created.number in html


def test_queue_rows_escape_what_people_typed(client: Client, world: World) -> None:
    """The rows are built in Python (workspace/rows.py): every value must still be escaped."""
    hostile = '<script>alert("x")</script> & <b>'
    ticket = world.ticket(subject=hostile)
    world.l1.first_name, world.l1.last_name = "<img src=x onerror=alert(1)>", "Agent"
    world.l1.save()
    services.assign_ticket(ticket, assignee=world.l1, actor=world.l1)
    client.force_login(world.l1)
    html = client.get(QUEUE).content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt; Agent" in html
    row = re.search(rf'<tr data-ticket="{ticket.number}">.*?</tr>', html, re.S)
    assert row is not None
    assert f'href="/desk/t/{ticket.number}/"' in row.group(0)
    assert f'aria-label="Select {ticket.number}"' in row.group(0)
    assert 'data-label="Due" class="due"><time datetime="' in row.group(0)
