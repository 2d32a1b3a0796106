"""Service levels as people see them in real Chromium: the agent's panel on the ticket page
(targets, due times, paused clock, a breach the sweep recorded) and the customer's promises on
the portal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.conftest import BROWSER
from tests.factories import World
from tierdesk.sla.services import sweep_due_tickets
from tierdesk.tickets import services
from tierdesk.tickets.choices import Status

pytestmark = BROWSER


def test_the_agent_sees_deadlines_a_paused_clock_and_a_breach(bworld: World, browser: Any) -> None:
    ticket = bworld.ticket(subject="Plotter offline")
    agent = browser()
    # The administrator's view: after a week on L1 the sweep also escalates the ticket to L2,
    # out of the L1 agent's sight.
    page = agent.sign_in(bworld.admin.username)
    page.goto(f"/desk/t/{ticket.number}/")
    panel = page.locator("section.sla")
    expect(panel.get_by_role("heading", name="Service level")).to_be_visible()
    expect(panel.locator(".sla-policy")).to_have_text("Standard")
    first = panel.locator(".sla-target[data-target='first_response']")
    expect(first.locator(".badge")).to_have_text("On track")
    expect(first.locator(".sla-left")).to_contain_text("left")
    assert ticket.response_due_at is not None
    expect(first.locator("time")).to_have_attribute("datetime", ticket.response_due_at.isoformat())

    # Waiting for the customer stops the clock; the panel says since when.
    services.assign_ticket(ticket, assignee=bworld.l1, actor=bworld.l1)
    services.transition_ticket(ticket, to_status=Status.WAITING_CUSTOMER, actor=bworld.l1)
    page.reload()
    expect(panel.locator(".sla-paused-note")).to_contain_text("Clock paused since")
    expect(panel.locator(".badge.sla-paused").first).to_be_visible()

    # Back to work, then a week passes without an answer: the sweep records the breach.
    services.transition_ticket(ticket, to_status=Status.IN_PROGRESS, actor=bworld.l1)
    with time_machine.travel(timezone.now() + timedelta(days=7), tick=True):
        sweep_due_tickets()
        page.reload()
        expect(first.locator(".badge")).to_have_text("Breached")
        expect(first.locator(".sla-left")).to_contain_text("overdue")
        ticket.refresh_from_db()
        assert ticket.response_sla == "breached"
        assert ticket.current_line.code == "L2"  # and L1's time budget sent it on
    agent.screenshot("workspace-ticket-sla-breached")


def test_the_customer_sees_the_promises_not_the_internals(bworld: World, browser: Any) -> None:
    ticket = bworld.ticket(subject="New laptop for Anna")
    customer = browser(mobile=True)
    page = customer.sign_in(bworld.customer_a.username)
    page.goto(f"/portal/r/{ticket.number}/")
    promises = page.locator("section.panel", has=page.get_by_role("heading", name="Our commitment"))
    expect(promises).to_be_visible()
    expect(promises).to_contain_text("First answer by")
    expect(promises).to_contain_text("Resolution planned by")
    expect(page.get_by_text("On track")).to_have_count(0)
    expect(page.get_by_text("Standard")).to_have_count(0)

    services.add_public_reply(ticket, actor=bworld.l1, body="A laptop is on its way.")
    page.reload()
    expect(promises).not_to_contain_text("First answer by")
    expect(promises).to_contain_text("given")
    customer.screenshot("portal-request-commitments")
