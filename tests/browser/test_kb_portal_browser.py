"""The knowledge base in the portal, in real Chromium: while a customer types the subject of a
new request matching articles are suggested, and "This solved my problem" spares the request
(issue 6's acceptance: no ticket is created and the avoided request is counted)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import BROWSER
from tests.factories import World
from tierdesk.kb.models import Article, Deflection
from tierdesk.tickets.models import Ticket

pytestmark = BROWSER


def test_a_suggested_article_solves_the_problem_and_no_ticket_is_created(
    bworld: World, browser: Any, live_server: Any
) -> None:
    answer = bworld.article(
        publish=True,
        title="Printer shows offline",
        visibility="customers",
        body="Turn the printer off and on again, then wait a minute.",
    )
    foreign = bworld.article(
        publish=True,
        title="Printer offline at Beta",
        visibility="organisations",
        organisations=[bworld.org_b],
    )
    internal = bworld.article(publish=True, title="Printer offline runbook")
    tickets_before = Ticket.objects.count()

    customer = browser()
    page = customer.sign_in(bworld.customer_a.username)
    page.get_by_role("link", name="New request").first.click()
    page.get_by_label("Subject").press_sequentially("printer offline", delay=20)

    suggestions = page.locator("#kb-suggestions")
    expect(suggestions.get_by_role("link", name="Printer shows offline")).to_be_visible()
    # Only what this customer may read is suggested.
    expect(suggestions.get_by_role("button", name="This solved my problem")).to_have_count(1)
    for hidden in (foreign, internal):
        expect(suggestions.locator(f"a[href='/portal/kb/{hidden.pk}/']")).to_have_count(0)
    # The article opens in a new tab, leaving the typed request as it is.
    expect(suggestions.get_by_role("link", name="Printer shows offline")).to_have_attribute(
        "target", "_blank"
    )
    customer.screenshot("portal-kb-suggestions")

    suggestions.get_by_role("button", name="This solved my problem").click()
    page.wait_for_url(f"{live_server.url}/portal/kb/{answer.pk}/")
    expect(page.get_by_text("Glad it helped — no request was created.")).to_be_visible()
    expect(page.get_by_role("heading", name="Printer shows offline")).to_be_visible()

    customer.screenshot("portal-kb-article")
    assert Ticket.objects.count() == tickets_before
    assert Article.objects.get(pk=answer.pk).deflection_count == 1
    deflection = Deflection.objects.get()
    assert deflection.subject == "printer offline"
    assert deflection.user_id == bworld.customer_a.pk

    # The same article is found in the knowledge base's search, the words highlighted.
    page.get_by_role("link", name="Knowledge base").first.click()
    page.get_by_label("Search the knowledge base").fill("printers")
    results = page.get_by_role("list", name="Search results")
    expect(results.get_by_role("link", name="Printer shows offline")).to_be_visible()
    expect(results.locator("mark").first).to_be_visible()
    expect(results.get_by_role("link")).to_have_count(1)
    customer.screenshot("portal-kb-search")


def test_enter_in_the_subject_never_counts_a_suggestion(
    bworld: World, browser: Any, live_server: Any
) -> None:
    """The suggestions sit inside the request form: pressing Enter there must send the form as
    it always did (here refused, the description missing), not "solve" with the first article."""
    answer = bworld.article(publish=True, title="Printer shows offline", visibility="customers")
    customer = browser()
    page = customer.sign_in(bworld.customer_a.username)
    page.goto("/portal/new/")
    subject = page.get_by_label("Subject")
    subject.press_sequentially("printer offline", delay=20)
    expect(
        page.locator("#kb-suggestions").get_by_role("button", name="This solved my problem")
    ).to_be_visible()
    subject.press("Enter")
    # The browser's own check stops the form (the description is required); nothing is counted.
    expect(page).to_have_url(f"{live_server.url}/portal/new/")
    page.get_by_label("Description").fill("Since this morning")
    page.get_by_role("button", name="Send request").click()
    page.wait_for_url(f"{live_server.url}/portal/r/**")
    assert Ticket.objects.filter(subject="printer offline").count() == 1
    assert Article.objects.get(pk=answer.pk).deflection_count == 0
    assert not Deflection.objects.exists()
