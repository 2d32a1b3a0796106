"""The LMTP listener, spoken to over a real socket: one answer per recipient after the import,
552 for a message over the limit, 451 when the database fails, nothing imported twice."""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import OperationalError

from tests.factories import World
from tests.mail.test_import import mail
from tierdesk.mail import lmtp, services
from tierdesk.mail.choices import InboundState, Transport
from tierdesk.mail.models import InboundMessage, Mailbox
from tierdesk.tickets.models import Ticket

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


class CallerThreadExecutor(Executor):
    """Hands the import to the test's own thread, whose connection holds the test database's
    transaction (a pool thread, or the event loop's context, would open a connection of its own
    that cannot see it). The server runs in one thread, the MTA's side in another."""

    def __init__(self) -> None:
        self.jobs: queue.Queue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = queue.Queue()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self.jobs.put((future, fn, args))
        return future

    def work_until(self, done: threading.Event) -> None:
        while not (done.is_set() and self.jobs.empty()):
            try:
                future, fn, args = self.jobs.get(timeout=0.05)
            except queue.Empty:
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)


def converse(port: int, lines: list[bytes], expect_replies: int) -> list[str]:
    """Send an LMTP dialogue line by line; return every reply line the server sent."""
    replies: list[str] = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")

        def read_reply() -> None:
            while True:
                line = reader.readline().decode()
                replies.append(line.strip())
                if len(line) < 4 or line[3] != "-":
                    return

        read_reply()  # greeting
        for line in lines:
            sock.sendall(line)
            if line.endswith(b"\r\n.\r\n"):
                for _ in range(expect_replies):
                    read_reply()
            elif (not line.startswith(b"DATA") and line.strip()) or line.startswith(b"DATA"):
                read_reply()
    return replies


def run_server(
    deliver: Callable[[bytes, list[str]], None], dialogue: Callable[[int], list[str]]
) -> list[str]:
    executor = CallerThreadExecutor()
    loop = asyncio.new_event_loop()
    factory = lmtp.protocol_factory(lmtp.ImportHandler(executor, deliver))
    server = loop.run_until_complete(loop.create_server(factory, host="127.0.0.1", port=0))
    port = server.sockets[0].getsockname()[1]
    serving = threading.Thread(target=loop.run_forever, daemon=True)
    serving.start()
    done = threading.Event()
    replies: list[str] = []

    def mta() -> None:
        try:
            replies.extend(dialogue(port))
        finally:
            done.set()

    client = threading.Thread(target=mta, daemon=True)
    client.start()
    executor.work_until(done)
    client.join(10)
    loop.call_soon_threadsafe(loop.stop)
    serving.join(10)
    server.close()
    loop.run_until_complete(server.wait_closed())
    loop.close()
    return replies


def message_lines(raw: bytes, recipients: list[str]) -> list[bytes]:
    body = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    body = b"\r\n".join(b"." + line if line.startswith(b".") else line for line in body.split(b"\r\n"))
    return [
        b"LHLO mx.desk.test\r\n",
        b"MAIL FROM:<alex@alpha.test>\r\n",
        *[f"RCPT TO:<{r}>\r\n".encode() for r in recipients],
        b"DATA\r\n",
        body.rstrip(b"\r\n") + b"\r\n.\r\n",
        b"QUIT\r\n",
    ]


def test_a_message_is_imported_and_acknowledged_for_each_recipient(world: World) -> None:
    box = services.save_mailbox(
        Mailbox(name="Service", address="service@desk.test", category=world.category), actor=world.admin
    )
    raw = mail(sender="Alex <alex@alpha.test>", to="service@desk.test, it@desk.test")
    recipients = ["it@desk.test", "service@desk.test"]
    replies = run_server(lmtp.deliver, lambda port: converse(port, message_lines(raw, recipients), 2))
    after_data = replies[replies.index(next(r for r in replies if r.startswith("354"))) + 1 :]
    assert [r[:3] for r in after_data[:2]] == ["250", "250"]
    row = InboundMessage.objects.get()
    assert row.transport == Transport.LMTP
    assert row.mailbox == box  # the recipient that is a mailbox decides the routing
    assert row.state == InboundState.TICKET
    assert row.ticket is not None and row.ticket.category == world.category
    # An MTA that did not hear the answer delivers again: still one ticket.
    run_server(lmtp.deliver, lambda port: converse(port, message_lines(raw, recipients), 2))
    assert Ticket.objects.count() == 1


def test_a_message_over_the_limit_is_refused_before_it_is_stored(world: World, settings: Any) -> None:
    settings.TIERDESK_MAIL_MAX_BYTES = 2_000
    raw = mail(sender="alex@alpha.test", body="x" * 5_000)
    replies = run_server(lmtp.deliver, lambda port: converse(port, message_lines(raw, ["s@desk.test"]), 1))
    assert any(r.startswith("552") for r in replies)
    assert not InboundMessage.objects.exists()


def test_a_database_failure_answers_451_so_the_mta_retries(world: World) -> None:
    def failing(raw: bytes, recipients: list[str]) -> None:
        raise OperationalError("the database is restarting")

    raw = mail(sender="alex@alpha.test")
    replies = run_server(
        failing, lambda port: converse(port, message_lines(raw, ["a@desk.test", "b@desk.test"]), 2)
    )
    after_data = replies[replies.index(next(r for r in replies if r.startswith("354"))) + 1 :]
    assert [r[:3] for r in after_data[:2]] == ["451", "451"]
    assert not InboundMessage.objects.exists()


def test_import_message_is_what_the_listener_calls(world: World) -> None:
    """The listener adds nothing of its own to a message: the same bytes through the service
    give the same result (guards against the transport rewriting line ends or dots)."""
    raw = mail(sender="alex@alpha.test", body=".leading dot line\n..two dots\nend\n")
    run_server(lmtp.deliver, lambda port: converse(port, message_lines(raw, ["s@desk.test"]), 1))
    row = InboundMessage.objects.get()
    assert row.ticket is not None
    assert ".leading dot line" in row.ticket.description
    assert "..two dots" in row.ticket.description


@pytest.mark.skipif(
    "sqlite" in settings.DATABASES["default"]["ENGINE"],
    reason="an in-memory SQLite test database is invisible to another process; CI runs this on PostgreSQL",
)
def test_the_listener_command_serves_from_several_processes_and_stops_cleanly(committed_world: World) -> None:
    db = settings.DATABASES["default"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "TIERDESK_STORAGE_PATH": settings.MEDIA_ROOT,
    }
    server = subprocess.Popen(  # noqa: S603 - our own command under our own interpreter
        [sys.executable, str(ROOT / "manage.py"), "lmtp_server", "--port", str(port), "--processes", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        for n in range(4):  # a connection each, as an MTA opens them
            with smtplib.LMTP("127.0.0.1", port) as client:
                raw = mail(sender="alex@alpha.test", subject=f"Over LMTP {n}")
                client.sendmail("mta@desk.test", ["support@desk.test"], raw.replace(b"\n", b"\r\n"))
        assert Ticket.objects.filter(subject__startswith="Over LMTP").count() == 4
        assert set(InboundMessage.objects.values_list("transport", flat=True)) == {Transport.LMTP}
    finally:
        server.send_signal(signal.SIGTERM)
        _out, err = server.communicate(timeout=30)
    assert server.returncode == 0, err.decode()[-2000:]
