"""Fetching mail from IMAP mailboxes: a poll (``poll_mailbox``, the Celery task's unit of work)
and a watcher that waits with IMAP IDLE (``watch_mailbox``, the ``watch_mailboxes`` command).

A message is fetched with ``BODY.PEEK[]`` (fetching alone changes nothing on the server), handed
to the import (``handler``, which commits its own transaction and is idempotent), and only then
marked: flagged ``\\Seen`` or moved to the mailbox's processed folder. A crash between the two
leaves the message unmarked; the next poll offers it again and the import recognises it. A
handler that raises leaves its message unmarked too (retried next time) without holding up the
messages after it.

The mailbox must be Tierdesk's own: what another client marks as seen is never fetched.
"""

from __future__ import annotations

import functools
import imaplib
import logging
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from imapclient import DELETED, SEEN, IMAPClient  # type: ignore[import-untyped]
from imapclient.exceptions import LoginError  # type: ignore[import-untyped]

from tierdesk.mail.models import Mailbox

logger = logging.getLogger(__name__)

# The import: raw bytes in, committed (or raising) when it returns.
Handler = Callable[[bytes], object]

# Seconds to wait for the server to connect or answer a command.
TIMEOUT_SECONDS = 30
# A fetch asks for at most this many bytes of messages at once (and at least one message,
# whatever its size): with ``batch`` it bounds the memory a poll holds.
BATCH_BYTES = 32 * 1024 * 1024
# RFC 2177: a client should re-issue IDLE at least every 29 minutes, or the server may log it off.
IDLE_MAX_SECONDS = 29 * 60
# How often a watcher in IDLE wakes up to see whether it should stop.
IDLE_TICK_SECONDS = 0.5
# A watcher that lost its connection waits this long before reconnecting, doubling up to the max.
RECONNECT_MIN_SECONDS = 1.0
RECONNECT_MAX_SECONDS = 300.0
# A watcher that found the mailbox locked by a poll looks again this soon.
LOCKED_RETRY_SECONDS = 5.0

# What a broken connection raises: socket errors and timeouts (OSError, including ssl.SSLError),
# IMAP protocol errors and aborts (IMAPClient.Error is imaplib.IMAP4.error, the abort a subclass).
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (OSError, imaplib.IMAP4.error)


class MailboxError(Exception):
    """The mailbox cannot be read: connection, TLS, login, folder or server trouble. The message
    is translated and says what to check; it is shown to administrators as ``last_error``."""


# --- Connecting ---------------------------------------------------------------------------------


def connect(mailbox: Mailbox, *, timeout: float = TIMEOUT_SECONDS) -> IMAPClient:
    """A session logged in to ``mailbox`` with its folder selected (read-write). Raises
    ``MailboxError`` saying what failed."""
    server = f"{mailbox.imap_host}:{mailbox.imap_port}"
    security = mailbox.imap_security
    context = ssl.create_default_context() if security != Mailbox.Security.NONE else None
    try:
        client = IMAPClient(
            mailbox.imap_host,
            port=mailbox.imap_port,
            ssl=security == Mailbox.Security.SSL,
            ssl_context=context,
            timeout=timeout,
        )
    except CONNECTION_ERRORS as exc:
        raise MailboxError(_describe(exc, server=server, timeout=timeout)) from exc
    try:
        if security == Mailbox.Security.STARTTLS:
            if not client.has_capability("STARTTLS"):
                raise MailboxError(
                    _(
                        "The IMAP server %(server)s does not offer STARTTLS: choose TLS (IMAPS) or, "
                        "for a server on this machine, no encryption."
                    )
                    % {"server": server}
                )
            client.starttls(context)
        try:
            client.login(mailbox.imap_username, mailbox.imap_password)
        except LoginError as exc:
            raise MailboxError(
                _("The IMAP server %(server)s refused the login of %(user)s: %(reply)s")
                % {"server": server, "user": mailbox.imap_username, "reply": _reply(exc)}
            ) from exc
        try:
            client.select_folder(mailbox.imap_folder)
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as exc:
            raise MailboxError(
                _("The folder “%(folder)s” cannot be opened on %(server)s: %(reply)s")
                % {"folder": mailbox.imap_folder, "server": server, "reply": _reply(exc)}
            ) from exc
    except MailboxError:
        _close(client)
        raise
    except CONNECTION_ERRORS as exc:
        _close(client)
        raise MailboxError(_describe(exc, server=server, timeout=timeout)) from exc
    return client


def _reply(exc: BaseException) -> str:
    """The server's words from an imaplib error, without the command's timing Dovecot adds."""
    first = exc.args[0] if exc.args else ""
    text = first.decode("utf-8", "replace") if isinstance(first, bytes) else str(first or exc)
    if text[:2] in ("b'", 'b"') and text[-1:] == text[1]:  # IMAPClient's LoginError: str(bytes)
        text = text[2:-1]
    return text.split(" (0.", 1)[0].strip()


def _describe(exc: BaseException, *, server: str, timeout: float) -> str:
    """A connection failure in words an administrator can act on."""
    if isinstance(exc, socket.gaierror):
        return _("The IMAP server name in %(server)s cannot be resolved: %(error)s") % {
            "server": server,
            "error": exc.strerror or exc,
        }
    if isinstance(exc, ConnectionRefusedError):
        return _("The IMAP server %(server)s refused the connection: check the server name and port.") % {
            "server": server
        }
    if isinstance(exc, TimeoutError):
        return _("The IMAP server %(server)s did not answer within %(seconds)s seconds.") % {
            "server": server,
            "seconds": int(timeout),
        }
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _("The certificate of the IMAP server %(server)s is not trusted: %(error)s") % {
            "server": server,
            "error": exc.verify_message or exc,
        }
    if isinstance(exc, ssl.SSLError):
        return _(
            "TLS with the IMAP server %(server)s failed (is the connection security right for this "
            "port?): %(error)s"
        ) % {"server": server, "error": exc.reason or exc}
    if isinstance(exc, imaplib.IMAP4.abort | ConnectionError):
        return _("The connection to the IMAP server %(server)s was lost: %(error)s") % {
            "server": server,
            "error": exc,
        }
    if isinstance(exc, OSError):
        return _("Cannot connect to the IMAP server %(server)s: %(error)s") % {
            "server": server,
            "error": exc.strerror or exc,
        }
    return _("The IMAP server %(server)s answered with an error: %(reply)s") % {
        "server": server,
        "reply": _reply(exc),
    }


def _close(client: IMAPClient) -> None:
    """Log out, or just drop a connection that is already broken."""
    try:
        client.logout()
    except CONNECTION_ERRORS:
        with suppress(OSError):
            client.shutdown()


# --- Fetching -----------------------------------------------------------------------------------


def fetch_new(
    mailbox: Mailbox,
    handler: Handler,
    *,
    batch: int = 50,
    client: IMAPClient | None = None,
    limit: int | None = None,
) -> int:
    """Hand each message of the folder not yet processed (unseen, not deleted), oldest UID
    first, to ``handler``, and mark it once the handler has returned. Returns how many were
    handled; ``limit`` stops after that many (the next poll continues).

    Without ``client`` a session is opened and closed here. Connection trouble propagates
    (``MailboxError`` or the socket/IMAP error); a handler's exception does not (see the
    module's docstring).
    """
    if client is None:
        client = connect(mailbox)
        try:
            return fetch_new(mailbox, handler, batch=batch, client=client, limit=limit)
        finally:
            _close(client)
    uids = unprocessed(client)
    if limit is not None:
        uids = uids[:limit]
    return _handle(client, mailbox, handler, uids, batch=batch)


def unprocessed(client: IMAPClient) -> list[int]:
    """UIDs of the selected folder's messages not yet processed, oldest first."""
    return sorted(client.search(["UNSEEN", "UNDELETED"]))


def _handle(client: IMAPClient, mailbox: Mailbox, handler: Handler, uids: list[int], *, batch: int) -> int:
    marker = _Marker(client, mailbox)
    handled = 0
    for start in range(0, len(uids), batch):
        window = uids[start : start + batch]
        sizes = client.fetch(window, ["RFC822.SIZE"])
        for group in _groups(window, {uid: data.get(b"RFC822.SIZE", 0) for uid, data in sizes.items()}):
            bodies = client.fetch(group, ["BODY.PEEK[]"])
            handle_group = getattr(handler, "handle_group", None)
            if handle_group is not None:  # several processes (tierdesk.mail.import_pool)
                fetched = {uid: bodies.pop(uid, {}).get(b"BODY[]") for uid in group}
                items = [(uid, bytes(raw)) for uid, raw in fetched.items() if raw is not None]
                del fetched
                done = handle_group(items).done
                del items
            else:
                done = _import_each(mailbox, handler, group, bodies)
            handled += len(done)
            # One command marks the group: every message in it is committed already; a crash
            # before this line offers them again, and the import recognises each.
            if done:
                marker.mark(done)
    return handled


def _import_each(mailbox: Mailbox, handler: Handler, group: list[int], bodies: dict[int, Any]) -> list[int]:
    """Import the group's messages one after the other; return the UIDs committed."""
    done: list[int] = []
    for uid in group:
        # Popped, so the batch's memory shrinks as it is handled.
        raw = bodies.pop(uid, {}).get(b"BODY[]")
        if raw is None:  # expunged by someone else since the search
            continue
        try:
            handler(bytes(raw))
        except Exception:
            # Left unmarked: offered again at the next poll. Unparseable mail does not come
            # here (the import quarantines it); this is the database or the disk.
            logger.exception("mailbox %s: importing message UID %s failed", mailbox.name, uid)
            continue
        finally:
            del raw
        done.append(uid)
    return done


def _groups(uids: Sequence[int], sizes: dict[int, int]) -> Iterator[list[int]]:
    """Consecutive runs of ``uids`` of at most ``BATCH_BYTES`` together (a bigger message alone)."""
    group: list[int] = []
    total = 0
    for uid in uids:
        size = int(sizes.get(uid, 0))
        if group and total + size > BATCH_BYTES:
            yield group
            group, total = [], 0
        group.append(uid)
        total += size
    if group:
        yield group


class _Marker:
    """Marks handled messages: moved to the processed folder, or flagged ``\\Seen``."""

    def __init__(self, client: IMAPClient, mailbox: Mailbox) -> None:
        self.client = client
        self.folder = mailbox.processed_folder
        self.server = f"{mailbox.imap_host}:{mailbox.imap_port}"
        self.folder_checked = False

    def mark(self, uids: list[int]) -> None:
        if not self.folder:
            self.client.add_flags(uids, [SEEN], silent=True)
            return
        if not self.folder_checked:
            self._ensure_folder()
            self.folder_checked = True
        try:
            if self.client.has_capability("MOVE"):
                self.client.move(uids, self.folder)
            else:
                # Not atomic: a crash after the COPY leaves a second copy in the processed
                # folder at the next poll, never a lost message.
                self.client.copy(uids, self.folder)
                self.client.add_flags(uids, [DELETED], silent=True)
                if self.client.has_capability("UIDPLUS"):
                    self.client.uid_expunge(uids)
                # Without UIDPLUS only a plain EXPUNGE is left, which would also remove what
                # other clients flagged \Deleted: the message stays flagged (and is not fetched
                # again: the search skips deleted messages) until the server or a person expunges.
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as exc:
            raise MailboxError(
                _("A message could not be moved to the folder “%(folder)s” on %(server)s: %(reply)s")
                % {"folder": self.folder, "server": self.server, "reply": _reply(exc)}
            ) from exc

    def _ensure_folder(self) -> None:
        if self.client.folder_exists(self.folder):
            return
        try:
            self.client.create_folder(self.folder)
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as exc:
            if not self.client.folder_exists(self.folder):  # not just created by another poll
                raise MailboxError(
                    _("The folder “%(folder)s” cannot be created on %(server)s: %(reply)s")
                    % {"folder": self.folder, "server": self.server, "reply": _reply(exc)}
                ) from exc


# --- Polling ------------------------------------------------------------------------------------


def poll_mailbox(mailbox: Mailbox, handler: Handler, *, limit: int | None = None) -> int:
    """Connect, import what is new, log out; record the outcome on the mailbox (``last_polled_at``
    and ``last_error``, emptied by a good poll). Returns how many messages were handled; raises
    ``MailboxError`` (after recording it) when the mailbox cannot be read."""
    counted = _Counted(handler)
    server = f"{mailbox.imap_host}:{mailbox.imap_port}"
    try:
        client = connect(mailbox)
        try:
            handled = fetch_new(mailbox, counted, client=client, limit=limit)
        finally:
            _close(client)
    except MailboxError as exc:
        record_poll(mailbox, error=str(exc))
        raise
    except CONNECTION_ERRORS as exc:
        error = MailboxError(_describe(exc, server=server, timeout=TIMEOUT_SECONDS))
        record_poll(mailbox, error=str(error))
        raise error from exc
    record_poll(mailbox, error=counted.report())
    return handled


class _Counted:
    """The handler, counting its failures for ``last_error``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.failures = 0
        self.last: Exception | str | None = None
        if hasattr(handler, "handle_group"):
            self.handle_group = self._handle_group

    def _handle_group(self, items: list[tuple[int, bytes]]) -> Any:
        result = self.handler.handle_group(items)  # type: ignore[attr-defined]
        if result.failures:
            self.failures += result.failures
            self.last = result.last_error
        return result

    def __call__(self, raw: bytes) -> object:
        try:
            return self.handler(raw)
        except Exception as exc:
            self.failures += 1
            self.last = exc
            raise

    def report(self) -> str:
        if self.last is None:
            return ""
        return ngettext(
            "%(count)d message could not be imported and will be tried again: %(error)s",
            "%(count)d messages could not be imported and will be tried again: %(error)s",
            self.failures,
        ) % {
            "count": self.failures,
            "error": self.last if isinstance(self.last, str) else f"{type(self.last).__name__}: {self.last}",
        }


def record_poll(mailbox: Mailbox, *, error: str) -> None:
    """Note when the mailbox was last read and what went wrong (empty: nothing).

    Operational state, not a change of the mailbox's configuration: a plain UPDATE of these two
    columns, without an audit event (one a minute per mailbox would bury the real changes) and
    without saving the rest of the row (an administrator may be editing the mailbox meanwhile;
    our copy of it would overwrite his change).
    """
    now = timezone.now()
    Mailbox.objects.filter(pk=mailbox.pk).update(last_polled_at=now, last_error=error)
    mailbox.last_polled_at, mailbox.last_error = now, error


# One poll of a mailbox at a time. The lock is a cache entry (``cache.add`` is atomic: Redis
# SET NX, locmem under its lock) holding a random token, deleted only by its owner, and expiring
# by itself if the owner dies. Why not a PostgreSQL advisory lock: SQLite has none, and a
# session lock needs its own connection per mailbox, since the import's commits and Django's
# connection recycling must not release it. Where the cache reaches: production points
# TIERDESK_CACHE_URL at Redis, shared by every worker and machine. The single-machine default
# (locmem) is per process, and `make run` has one worker process whose pool threads share it, so
# it holds there too; only separate processes with a locmem cache (a second worker, or the
# watch_mailboxes command beside the worker) could poll one mailbox twice at once. That costs
# work, not correctness: the import is idempotent, so each message still makes one ticket.
# The expiry is far above a poll's length (a poll handles a bounded number of messages) and
# only matters after a crash; releasing is read-then-delete, not atomic, which could only ever
# drop a lock taken by another poll after ours expired, the same harmless double poll.
LOCK_TTL_SECONDS = 15 * 60
LOCK_KEY = "tierdesk:mail:imap-lock:{}"


@contextmanager
def mailbox_lock(mailbox: Mailbox, *, ttl: int = LOCK_TTL_SECONDS) -> Iterator[bool]:
    """``with mailbox_lock(mailbox) as acquired:`` -- ``acquired`` is False when another poll
    holds it (then skip the mailbox: that poll is reading it)."""
    key = LOCK_KEY.format(mailbox.pk)
    token = secrets.token_hex(16)
    acquired = cache.add(key, token, ttl)
    try:
        yield acquired
    finally:
        if acquired and cache.get(key) == token:
            cache.delete(key)


# A poll of one mailbox hands at most this many messages to the import; a backlog is worked off
# over the following polls. It keeps a poll far shorter than its lock's expiry and lets the
# other mailboxes have their turn.
POLL_LIMIT = 500


def poll_active_mailboxes(handler_for: Callable[[Mailbox], Handler] | None = None) -> dict[str, int]:
    """Poll every active mailbox with IMAP configured, one after another, each under its lock
    (a mailbox another poll holds is skipped: that poll is reading it). ``handler_for(mailbox)``
    gives the import handler, by default the import service. Returns how many messages were
    handled per polled mailbox (by name). A mailbox that cannot be read is logged and recorded
    on its row; the others are polled all the same."""
    make_handler = handler_for or import_handler
    handled: dict[str, int] = {}
    for mailbox in Mailbox.objects.filter(is_active=True).order_by("pk"):
        if not mailbox.polls_imap:
            continue
        with mailbox_lock(mailbox) as acquired:
            if not acquired:
                logger.info("mailbox %s: skipped, another poll is reading it", mailbox.name)
                continue
            try:
                handled[mailbox.name] = poll_mailbox(mailbox, make_handler(mailbox), limit=POLL_LIMIT)
            except MailboxError as exc:  # already recorded on the mailbox
                logger.warning("mailbox %s: %s", mailbox.name, exc)
            except Exception:
                logger.exception("mailbox %s: polling failed", mailbox.name)
    return handled


def import_handler(mailbox: Mailbox) -> Handler:
    """The import service for the messages of ``mailbox``."""
    # Imported when used: fetching does not depend on the import (tests pass their own handler),
    # and the import pulls in parsing, tickets and SLA.
    from tierdesk.mail.choices import Transport
    from tierdesk.mail.services import import_message

    return functools.partial(import_message, transport=Transport.IMAP, mailbox=mailbox)


# --- Watching (IDLE) ----------------------------------------------------------------------------


def watch_mailbox(
    mailbox: Mailbox,
    handler: Handler,
    *,
    stop: threading.Event,
    idle_timeout: float = 300,
    poll_interval: float = 60,
) -> None:
    """Import new mail as it arrives until ``stop`` is set: fetch, then wait in IMAP IDLE for
    the server to announce new mail (or ``idle_timeout``, at most 29 minutes), fetch again.
    Servers without IDLE are polled every ``poll_interval`` seconds. Connection trouble is
    recorded on the mailbox and the watcher reconnects, waiting longer after each failure."""
    server = f"{mailbox.imap_host}:{mailbox.imap_port}"
    delay = RECONNECT_MIN_SECONDS
    while not stop.is_set():
        client: IMAPClient | None = None
        try:
            client = connect(mailbox)
            delay = RECONNECT_MIN_SECONDS
            can_idle = client.has_capability("IDLE")
            while not stop.is_set():
                wait = idle_timeout if can_idle else poll_interval
                with mailbox_lock(mailbox) as acquired:
                    if acquired:
                        counted = _Counted(handler)
                        _drain(client, mailbox, counted)
                        record_poll(mailbox, error=counted.report())
                    else:  # a poll is reading the mailbox now; look again soon after it
                        wait = min(wait, LOCKED_RETRY_SECONDS)
                if can_idle:
                    _idle(client, stop, timeout=min(wait, IDLE_MAX_SECONDS))
                elif not stop.wait(wait):
                    client.noop()
        except MailboxError as exc:
            logger.warning("mailbox %s: %s", mailbox.name, exc)
            record_poll(mailbox, error=str(exc))
        except CONNECTION_ERRORS as exc:
            message = _describe(exc, server=server, timeout=TIMEOUT_SECONDS)
            logger.warning("mailbox %s: %s", mailbox.name, message)
            record_poll(mailbox, error=message)
        finally:
            if client is not None:
                _close(client)
        if stop.wait(delay):
            break
        delay = min(delay * 2, RECONNECT_MAX_SECONDS)


def _drain(client: IMAPClient, mailbox: Mailbox, handler: Handler) -> None:
    """Import until a search finds nothing not offered yet in this round.

    Mail that arrives while we fetch or flag is announced (``* n EXISTS``) in the answer to
    that command, where imaplib files it away: IDLE will not announce it again. So search again
    after every round that offered something, and after a search whose own answer announced
    new mail (it arrived while the server searched). What the handler refused stays for the
    next wake-up instead of being offered in a loop.
    """
    # imaplib keeps every untagged answer nobody asked for (EXISTS, EXPUNGE, COPYUID...) for the
    # life of the session, which for a watcher is days; what they announce is re-read by the
    # search that follows, so they are dropped before each one (also bounding the memory).
    untagged: dict[str, list[Any]] = client._imap.untagged_responses
    offered: set[int] = set()
    while True:
        untagged.clear()
        fresh = [uid for uid in unprocessed(client) if uid not in offered]
        if fresh:
            offered.update(fresh)
            _handle(client, mailbox, handler, fresh, batch=50)
        elif "EXISTS" not in untagged:
            break
    untagged.clear()


def _announced_already(client: IMAPClient) -> bool:
    """Whether the server's news is already read into imaplib's buffer, where ``idle_check``
    (which waits on the socket) cannot see it.

    A server sends what changed since our last command right after its ``+ idling``, often in
    the same packet; imaplib reads that packet whole to get the ``+`` line, and the socket then
    stays quiet. Without this look, mail arriving just before IDLE would wait for the timeout.
    """
    sock = client.socket()
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    reader = getattr(client._imap, "file", None)
    if reader is None:
        return False
    sock.setblocking(False)  # peek must not wait for data that is not there
    try:
        return bool(reader.peek(1))
    except (BlockingIOError, ssl.SSLWantReadError):
        return False
    finally:
        sock.settimeout(client._timeout.read)


def _idle(client: IMAPClient, stop: threading.Event, *, timeout: float) -> None:
    """Wait in IDLE until the server announces new mail, ``timeout`` passes or ``stop`` is set.
    Raises ``ConnectionResetError`` when the server ends the session meanwhile."""
    client.idle()
    deadline = time.monotonic() + timeout
    closed = False
    quick_empty = 0
    try:
        if _announced_already(client):
            return
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            tick = min(IDLE_TICK_SECONDS, left)
            began = time.monotonic()
            responses: list[Any] = client.idle_check(timeout=tick)
            kinds = [
                r[1] if r[0] != b"BYE" else b"BYE" for r in responses if isinstance(r, tuple) and len(r) > 1
            ]
            if b"BYE" in kinds:  # the server is closing the session (shutdown, kick, its own timeout)
                closed = True
                raise ConnectionResetError(_("The server ended the session."))
            if b"EXISTS" in kinds or b"RECENT" in kinds:
                return
            # IMAPClient reports a connection closed without BYE as "readable, nothing read": an
            # immediate empty answer, over and over. Take a run of them for the lost connection
            # it is rather than spin until the timeout.
            quick_empty = quick_empty + 1 if not responses and time.monotonic() - began < tick / 2 else 0
            if quick_empty >= 3:
                closed = True
                raise ConnectionResetError(_("The server closed the connection during IDLE."))
    finally:
        if not closed:
            client.idle_done()
