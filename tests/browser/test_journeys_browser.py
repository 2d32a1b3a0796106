"""The main journeys of issue 3 in real Chromium against a live server: a customer registers,
confirms his address with the mailed link and asks for help with an attachment, L1 takes,
answers and escalates, L3 cannot answer the customer, the customer sees the answer (never the
internal note) and rates it, the public web form files a ticket, and another organisation's
customer gets a 404 for the ticket's URL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core import mail

from tests.browser.conftest import BROWSER
from tests.factories import World
from tierdesk.accounts.models import User
from tierdesk.config.celery import app as celery_app
from tierdesk.tickets import services
from tierdesk.tickets.choices import Channel, Status
from tierdesk.tickets.models import SupportLine, Ticket

pytestmark = BROWSER


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """Celery tasks (the portal's mails) run at once in this process, where the live server's
    thread sends them into Django's locmem outbox, instead of going to a broker."""
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved


def action_form(page: Any, action: str) -> Any:
    return page.locator(f"form[action$='/do/{action}/']")


def test_request_from_registration_to_rating(
    bworld: World, browser: Any, live_server: Any, eager_tasks: None, tmp_path: Path
) -> None:
    # A new colleague at Alpha registers with his work address ...
    customer = browser()
    page = customer.page
    page.goto("/portal/register/")
    customer.screenshot("portal-register")
    page.get_by_label("First name").fill("Dana")
    page.get_by_label("Work e-mail").fill("dana@alpha.test")
    page.locator("input[name=password]").fill("a-long-passphrase-42")
    page.locator("input[name=password2]").fill("a-long-passphrase-42")
    page.get_by_role("button", name="Register").click()
    page.wait_for_url(f"{live_server.url}/portal/register/sent/")
    assert page.get_by_role("heading", name="Check your mail").is_visible()
    assert page.get_by_text("We sent a confirmation link to dana@alpha.test").is_visible()
    assert not User.objects.get(email="dana@alpha.test").is_active
    # Until he confirms the address the portal is closed to him (sign-in page; the URL of which
    # also ends in /portal/, in its ``next``, hence the exact URLs below).
    page.goto("/portal/")
    assert page.url.startswith(f"{live_server.url}/login/")

    # ... finds the link in his mail, opens it and confirms with one click ...
    [message] = mail.outbox
    assert message.to == ["dana@alpha.test"]
    [link] = re.findall(r"https?://\S+/portal/activate/\S+", str(message.body))
    assert link.startswith(live_server.url)
    page.goto(link)
    page.get_by_role("button", name="Confirm and sign in").click()
    page.wait_for_url(f"{live_server.url}/portal/")
    assert page.get_by_text("Thank you, your address is confirmed. Welcome!").is_visible()
    assert User.objects.get(email="dana@alpha.test").is_active

    # ... and asks for help.
    page.get_by_role("link", name="New request").first.click()
    page.get_by_label("Subject").fill("Printer prints blank pages")
    page.get_by_label("Description").fill("Since this morning, 3rd floor.")
    screenshot = tmp_path / "blank-page.txt"
    screenshot.write_text("scan of a blank page")
    page.get_by_label("Attachments").set_input_files(str(screenshot))
    customer.screenshot("portal-new-request")
    page.get_by_role("button", name="Send request").click()
    page.wait_for_url("**/portal/r/**")
    ticket = Ticket.objects.get(subject="Printer prints blank pages")
    assert ticket.requester.email == "dana@alpha.test" and ticket.channel == Channel.PORTAL
    assert ticket.attachments.get().filename == "blank-page.txt"
    page.goto("/portal/")
    assert page.get_by_text("Printer prints blank pages").is_visible()
    customer.screenshot("portal-my-requests")

    # L1 finds it in the queue, takes it, answers, notes something internal, escalates to L2.
    l1 = browser()
    page = l1.sign_in(bworld.l1.username)
    assert page.get_by_text("Printer prints blank pages").is_visible()
    l1.screenshot("workspace-queue")
    page.get_by_role("link", name="Printer prints blank pages").click()
    page.wait_for_url(f"**/desk/t/{ticket.number}/")
    action_form(page, "take").get_by_role("button").click()
    page.wait_for_load_state()
    page.get_by_label("Public reply to the customer").check()
    page.locator("#reply-body, textarea[name=body]").first.fill("We are on it: please try the tray 2.")
    page.get_by_role("button", name="Send").click()
    page.wait_for_load_state()
    page.get_by_label("Internal note").check()
    page.locator("#reply-body, textarea[name=body]").first.fill("Toner sensor suspected (internal)")
    page.get_by_role("button", name="Send").click()
    page.wait_for_load_state()
    l1.screenshot("workspace-ticket")  # the conversation, before the ticket leaves L1
    form = action_form(page, "escalate")
    page.get_by_text("Escalate", exact=True).first.click()  # opens the <details>
    form.locator("select[name=line]").select_option(label=SupportLine.objects.get(code="L2").__str__())
    form.locator("textarea[name=reason]").fill("Needs a hardware check")
    form.get_by_role("button").click()
    page.wait_for_load_state()
    ticket.refresh_from_db()
    assert ticket.current_line.code == "L2"
    assert ticket.entries.filter(kind="public", body__startswith="We are on it").exists()

    # On L3 nobody talks to the customer: the public choice is off, and says why.
    services.escalate_ticket(
        ticket, to_line=SupportLine.objects.get(code="L3"), actor=bworld.admin, reason="Firmware"
    )
    l3 = browser()
    page = l3.sign_in(bworld.l3.username)
    page.goto(f"/desk/t/{ticket.number}/")
    assert page.get_by_label("Public reply to the customer").is_disabled()
    assert page.get_by_text("your line does not talk to customers").is_visible()

    # The customer sees the answer but never the internal note, and rates the resolution.
    services.transition_ticket(ticket, to_status=Status.RESOLVED, actor=bworld.admin, comment="Fixed")
    page = customer.page
    page.goto(f"/portal/r/{ticket.number}/")
    assert page.get_by_text("We are on it: please try the tray 2.").is_visible()
    assert page.get_by_text("Toner sensor suspected").count() == 0
    page.get_by_label("5").check()
    page.get_by_role("button", name="Send rating").click()
    page.wait_for_load_state()
    customer.screenshot("portal-request")
    ticket.refresh_from_db()
    assert ticket.rating == 5

    # A customer of another organisation gets a 404 for the same URL.
    other = browser()
    other.sign_in(bworld.customer_b.username)
    response = other.page.goto(f"/portal/r/{ticket.number}/")
    assert response is not None and response.status == 404


def test_public_web_form_files_a_ticket(bworld: World, browser: Any) -> None:
    visitor = browser(mobile=True)
    page = visitor.page
    page.goto("/portal/form/")
    page.get_by_label("Your name").fill("Eve Visitor")
    page.get_by_label("Work e-mail").fill("eve@alpha.test")
    page.get_by_label("Subject").fill("VPN drops every hour")
    page.get_by_label("Description").fill("Since Monday.")
    visitor.screenshot("web-form-phone")
    page.get_by_role("button").last.click()
    page.wait_for_load_state()
    ticket = Ticket.objects.get(subject="VPN drops every hour")
    assert ticket.channel == Channel.WEB_FORM and ticket.organisation_id == bworld.org_a.pk
    assert page.get_by_text(ticket.number).is_visible()
