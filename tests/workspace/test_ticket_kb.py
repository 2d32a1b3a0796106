"""The knowledge base one click from a ticket: the Knowledge panel of the ticket page (linked
articles, suggestions for the subject, insert link / text, link, unlink, "solved it"), articles
inserted into a reply linked when it is sent, and an article written from the ticket."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import World
from tierdesk.kb import services as kb
from tierdesk.kb.models import Article, TicketArticle
from tierdesk.tickets import services as tickets
from tierdesk.tickets.choices import EntryKind, Status
from tierdesk.tickets.models import Ticket, TicketEntry

pytestmark = pytest.mark.django_db


def panel(ticket: Ticket, **params: Any) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return reverse("kb:ticket_panel", args=[ticket.number]) + (f"?{query}" if query else "")


def insert(ticket: Ticket, article: Article, what: str) -> str:
    return reverse("kb:ticket_insert", args=[ticket.number, article.pk]) + f"?what={what}"


def reply(ticket: Ticket) -> str:
    return reverse("workspace:ticket_action", args=[ticket.number, "reply"])


def test_the_ticket_page_loads_the_panel_after_itself(world: World, client: Client) -> None:
    t = world.ticket(subject="Printer offline")
    client.force_login(world.l1)
    html = client.get(reverse("workspace:ticket", args=[t.number])).content.decode()
    assert f'hx-get="{panel(t)}?v={t.version}&amp;insert=1"' in html and 'hx-trigger="load"' in html
    assert 'name="kb_articles"' in html and 'id="kb-articles"' in html
    # The history tab has no reply box: nothing to insert into.
    html = client.get(reverse("workspace:ticket", args=[t.number]) + "?tab=history").content.decode()
    assert f'hx-get="{panel(t)}?v={t.version}"' in html


def test_suggestions_are_published_articles_matching_the_subject(
    world: World, client: Client, django_assert_max_num_queries: Any
) -> None:
    published = world.article(publish=True, title="Printer offline after update", visibility="customers")
    world.article(title="Printer offline draft notes")  # a draft: never suggested
    world.article(publish=True, title="Scanner jams")
    internal = world.article(publish=True, title="Printer offline: driver reset")
    t = world.ticket(subject="Printer offline")
    client.force_login(world.l1)
    response = client.get(panel(t, insert=1))
    html = response.content.decode()
    assert response.status_code == 200
    suggested = [hit.article.pk for hit in response.context["hits"]]
    assert published.pk in suggested and internal.pk in suggested and len(suggested) == 2
    assert "draft notes" not in html and "Scanner" not in html
    # A link only for what the requester may open in the portal; the text for any.
    assert insert(t, published, "link") in html and insert(t, published, "text") in html
    assert insert(t, internal, "link") not in html and insert(t, internal, "text") in html
    assert f"{reverse('kb:new')}?ticket={t.number}" in html  # "Create article from this ticket"
    # Without insert=1 (the history tab) there is nothing to insert into.
    html = client.get(panel(t)).content.decode()
    assert insert(t, published, "text") not in html
    # The agent's own words search instead of the subject.
    response = client.get(panel(t, q="scanner"))
    assert [hit.article.title for hit in response.context["hits"]] == ["Scanner jams"]
    # Session, user, the ticket, its linked articles, the ranked suggestions, the articles,
    # their tags, the requester, which of them he may read.
    with django_assert_max_num_queries(9) as few:
        client.get(panel(t, insert=1))
    for n in range(3):
        kb.link_article_to_ticket(t, world.article(publish=True, title=f"Linked printer {n}"), actor=world.l1)
        world.article(publish=True, title=f"Printer offline again {n}", visibility="customers")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(panel(t, insert=1))
    assert len(response.context["linked"]) == 3 and len(response.context["hits"]) == 5


def test_linked_articles_are_listed_and_not_suggested_again(world: World, client: Client) -> None:
    item = world.article(publish=True, title="Printer offline after update", visibility="customers")
    t = world.ticket(subject="Printer offline")
    kb.link_article_to_ticket(t, item, actor=world.l1, solved=True)
    client.force_login(world.l1)
    response = client.get(panel(t, insert=1))
    assert [link.article_id for link in response.context["linked"]] == [item.pk]
    assert response.context["hits"] == []
    html = response.content.decode()
    assert "solved it" in html and "Not the solution" in html and "Unlink" in html


def test_insert_gives_the_portal_link_or_the_text(world: World, client: Client, settings: Any) -> None:
    settings.TIERDESK_BASE_URL = "https://desk.example"
    public = world.article(
        publish=True, title="Reset your password", visibility="customers", body="Go to **Settings**."
    )
    internal = world.article(publish=True, title="Runbook", body="Internal steps")
    for_b = world.article(
        publish=True, title="Beta only", visibility="organisations", organisations=[world.org_b]
    )
    t = world.ticket(subject="Password")  # requested by a customer of org A
    client.force_login(world.l1)
    data = json.loads(client.get(insert(t, public, "link")).content)
    assert data == {
        "text": f"Reset your password: https://desk.example/portal/kb/{public.pk}/",
        "article": public.pk,
        "number": public.number,
    }
    assert json.loads(client.get(insert(t, public, "text")).content)["text"] == "Go to **Settings**."
    for hidden in (internal, for_b):
        response = client.get(insert(t, hidden, "link"))
        assert (
            response.status_code == 400
            and "cannot open this article" in json.loads(response.content)["detail"]
        )
    assert json.loads(client.get(insert(t, internal, "text")).content)["text"] == "Internal steps"
    limited = world.article(publish=True, title="L2 only", lines=[world.lines["L2"]])
    assert client.get(insert(t, limited, "text")).status_code == 404


def test_articles_inserted_into_a_reply_are_linked_when_it_is_sent(world: World, client: Client) -> None:
    public = world.article(publish=True, title="Reset your password", visibility="customers")
    solved = world.article(publish=True, title="Already the answer")
    limited = world.article(publish=True, title="L2 only", lines=[world.lines["L2"]])
    t = world.ticket(subject="Password")
    kb.link_article_to_ticket(t, solved, actor=world.l1, solved=True)
    t.refresh_from_db()
    client.force_login(world.l1)
    response = client.post(
        reply(t),
        {
            "expected_version": t.version,
            "visibility": "public",
            "body": f"See https://desk.example/portal/kb/{public.pk}/",
            "kb_articles": f"{public.pk},{solved.pk},{limited.pk}",
        },
    )
    assert response.status_code == 302
    links = {link.article_id: link.solved for link in TicketArticle.objects.filter(ticket=t)}
    # The inserted one is linked; the solving one keeps its mark; one he may not read is not linked.
    assert links == {public.pk: False, solved.pk: True}
    assert TicketEntry.objects.filter(ticket=t, kind=EntryKind.PUBLIC, body__contains="/portal/kb/").exists()
    public.refresh_from_db()
    assert public.ticket_count == 1
    # A forged list is refused with the reply, and nothing is sent.
    t.refresh_from_db()
    response = client.post(
        reply(t), {"expected_version": t.version, "visibility": "public", "body": "x", "kb_articles": "1,abc"}
    )
    assert response.status_code == 400 and not TicketEntry.objects.filter(ticket=t, body="x").exists()


def test_link_solved_and_unlink_buttons(world: World, client: Client) -> None:
    item = world.article(publish=True, title="Printer offline after update")
    t = world.ticket(subject="Printer offline")
    client.force_login(world.l1)
    link_url = reverse("kb:ticket_link", args=[t.number])
    unlink_url = reverse("kb:ticket_unlink", args=[t.number])
    page = reverse("workspace:ticket", args=[t.number])
    response = client.post(link_url, {"expected_version": t.version, "article": item.pk}, follow=True)
    assert response.redirect_chain[-1][0] == page
    assert f"{item.number} is linked to the ticket." in response.content.decode()
    t.refresh_from_db()
    client.post(link_url, {"expected_version": t.version, "article": item.pk, "solved": "on"})
    item.refresh_from_db()
    assert TicketArticle.objects.get(ticket=t, article=item).solved and item.solved_count == 1
    # A button from a page shown before someone changed the ticket changes nothing.
    stale = t.version
    t.refresh_from_db()
    assert t.version > stale
    response = client.post(unlink_url, {"expected_version": stale, "article": item.pk}, follow=True)
    assert "changed by someone else" in response.content.decode()
    assert TicketArticle.objects.filter(ticket=t, article=item).exists()
    client.post(unlink_url, {"expected_version": t.version, "article": item.pk})
    item.refresh_from_db()
    assert not TicketArticle.objects.filter(ticket=t).exists() and item.ticket_count == 0
    response = client.post(link_url, {"article": item.pk}, follow=True)
    assert "not sent completely" in response.content.decode()


def test_create_article_from_the_ticket_prefills_and_links_it(world: World, client: Client) -> None:
    t = world.ticket(subject="VPN drops every hour", description="It disconnects at :00.")
    tickets.assign_ticket(t, assignee=world.l1, actor=world.l1)
    tickets.add_public_reply(t, actor=world.l1, body="Renew the DHCP lease on the router.")
    tickets.transition_ticket(t, to_status=Status.RESOLVED, actor=world.l1)
    client.force_login(world.l1)
    new_url = reverse("kb:new") + f"?ticket={t.number}"
    response = client.get(new_url)
    html = response.content.decode()
    initial = response.context["form"].initial
    assert initial["kind"] == "known_problem" and initial["title"] == "VPN drops every hour"
    assert "It disconnects at :00." in initial["body"] and "Renew the DHCP lease" in initial["body"]
    assert 'value="VPN drops every hour"' in html and "It disconnects at :00." in html
    assert f"Written from ticket {t.number}" in html
    response = client.post(
        new_url,
        {
            "kind": "known_problem",
            "title": "VPN drops every hour",
            "language": "en",
            "body": initial["body"],
            "visibility": "customers",
            "owner": world.l1.pk,
        },
    )
    item = Article.objects.get(title="VPN drops every hour")
    assert response.status_code == 302 and item.source_ticket_id == t.pk
    assert TicketArticle.objects.filter(ticket=t, article=item).exists()
    # Another organisation's ticket cannot be a source for an agent who does not serve it.
    client.force_login(world.l1_b_only)
    assert client.get(new_url).status_code == 404


def test_customers_reach_no_part_of_the_panel(world: World, client: Client) -> None:
    item = world.article(publish=True, title="Reset your password", visibility="customers")
    t = world.ticket(subject="Password")
    client.force_login(world.customer_a)
    assert client.get(panel(t)).status_code == 404
    assert client.get(insert(t, item, "link")).status_code == 404
    assert client.post(reverse("kb:ticket_link", args=[t.number]), {"article": item.pk}).status_code == 404
    # An agent who may not see the ticket gets the same 404.
    client.force_login(world.l1_b_only)
    assert client.get(panel(t)).status_code == 404
    assert client.get(insert(t, item, "text")).status_code == 404
