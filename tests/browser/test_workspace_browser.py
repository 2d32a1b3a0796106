"""The agent workspace in real Chromium: bulk actions from the queue (with tickets changed
meanwhile skipped), new rows marked after the queue refreshes itself, a canned answer inserted
at the cursor of the reply box, and unlinking a related ticket.

The queue has no drag-and-drop (rows are selected with check boxes), so none is exercised here.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import BROWSER
from tests.factories import World
from tierdesk.tickets import services
from tierdesk.tickets.models import TicketEntry, TicketLink
from tierdesk.workspace import services as workspace_services
from tierdesk.workspace.models import CannedAnswer

pytestmark = BROWSER


def test_queue_bulk_action_and_new_rows(bworld: World, browser: Any) -> None:
    first = bworld.ticket(subject="Scanner offline")
    second = bworld.ticket(subject="Mail bounces")
    agent = browser()
    page = agent.page
    page.clock.install()  # the queue refreshes every 15 s: let the test move time on instead
    agent.sign_in(bworld.l1.username)
    page.goto("/desk/")
    page.get_by_label(f"Select {first.number}").check()
    page.get_by_label(f"Select {second.number}").check()
    # A colleague takes the second ticket while this queue is open.
    services.assign_ticket(second, assignee=bworld.admin, actor=bworld.admin)
    page.get_by_label("Action").select_option("take")
    page.get_by_role("button", name="Apply to selected").click()
    page.wait_for_load_state()
    expect(page.get_by_text("1 ticket changed.")).to_be_visible()
    expect(page.locator(".message.warning")).to_contain_text(second.number)
    expect(page.locator(".message.warning")).to_contain_text("changed by someone else")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.assignee_id == bworld.l1.pk and second.assignee_id == bworld.admin.pk

    # A call comes in; at the next refresh its row appears marked as new, the others do not.
    arrived = bworld.ticket(requester=bworld.customer_b, subject="Phone line dead")
    expect(page.get_by_text("Phone line dead")).to_have_count(0)
    page.clock.run_for(16_000)
    row = page.locator(f"#queue-rows tr[data-ticket='{arrived.number}']")
    expect(row).to_be_visible()
    expect(row).to_have_class("new")
    expect(row.get_by_text("new", exact=True)).to_be_visible()
    expect(page.locator(f"#queue-rows tr[data-ticket='{first.number}']")).not_to_have_class("new")
    agent.screenshot("workspace-queue-new-row")
    # Nothing else arrives: the following refresh marks no row.
    page.clock.run_for(16_000)
    expect(page.locator("#queue-rows tr.new")).to_have_count(0)
    expect(row).to_be_visible()


def test_canned_answer_is_inserted_at_the_cursor(bworld: World, browser: Any) -> None:
    ticket = bworld.ticket()
    workspace_services.save_canned_answer(
        CannedAnswer(title="Restart", body="restart it, {{ requester.first_name }}"), actor=bworld.admin
    )
    agent = browser()
    page = agent.sign_in(bworld.l1.username)
    page.goto(f"/desk/t/{ticket.number}/")
    reply = page.locator("#reply-body")
    canned = page.get_by_label("Insert a canned answer")

    # Cursor in the middle: the answer goes exactly there, and the cursor ends after it.
    reply.fill("Please  now.")
    reply.evaluate("el => el.setSelectionRange(7, 7)")
    canned.select_option(label="Restart")
    expect(reply).to_have_value("Please restart it, alex now.")
    assert reply.evaluate("el => el.selectionStart") == len("Please restart it, alex")
    # A selection is replaced.
    reply.evaluate("el => el.setSelectionRange(0, 6)")  # "Please"
    canned.select_option(label="Restart")
    expect(reply).to_have_value("restart it, alex restart it, alex now.")

    page.get_by_label("Internal note").check()
    page.get_by_role("button", name="Send").click()
    page.wait_for_load_state()
    note = TicketEntry.objects.get(ticket=ticket, kind="internal")
    assert note.body == "restart it, alex restart it, alex now."


def test_canned_answer_appends_to_untouched_text(bworld: World, browser: Any) -> None:
    ticket = bworld.ticket()
    workspace_services.save_canned_answer(CannedAnswer(title="Thanks", body="Thank you."), actor=bworld.admin)
    agent = browser()
    page = agent.sign_in(bworld.l1.username)
    page.goto(f"/desk/t/{ticket.number}/")
    reply = page.locator("#reply-body")
    # Text put there without the agent placing a cursor (as a restored draft would be).
    reply.evaluate("el => { el.value = 'Done.'; }")
    page.get_by_label("Insert a canned answer").select_option(label="Thanks")
    expect(reply).to_have_value("Done.\n\nThank you.")


def test_unlink_a_related_ticket(bworld: World, browser: Any) -> None:
    ticket, other = bworld.ticket(subject="Wi-Fi slow"), bworld.ticket(subject="Wi-Fi drops")
    services.link_tickets(ticket, other=other, actor=bworld.l1)
    agent = browser()
    page = agent.sign_in(bworld.l1.username)
    page.goto(f"/desk/t/{ticket.number}/")
    related = page.locator("ul.related")
    expect(related.get_by_role("link", name=other.number)).to_be_visible()
    agent.screenshot("workspace-ticket-related")
    related.get_by_role("button", name=f"Unlink {other.number}").click()
    page.wait_for_url(f"**/desk/t/{ticket.number}/")
    expect(page.get_by_text(f"{other.number} is no longer related to this ticket.")).to_be_visible()
    expect(page.locator("ul.related")).to_have_count(0)
    assert not TicketLink.objects.exists()
    # The other ticket's page no longer lists it either.
    page.goto(f"/desk/t/{other.number}/")
    expect(page.locator("ul.related")).to_have_count(0)
