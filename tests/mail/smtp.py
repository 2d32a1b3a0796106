"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1 at a free port, keeping every
message it accepts, and able to refuse (451: try again later, 550: never).

``smtp_sink`` starts one for a test and points Django's SMTP backend at it::

    def test_x(smtp_sink: SmtpSink) -> None:
        ...send...
        [received] = smtp_sink.messages
        assert received.message["Subject"] == ...

Import the fixture in a conftest (``from tests.mail.smtp import smtp_sink``), or wrap
``serving(settings)`` in a fixture of the test module (a fixture imported into a module whose
tests take it as an argument trips ruff's F811).
"""

from __future__ import annotations

import asyncio
import email
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Received:
    """One accepted message: the envelope and the bytes as they came over the wire."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=policy.default)  # type: ignore[return-value]

    @property
    def subject(self) -> str:
        """The decoded Subject (Django folds a long or encoded one onto a continuation line,
        which the parser reads back with a leading space, as mail clients drop it)."""
        return str(self.message["Subject"] or "").strip()

    @property
    def text(self) -> str:
        """The decoded plain-text body, with plain line ends."""
        body = self.message.get_body(preferencelist=("plain",))
        assert body is not None, self.raw
        return str(body.get_content()).replace("\r\n", "\n")


class SmtpSink:
    """The handler of the server: collects messages, or refuses them as told.

    ``refuse(451)`` answers the next RCPT TO with ``451`` (``times=None``: until ``accept()``);
    ``at="data"`` refuses after the data instead.
    """

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.refusals: list[str] = []  # what was refused, for the tests to see
        self.host = "127.0.0.1"
        self.port = 0
        self.delay = 0.0  # seconds each accepted message takes (to make concurrent senders overlap)
        self._lock = threading.Lock()
        self._refusal: tuple[int, str, int | None] | None = None

    def refuse(self, code: int, *, times: int | None = 1, at: str = "rcpt") -> None:
        assert at in ("rcpt", "data")
        with self._lock:
            self._refusal = (code, at, times)

    def accept(self) -> None:
        with self._lock:
            self._refusal = None

    def _refused(self, stage: str, what: str) -> str | None:
        with self._lock:
            if self._refusal is None or self._refusal[1] != stage:
                return None
            code, at, times = self._refusal
            if times is not None:
                self._refusal = (code, at, times - 1) if times > 1 else None
            self.refusals.append(f"{code} {what}")
        text = "Try again later" if code < 500 else "No such user here"
        return f"{code} {'4.3.0' if code < 500 else '5.1.1'} {text}"

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook names)
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        refused = self._refused("rcpt", address)
        if refused:
            return refused
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        refused = self._refused("data", ",".join(envelope.rcpt_tos))
        if refused:
            return refused
        if self.delay:
            await asyncio.sleep(self.delay)
        with self._lock:
            self.messages.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages if address in m.rcpt_tos]


class _Controller(Controller):
    """aiosmtpd's threaded controller, bound to port 0 (the system picks a free port): the real
    port is read from the listening socket before the controller's start-up connection."""

    def _trigger_server(self) -> None:
        if self.port == 0 and self.server is not None:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def start_sink() -> tuple[SmtpSink, Controller]:
    sink = SmtpSink()
    controller = _Controller(sink, hostname="127.0.0.1", port=0)
    controller.start()
    sink.port = controller.port
    return sink, controller


@contextmanager
def serving(settings: Any) -> Iterator[SmtpSink]:
    """Run a sink and point Django's SMTP backend at it (``settings``: pytest-django's fixture,
    which puts the settings back after the test)."""
    sink, controller = start_sink()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = sink.host, sink.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def smtp_sink(settings: Any) -> Iterator[SmtpSink]:
    """An SMTP sink for the test, with Django's mail going to it over SMTP."""
    with serving(settings) as sink:
        yield sink
