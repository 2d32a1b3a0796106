"""The knowledge base one click from a ticket, in real Chromium: the agent opens a ticket, sees a
suggested article in the Knowledge panel, inserts its portal link into the reply and sends it
(the article is then linked to the ticket); then writes a new article from the ticket and finds
the editor pre-filled, with a live preview."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import BROWSER
from tests.factories import World
from tierdesk.kb.models import TicketArticle
from tierdesk.tickets.choices import EntryKind
from tierdesk.tickets.models import TicketEntry

pytestmark = BROWSER


def test_agent_inserts_a_suggested_article_and_writes_one_from_the_ticket(
    bworld: World, browser: Any
) -> None:
    answer = bworld.article(
        publish=True,
        title="Printer shows offline",
        visibility="customers",
        body="Turn the printer off and on again.",
    )
    bworld.article(title="Printer offline draft")  # a draft: never suggested
    ticket = bworld.ticket(subject="My printer is offline", description="Since this morning, on floor 3.")

    agent = browser()
    page = agent.sign_in(bworld.l1.username)
    page.goto(f"/desk/t/{ticket.number}/")
    knowledge = page.locator("#kb-panel")
    suggestion = knowledge.locator(f"li[data-article='{answer.pk}']")
    expect(suggestion.get_by_role("link", name="Printer shows offline")).to_be_visible()
    expect(knowledge.get_by_text("Printer offline draft")).to_have_count(0)

    body = page.locator("#reply-body")
    body.fill("Hello, please follow this guide: ")
    suggestion.get_by_role("button", name="Insert link").click()
    # At the cursor, as the address the customer opens in the portal.
    expect(body).to_have_value(
        re.compile(rf"^Hello, please follow this guide: Printer shows offline: \S+/portal/kb/{answer.pk}/$")
    )
    expect(page.locator("#kb-articles-note")).to_contain_text(answer.number)
    agent.screenshot("workspace-ticket-knowledge")
    page.get_by_role("button", name="Send").click()
    page.wait_for_load_state()
    expect(page.get_by_text("Your reply was sent.")).to_be_visible()
    reply = TicketEntry.objects.get(ticket=ticket, kind=EntryKind.PUBLIC)
    assert f"/portal/kb/{answer.pk}/" in reply.body
    assert TicketArticle.objects.filter(ticket=ticket, article=answer).exists()
    expect(page.locator("#kb-linked").get_by_role("link", name="Printer shows offline")).to_be_visible()

    page.get_by_role("link", name="Create article from this ticket").click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", name="New article")).to_be_visible()
    expect(page.get_by_label("Title")).to_have_value("My printer is offline")
    expect(page.get_by_label("Kind")).to_have_value("known_problem")
    text = page.locator("#article-body")
    expect(text).to_have_value(re.compile(r"## Problem\s+Since this morning, on floor 3\."))
    # The preview renders the Markdown as readers will see it.
    expect(page.locator("#preview").get_by_role("heading", name="Problem")).to_be_visible()
    text.fill("## Fix\n\nSee [[Printer shows offline]].")
    expect(page.locator("#preview").get_by_role("heading", name="Fix")).to_be_visible()
    expect(page.locator("#preview a.wikilink")).to_have_attribute(
        "href", "/desk/kb/wiki/Printer%20shows%20offline/"
    )
    agent.screenshot("workspace-kb-new-from-ticket")
