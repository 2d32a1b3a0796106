"""Signing in, switching language and signing out in a real browser."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import BROWSER
from tests.factories import World
from tierdesk.accounts.models import User

pytestmark = BROWSER


def test_agent_signs_in_switches_to_russian_and_signs_out(bworld: World, browser: Any) -> None:
    b = browser()
    page = b.sign_in(bworld.l1.username)
    assert page.url.endswith("/desk/")
    with page.expect_navigation():
        page.get_by_label("Language").select_option("ru")
    assert page.locator("html").get_attribute("lang") == "ru"
    assert page.get_by_role("button", name="Выйти").is_visible()
    # The choice is the person's own, not just this browser's.
    assert User.objects.get(pk=bworld.l1.pk).language == "ru"
    page.get_by_role("button", name="Выйти").click()
    # Wait for the sign-in page itself: the test's teardown must not race the sign-out request.
    page.wait_for_url("**/login/")
    page.wait_for_load_state()


def test_wrong_password_is_refused_with_a_message(bworld: World, browser: Any) -> None:
    b = browser()
    page = b.sign_in(bworld.customer_a.username, "not-the-password")
    assert "/login/" in page.url
    assert page.get_by_role("alert").first.is_visible()
