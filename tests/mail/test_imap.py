"""Fetching mail over IMAP, against a real Dovecot (tests/mail/dovecot.py).

The handler here stands in for the import service: it records what it was given (and may
raise, or cut the connection, at chosen moments). What is asserted is what the server holds
afterwards, read over a separate session.
"""

from __future__ import annotations

import itertools
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid
from typing import Any

import pytest
from django.core.cache import cache
from django.db import close_old_connections, connection
from imapclient import DELETED, SEEN, IMAPClient  # type: ignore[import-untyped]

from tests.mail.dovecot import Dovecot
from tierdesk.mail import imap
from tierdesk.mail.imap import (
    CONNECTION_ERRORS,
    MailboxError,
    connect,
    fetch_new,
    mailbox_lock,
    poll_active_mailboxes,
    poll_mailbox,
    watch_mailbox,
)
from tierdesk.mail.management.commands.watch_mailboxes import Command as WatchCommand
from tierdesk.mail.models import Mailbox
from tierdesk.mail.tasks import poll_mailboxes

_numbers = itertools.count(1)


def mail(*, attachment: bytes = b"") -> bytes:
    """A customer's message as an MTA delivers it (CRLF line ends: IMAP returns it byte for byte)."""
    n = next(_numbers)
    msg = EmailMessage(policy=SMTP)
    msg["From"] = f"Customer {n} <customer{n}@alpha.test>"
    msg["To"] = "support@tierdesk.test"
    msg["Subject"] = f"Request {n}"
    msg["Message-ID"] = make_msgid(domain="alpha.test")
    msg.set_content(f"Printer {n} is jammed.\n")
    if attachment:
        msg.add_attachment(attachment, maintype="application", subtype="octet-stream", filename="dump.bin")
    return msg.as_bytes()


def flags(dovecot: Dovecot, folder: str = "INBOX") -> list[tuple[bytes, ...]]:
    return [message_flags for _uid, message_flags, _raw in dovecot.messages(folder)]


def raws(dovecot: Dovecot, folder: str = "INBOX") -> list[bytes]:
    return [raw for _uid, _flags, raw in dovecot.messages(folder)]


def fresh(mailbox: Mailbox) -> Mailbox:
    return Mailbox.objects.get(pk=mailbox.pk)


def wait_for(condition: Callable[[], bool], timeout: float) -> float:
    """Seconds until ``condition()`` held; fails after ``timeout``."""
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout:
            pytest.fail(f"not within {timeout} s")
        time.sleep(0.01)
    return time.monotonic() - began


# --- Polling ------------------------------------------------------------------------------------


def test_new_messages_reach_the_handler_once_in_order_and_end_up_seen(
    imap_mailbox: Mailbox, dovecot: Dovecot
) -> None:
    sent = [mail() for _ in range(7)]
    for raw in sent:
        dovecot.append(raw)
    got: list[bytes] = []
    assert fetch_new(imap_mailbox, got.append, batch=3) == 7  # three fetches of up to 3
    assert got == sent
    assert all(SEEN in f for f in flags(dovecot))
    assert fetch_new(imap_mailbox, got.append) == 0
    assert len(got) == 7


def test_messages_seen_or_deleted_by_someone_are_left_alone(imap_mailbox: Mailbox, dovecot: Dovecot) -> None:
    read, deleted, new = mail(), mail(), mail()
    dovecot.append(read, flags=[SEEN])
    dovecot.append(deleted, flags=[DELETED])
    dovecot.append(new)
    got: list[bytes] = []
    assert fetch_new(imap_mailbox, got.append) == 1
    assert got == [new]


def test_a_message_is_marked_only_after_the_handler_returned(imap_mailbox: Mailbox, dovecot: Dovecot) -> None:
    """Fetching peeks: while the import runs, the server still has the message unseen."""
    dovecot.append(mail())
    during: list[tuple[bytes, ...]] = []
    fetch_new(imap_mailbox, lambda raw: during.extend(flags(dovecot)))
    assert during == [()]
    assert flags(dovecot) == [(SEEN,)]


def test_processed_mail_is_moved_to_the_processed_folder_which_is_created(
    imap_mailbox: Mailbox, dovecot: Dovecot
) -> None:
    imap_mailbox.processed_folder = "Tierdesk/Imported"
    assert "Tierdesk/Imported" not in dovecot.folders()
    sent = [mail() for _ in range(3)]
    for raw in sent:
        dovecot.append(raw)
    got: list[bytes] = []
    assert fetch_new(imap_mailbox, got.append) == 3
    assert got == sent
    assert dovecot.messages("INBOX") == []
    assert raws(dovecot, "Tierdesk/Imported") == sent
    assert fetch_new(imap_mailbox, got.append) == 0


def test_without_move_the_message_is_copied_flagged_and_expunged(
    imap_mailbox: Mailbox, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server without MOVE (RFC 6851): COPY, \\Deleted, UID EXPUNGE of just that message.
    IMAPClient refuses ``move()`` when the capability is missing, so a MOVE would fail here."""
    real = IMAPClient.has_capability
    monkeypatch.setattr(
        IMAPClient, "has_capability", lambda self, name: name.upper() != "MOVE" and real(self, name)
    )
    dovecot.create_folder("Done")
    bystander = mail()
    dovecot.append(bystander, flags=[SEEN, DELETED])  # someone else's, to be expunged by them
    sent = [mail(), mail()]
    for raw in sent:
        dovecot.append(raw)
    imap_mailbox.processed_folder = "Done"
    assert fetch_new(imap_mailbox, lambda raw: None) == 2
    assert raws(dovecot, "Done") == sent
    assert raws(dovecot, "INBOX") == [bystander]  # UID EXPUNGE left the other \Deleted one


def test_a_failing_import_leaves_its_message_for_the_next_poll(
    imap_mailbox: Mailbox, dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    first, bad, last = mail(), mail(), mail()
    uids = [dovecot.append(raw) for raw in (first, bad, last)]
    got: list[bytes] = []

    def handler(raw: bytes) -> None:
        if raw == bad:
            raise RuntimeError("database is down")
        got.append(raw)

    assert fetch_new(imap_mailbox, handler) == 2
    assert got == [first, last]
    assert flags(dovecot) == [(SEEN,), (), (SEEN,)]
    assert f"mailbox Support: importing message UID {uids[1]} failed" in caplog.text
    assert "RuntimeError: database is down" in caplog.text
    retried: list[bytes] = []
    assert fetch_new(imap_mailbox, retried.append) == 1
    assert retried == [bad]
    assert flags(dovecot) == [(SEEN,)] * 3


def test_a_connection_lost_between_import_and_flag_offers_the_message_again(
    imap_mailbox: Mailbox, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The import committed, then the connection died before the flag: the next poll offers the
    same message (the import recognises it) and then marks it. The poll that failed says so."""
    raw = mail()
    dovecot.append(raw)
    sessions: list[IMAPClient] = []

    def keep(mailbox: Mailbox, **kwargs: Any) -> IMAPClient:
        sessions.append(connect(mailbox, **kwargs))
        return sessions[-1]

    monkeypatch.setattr(imap, "connect", keep)
    imported: list[bytes] = []

    def import_then_drop(raw: bytes) -> None:
        imported.append(raw)
        sessions[-1].socket().shutdown(socket.SHUT_RDWR)

    with pytest.raises(MailboxError, match="was lost"):
        poll_mailbox(imap_mailbox, import_then_drop)
    assert "was lost" in fresh(imap_mailbox).last_error
    assert flags(dovecot) == [()]
    assert poll_mailbox(imap_mailbox, imported.append) == 1
    assert imported == [raw, raw]
    assert flags(dovecot) == [(SEEN,)]
    assert fresh(imap_mailbox).last_error == ""


def test_the_flag_step_failing_propagates_and_keeps_the_message(
    imap_mailbox: Mailbox, dovecot: Dovecot
) -> None:
    dovecot.append(mail())
    client = connect(imap_mailbox)
    try:
        with pytest.raises(CONNECTION_ERRORS):
            fetch_new(imap_mailbox, lambda raw: client.socket().shutdown(socket.SHUT_RDWR), client=client)
    finally:
        client.shutdown()
    assert flags(dovecot) == [()]


def test_a_large_message_is_passed_whole_and_fetched_alone(
    imap_mailbox: Mailbox, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imap, "BATCH_BYTES", 1024 * 1024)
    fetched: list[int] = []
    real_fetch = IMAPClient.fetch

    def counting_fetch(self: IMAPClient, messages: Any, data: Any, modifiers: Any = None) -> Any:
        if "BODY.PEEK[]" in data:
            fetched.append(len(messages))
        return real_fetch(self, messages, data, modifiers)

    monkeypatch.setattr(IMAPClient, "fetch", counting_fetch)
    sent = [mail(), mail(attachment=bytes(range(256)) * 16 * 1024), mail(), mail()]  # 4 MiB in the middle
    for raw in sent:
        dovecot.append(raw)
    got: list[bytes] = []
    assert fetch_new(imap_mailbox, got.append) == 4
    assert got == sent
    assert fetched == [1, 1, 2]  # the small one before it, the big one alone, the rest together


def test_a_limit_leaves_the_rest_for_the_next_poll(imap_mailbox: Mailbox, dovecot: Dovecot) -> None:
    sent = [mail() for _ in range(5)]
    for raw in sent:
        dovecot.append(raw)
    got: list[bytes] = []
    assert poll_mailbox(imap_mailbox, got.append, limit=2) == 2
    assert poll_mailbox(imap_mailbox, got.append, limit=2) == 2
    assert poll_mailbox(imap_mailbox, got.append, limit=2) == 1
    assert got == sent


# --- Errors an administrator sees ---------------------------------------------------------------


def test_a_wrong_password_says_so(imap_mailbox: Mailbox) -> None:
    imap_mailbox.imap_password = "wrong"
    with pytest.raises(
        MailboxError, match=r"refused the login of desk@tierdesk\.test: \[AUTHENTICATIONFAILED\]"
    ):
        connect(imap_mailbox)


def test_an_unknown_folder_says_so(imap_mailbox: Mailbox) -> None:
    imap_mailbox.imap_folder = "Requests"
    with pytest.raises(MailboxError, match=r"folder “Requests” cannot be opened.*doesn't exist"):
        connect(imap_mailbox)


def test_a_closed_port_says_so(imap_mailbox: Mailbox) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        imap_mailbox.imap_port = sock.getsockname()[1]
    with pytest.raises(MailboxError, match="refused the connection: check the server name and port"):
        connect(imap_mailbox)


def test_a_server_that_never_answers_times_out(imap_mailbox: Mailbox) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) and never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        imap_mailbox.imap_port = silent.getsockname()[1]
        began = time.monotonic()
        with pytest.raises(MailboxError, match="did not answer within 0 seconds"):
            connect(imap_mailbox, timeout=0.3)
        assert time.monotonic() - began < 5


def test_tls_against_a_plain_server_says_so(imap_mailbox: Mailbox) -> None:
    imap_mailbox.imap_security = Mailbox.Security.SSL
    with pytest.raises(MailboxError, match="TLS with the IMAP server"):
        connect(imap_mailbox, timeout=5)


def test_starttls_refused_by_the_server_says_so(imap_mailbox: Mailbox) -> None:
    imap_mailbox.imap_security = Mailbox.Security.STARTTLS  # the test server has ssl = no
    with pytest.raises(MailboxError, match="does not offer STARTTLS"):
        connect(imap_mailbox)


def test_poll_records_the_error_and_a_good_poll_clears_it(imap_mailbox: Mailbox, dovecot: Dovecot) -> None:
    imap_mailbox.imap_password = "wrong"
    with pytest.raises(MailboxError):
        poll_mailbox(imap_mailbox, lambda raw: None)
    row = fresh(imap_mailbox)
    assert "refused the login" in row.last_error
    assert row.last_polled_at is not None
    failed_at = row.last_polled_at

    imap_mailbox.imap_password = dovecot.password
    dovecot.append(mail())
    assert poll_mailbox(imap_mailbox, lambda raw: None) == 1
    row = fresh(imap_mailbox)
    assert row.last_error == ""
    assert row.last_polled_at is not None and row.last_polled_at > failed_at


def test_poll_records_messages_the_import_refused(imap_mailbox: Mailbox, dovecot: Dovecot) -> None:
    dovecot.append(mail())
    dovecot.append(mail())

    def down(raw: bytes) -> None:
        raise RuntimeError("database is down")

    assert poll_mailbox(imap_mailbox, down) == 0
    assert fresh(imap_mailbox).last_error == (
        "2 messages could not be imported and will be tried again: RuntimeError: database is down"
    )


# --- The periodic task --------------------------------------------------------------------------


def test_the_task_polls_each_active_imap_mailbox_and_survives_a_broken_one(
    imap_mailbox: Mailbox, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = Mailbox.objects.create(
        name="Broken",
        address="broken@tierdesk.test",
        imap_host=dovecot.host,
        imap_port=dovecot.port,
        imap_security=Mailbox.Security.NONE,
        imap_username=dovecot.user,
        imap_password="wrong",
    )
    inactive = Mailbox.objects.create(
        name="Old",
        address="old@tierdesk.test",
        imap_host=dovecot.host,
        imap_port=dovecot.port,
        imap_security=Mailbox.Security.NONE,
        imap_username=dovecot.user,
        imap_password=dovecot.password,
        is_active=False,
    )
    Mailbox.objects.create(name="LMTP only", address="lmtp@tierdesk.test")
    sent = [mail(), mail()]
    for raw in sent:
        dovecot.append(raw)
    got: list[tuple[str, bytes]] = []
    monkeypatch.setattr(imap, "import_handler", lambda mailbox: lambda raw: got.append((mailbox.name, raw)))

    assert poll_mailboxes.name == "tierdesk.mail.poll_mailboxes"
    assert poll_mailboxes.apply().get() == {"Support": 2}
    assert got == [("Support", raw) for raw in sent]
    assert "refused the login" in fresh(broken).last_error
    assert fresh(inactive).last_polled_at is None


def test_a_mailbox_being_polled_is_skipped(imap_mailbox: Mailbox, dovecot: Dovecot) -> None:
    dovecot.append(mail())
    with mailbox_lock(imap_mailbox) as acquired:
        assert acquired
        assert poll_active_mailboxes(lambda mailbox: lambda raw: None) == {}
    assert flags(dovecot) == [()]
    assert poll_active_mailboxes(lambda mailbox: lambda raw: None) == {"Support": 1}


# --- One poll at a time -------------------------------------------------------------------------


@pytest.fixture(params=["locmem", "redis"])
def lock_cache(request: pytest.FixtureRequest, settings: Any) -> Iterator[str]:
    """The lock on the per-process default cache and on Redis (what production configures)."""
    if request.param == "redis":
        try:
            socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        except OSError:
            pytest.skip("no Redis on 127.0.0.1:6379 (.ci/run starts one)")
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": "redis://127.0.0.1:6379/13",
            }
        }
    cache.clear()
    yield request.param
    cache.clear()


def test_the_mailbox_lock_is_exclusive_and_released_only_by_its_owner(lock_cache: str) -> None:
    box = Mailbox(pk=7)
    with mailbox_lock(box) as mine:
        assert mine
        with mailbox_lock(box) as theirs:
            assert not theirs
        with mailbox_lock(box) as again:  # the refused attempt did not release ours
            assert not again
        with mailbox_lock(Mailbox(pk=8)) as other_mailbox:
            assert other_mailbox
        # Ours expires (the owner hung) and another poll takes the mailbox...
        cache.delete(imap.LOCK_KEY.format(box.pk))
        with mailbox_lock(box) as successor:
            assert successor
    # ...our late exit must not have released the successor's lock. (It was released by its
    # own exit above, so the mailbox is free now.)
    with mailbox_lock(box) as after:
        assert after


def test_the_mailbox_lock_admits_one_of_many_at_once(lock_cache: str) -> None:
    box = Mailbox(pk=9)
    rounds, contenders = 30, 8
    winners: list[int] = []
    barrier = threading.Barrier(contenders)
    hold = threading.Barrier(contenders)

    def contend() -> None:
        for _ in range(rounds):
            barrier.wait(10)
            with mailbox_lock(box) as acquired:
                if acquired:
                    winners.append(1)
                hold.wait(10)  # nobody releases before everyone has tried

    threads = [threading.Thread(target=contend) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(winners) == rounds


def test_two_polls_at_once_hand_each_message_to_the_import_once(
    transactional_db: None, imap_mailbox: Mailbox, dovecot: Dovecot
) -> None:
    """Two workers run the task at the same moment: the second finds the mailbox locked while
    the first is still importing. (Threads need committed rows; the lock itself is also tested
    on its own above, on the process cache and on Redis.)"""
    sent = [mail() for _ in range(3)]
    for raw in sent:
        dovecot.append(raw)
    calls: list[bytes] = []
    first_importing = threading.Event()
    second_done = threading.Event()
    results: dict[str, Any] = {}

    def slow_import(mailbox: Mailbox) -> imap.Handler:
        def handle(raw: bytes) -> None:
            calls.append(raw)
            first_importing.set()
            second_done.wait(10)  # keep the first poll busy until the second has tried

        return handle

    def poll(name: str) -> None:
        try:
            if name == "second":
                assert first_importing.wait(10)
            results[name] = poll_active_mailboxes(slow_import)
        except BaseException as exc:
            results[name] = exc
        finally:
            if name == "second":
                second_done.set()
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=poll, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == {"first": {"Support": 3}, "second": {}}
    assert calls == sent
    assert flags(dovecot) == [(SEEN,)] * 3


# --- Watching (IDLE) ----------------------------------------------------------------------------


class Watcher:
    """``watch_mailbox`` in a thread, its imports in a queue."""

    def __init__(self, mailbox: Mailbox, **kwargs: Any) -> None:
        self.got: queue.Queue[bytes] = queue.Queue()
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(mailbox,), kwargs=kwargs, daemon=True)

    def _run(self, mailbox: Mailbox, **kwargs: Any) -> None:
        try:
            watch_mailbox(mailbox, kwargs.pop("handler", self.got.put), stop=self.stop, **kwargs)
        except BaseException as exc:
            self.error = exc
        finally:
            connection.close()

    def __enter__(self) -> Watcher:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)

    def stopped_within(self) -> float:
        began = time.monotonic()
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()
        assert self.error is None
        return time.monotonic() - began


@pytest.fixture
def idling(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Set whenever a session enters IDLE (cleared by the test)."""
    event = threading.Event()
    real_idle = IMAPClient.idle

    def idle(self: IMAPClient) -> Any:
        result = real_idle(self)
        event.set()
        return result

    monkeypatch.setattr(IMAPClient, "idle", idle)
    return event


def test_the_watcher_imports_new_mail_within_two_seconds_and_stops_when_told(
    transactional_db: None, imap_mailbox: Mailbox, dovecot: Dovecot, idling: threading.Event
) -> None:
    waiting = mail()
    dovecot.append(waiting)
    with Watcher(imap_mailbox) as watcher:
        assert watcher.got.get(timeout=10) == waiting
        assert idling.wait(10)
        new = mail()
        began = time.monotonic()
        dovecot.append(new)
        assert watcher.got.get(timeout=2) == new
        latency = time.monotonic() - began
        wait_for(lambda: flags(dovecot) == [(SEEN,), (SEEN,)], 2)
        assert watcher.stopped_within() < 2
    print(f"IDLE latency {latency * 1000:.0f} ms")
    row = fresh(imap_mailbox)
    assert row.last_polled_at is not None and row.last_error == ""


def test_the_watcher_catches_mail_that_arrives_while_it_imports(
    transactional_db: None, imap_mailbox: Mailbox, dovecot: Dovecot
) -> None:
    """The server announces mail that arrives during our FETCH/STORE in the answer to that
    command, not in the IDLE that follows: the watcher must look again before idling."""
    first, during = mail(), mail()
    dovecot.append(first)
    got: queue.Queue[bytes] = queue.Queue()

    def handler(raw: bytes) -> None:
        if raw == first:
            dovecot.append(during)
        got.put(raw)

    with Watcher(imap_mailbox, handler=handler, idle_timeout=300) as watcher:
        assert got.get(timeout=10) == first
        assert got.get(timeout=2) == during
        assert watcher.stopped_within() < 2


def test_the_watcher_catches_mail_that_arrives_just_before_it_idles(
    transactional_db: None, imap_mailbox: Mailbox, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mail that arrives after the last search and before IDLE: Dovecot announces it right
    after ``+ idling``, in the same packet, which imaplib buffers out of ``idle_check``'s sight."""
    late = mail()
    real_idle = IMAPClient.idle
    delivered = threading.Event()

    def idle(self: IMAPClient) -> Any:
        if not delivered.is_set():
            dovecot.append(late)
            delivered.set()
        return real_idle(self)

    monkeypatch.setattr(IMAPClient, "idle", idle)
    with Watcher(imap_mailbox, idle_timeout=300) as watcher:
        assert delivered.wait(10)
        assert watcher.got.get(timeout=2) == late
        assert watcher.stopped_within() < 2


def test_the_watcher_reconnects_when_the_server_drops_it(
    transactional_db: None, imap_mailbox: Mailbox, dovecot: Dovecot, idling: threading.Event
) -> None:
    with Watcher(imap_mailbox) as watcher:
        assert idling.wait(10)
        idling.clear()
        dovecot.kick()
        assert idling.wait(10)  # back in IDLE on a new session
        new = mail()
        dovecot.append(new)
        assert watcher.got.get(timeout=2) == new
        assert watcher.stopped_within() < 2


def test_the_watcher_polls_a_server_without_idle(
    transactional_db: None, imap_mailbox: Mailbox, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = IMAPClient.has_capability
    monkeypatch.setattr(
        IMAPClient, "has_capability", lambda self, name: name.upper() != "IDLE" and real(self, name)
    )
    with Watcher(imap_mailbox, poll_interval=0.3) as watcher:
        new = mail()
        dovecot.append(new)
        assert watcher.got.get(timeout=3) == new
        assert watcher.stopped_within() < 2


def test_the_watcher_records_a_broken_mailbox_and_keeps_trying(
    transactional_db: None, imap_mailbox: Mailbox, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imap, "RECONNECT_MIN_SECONDS", 0.05)
    attempts: list[tuple[float, float]] = []  # (began, failed)
    real_connect = imap.connect

    def counting(mailbox: Mailbox, **kwargs: Any) -> IMAPClient:
        began = time.monotonic()
        try:
            return real_connect(mailbox, **kwargs)
        finally:
            attempts.append((began, time.monotonic()))

    monkeypatch.setattr(imap, "connect", counting)
    imap_mailbox.imap_password = "wrong"
    with Watcher(imap_mailbox) as watcher:
        wait_for(lambda: len(attempts) >= 4, 5)
        assert watcher.stopped_within() < 2
    assert "refused the login" in fresh(imap_mailbox).last_error
    waits = [b[0] - a[1] for a, b in itertools.pairwise(attempts[:4])]
    assert 0.05 <= waits[0] < waits[1] < waits[2] < 1  # 0.05, 0.1, 0.2 s: backing off


# --- The watch_mailboxes command ----------------------------------------------------------------


def test_the_command_watches_active_mailboxes_and_follows_changes(
    transactional_db: None, imap_mailbox: Mailbox, dovecot: Dovecot
) -> None:
    got: queue.Queue[bytes] = queue.Queue()
    stop = threading.Event()
    thread = threading.Thread(
        target=WatchCommand().watch,
        args=(stop,),
        kwargs={"handler_for": lambda mailbox: got.put, "reload_interval": 0.2},
        daemon=True,
    )
    thread.start()
    try:
        first = mail()
        dovecot.append(first)
        assert got.get(timeout=5) == first
        assert raws(dovecot, "INBOX") == [first]
        # An administrator sets a processed folder: the watcher restarts with it.
        Mailbox.objects.filter(pk=imap_mailbox.pk).update(processed_folder="Done")
        time.sleep(0.5)  # at least one reload
        second = mail()
        dovecot.append(second)
        assert got.get(timeout=5) == second
        wait_for(lambda: "Done" in dovecot.folders() and raws(dovecot, "Done") == [second], 5)
    finally:
        began = time.monotonic()
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert time.monotonic() - began < 3
