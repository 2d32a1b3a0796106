"""Browser tests: Playwright driving Debian's Chromium (never a downloaded browser) against
Django's live server, with the two-organisation world committed to the database so the server's
thread sees it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.factories import PASSWORD, World, build_world, reseed

CHROMIUM = Path("/usr/bin/chromium")
# Where `bin/screenshots` asks the journeys to leave pictures of the main pages.
SCREENSHOTS = os.environ.get("TIERDESK_SCREENSHOTS", "")

# Playwright's synchronous API runs an asyncio loop in this thread, which makes Django's guard
# against ORM calls from async code fire for the plain synchronous fixtures below.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


@pytest.fixture
def bworld(transactional_db: None) -> World:
    """The world, committed so the live server's thread sees it. The flush after every
    transactional test also erases what migrations seeded, so it is seeded again here."""
    reseed()
    return build_world()


BROWSER = pytest.mark.django_db(transaction=True)


class Browser:
    """A browser context against the live server, with a helper to sign in."""

    def __init__(self, chromium: Any, base_url: str, *, mobile: bool = False) -> None:
        options: dict[str, Any] = {"base_url": base_url, "locale": "en-GB"}
        if mobile:
            options.update(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        self.context = chromium.new_context(**options)
        self.context.set_default_timeout(10_000)
        self.page = self.context.new_page()

    def sign_in(self, username: str, password: str = PASSWORD) -> Any:
        page = self.page
        page.goto("/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        return page

    def screenshot(self, name: str) -> None:
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def browser(chromium: Any, live_server: Any) -> Iterator[Any]:
    """Opens browsers (one per person in a journey) and closes them afterwards."""
    opened: list[Browser] = []

    def open_browser(mobile: bool = False) -> Browser:
        b = Browser(chromium, live_server.url, mobile=mobile)
        opened.append(b)
        return b

    yield open_browser
    for b in opened:
        b.close()
