"""Fixtures of the e-mail tests: a real Dovecot per test session (so per xdist worker: each has
its own directory and port) and a ``Mailbox`` row pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.mail.dovecot import Dovecot, DovecotMissing
from tierdesk.mail.models import Mailbox


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """The IMAP server. A missing Dovecot fails the tests: CI installs it, and a skipped
    integration test would pass silently."""
    server = Dovecot()
    missing = ""
    try:
        server.start()
    except DovecotMissing as exc:
        server.stop()
        missing = str(exc)
    if missing:
        pytest.fail(missing, pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def imap_mailbox(db: None, dovecot: Dovecot) -> Mailbox:
    """A mailbox polling the test server's INBOX, emptied for this test."""
    dovecot.clear()
    return Mailbox.objects.create(
        name="Support", address="support@tierdesk.test", **dovecot.mailbox_settings()
    )
