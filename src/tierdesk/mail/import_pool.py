"""Importing the mail of one IMAP fetch in several processes at once.

One process imports about 50 messages a second, most of it Python (parsing, the ORM); a second
process on another core nearly doubles that. The IMAP session stays in the calling process:
it fetches a group of messages, hands the group to the pool, waits for every import to commit
and only then marks the group on the server, exactly as the sequential path does, so a crash
anywhere still offers the unmarked messages again and the import recognises them.

Order matters between some messages of a group and not between others. A reply must be
imported after the request it answers (or it would open a ticket of its own), and the messages
of one sender after each other (his rate limit counts them, and the first may create his
contact). So the group is cut into *chains*: messages joined by a shared Message-ID (their own,
In-Reply-To, References) or the same sender go into one chain, imported in UID order by one
worker; different chains run side by side. A chain stops at its first failure, leaving the
rest of it unmarked for the next poll, so a reply never overtakes its request.

The workers are started with ``spawn``, not ``fork``: the caller (the IMAP watcher) runs
threads, and a forked copy of a threaded process may inherit a lock some other thread held.
Used by ``watch_mailboxes --processes N``; the Celery poll stays in one process because the
worker's own threads already share its cores.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import close_old_connections

if TYPE_CHECKING:
    # Not at run time: a spawned worker imports this module to find its functions before it
    # has set Django up (``_start_worker``), and models cannot be imported before that.
    from tierdesk.mail.models import Mailbox

logger = logging.getLogger(__name__)

# Enough of a message to hold its header section; the body is not needed to chain it.
HEAD_BYTES = 64 * 1024

Item = tuple[int, bytes]  # (IMAP UID, raw message)


@dataclass
class GroupResult:
    """What importing a group did: the UIDs committed (to be marked) and the failures."""

    done: list[int] = field(default_factory=list)
    failures: int = 0
    last_error: str = ""


def chains(items: list[Item]) -> list[list[Item]]:
    """Cut a fetched group into chains that must be imported in order (see the module's doc).

    Each chain keeps UID order; chains are listed by their first UID. Headers that cannot be
    read join nothing: such a message is a chain of its own (the import quarantines it).
    """
    parser = BytesHeaderParser(policy=compat32)
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for index, (_uid, raw) in enumerate(items):
        try:
            keys = _keys(parser.parsebytes(raw[:HEAD_BYTES], headersonly=True))
        except Exception:  # a header section the stdlib cannot read: the import will say why
            keys = set()
        for key in keys:
            if key in owner:
                a, b = root(index), root(owner[key])
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                owner[key] = index
    grouped: dict[int, list[Item]] = {}
    for index, item in enumerate(items):
        grouped.setdefault(root(index), []).append(item)
    return [sorted(chain) for _first, chain in sorted(grouped.items())]


def _keys(headers: Any) -> set[str]:
    keys: set[str] = set()
    for name in ("Message-ID", "In-Reply-To", "References"):
        for value in headers.get_all(name) or ():
            keys.update("id:" + token.strip("<>") for token in str(value).split() if "@" in token)
    for _name, address in getaddresses([str(v) for v in headers.get_all("From") or ()]):
        if address:
            keys.add("from:" + address.lower())
    return keys


class ImportPool:
    """``processes`` worker processes that import chains of messages (``PooledImport`` hands
    them work). Shared by the watcher's threads; close it when done."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        database = settings.DATABASES["default"]
        self._executor = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            # What this process runs with now, which a test (or a command's option) may have
            # changed since the settings module was read: the workers must use the same.
            initargs=(database["NAME"], str(settings.MEDIA_ROOT)),
        )

    def start(self) -> None:
        """Start every worker now (each sets Django up, about a second), not with the first mail."""
        for future in [self._executor.submit(_ready) for _ in range(self.processes)]:
            future.result()

    def handler(self, mailbox: Mailbox) -> PooledImport:
        return PooledImport(self, mailbox)

    def submit(self, mailbox: Mailbox, chain: list[Item]) -> Future[tuple[list[int], str]]:
        return self._executor.submit(_import_chain, mailbox, chain)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ImportPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PooledImport:
    """The import handler of one mailbox that imports whole groups through an ``ImportPool``.

    Called with one message (``handler(raw)``), it imports it in this process, like the plain
    handler; the fetch loop gives it groups through ``handle_group``.
    """

    def __init__(self, pool: ImportPool, mailbox: Mailbox) -> None:
        self.pool = pool
        self.mailbox = mailbox

    def __call__(self, raw: bytes) -> object:
        from tierdesk.mail.choices import Transport
        from tierdesk.mail.services import import_message

        return import_message(raw, transport=Transport.IMAP, mailbox=self.mailbox)

    def handle_group(self, items: list[Item]) -> GroupResult:
        result = GroupResult()
        pending = [(chain, self.pool.submit(self.mailbox, chain)) for chain in chains(items)]
        for chain, future in pending:
            try:
                done, error = future.result()
            except Exception as exc:  # the worker died (killed, out of memory): retried next poll
                logger.exception("mailbox %s: an import process failed", self.mailbox.name)
                done, error = [], f"{type(exc).__name__}: {exc}"
            result.done.extend(done)
            if error:
                result.failures += len(chain) - len(done)
                result.last_error = error
        result.done.sort()
        return result


def _start_worker(database_name: str, media_root: str) -> None:
    import django

    django.setup()
    from django.conf import settings as worker_settings

    worker_settings.DATABASES["default"]["NAME"] = database_name
    worker_settings.MEDIA_ROOT = media_root


def _ready() -> None:
    # Held a moment so that each of the pool's workers gets one (and so starts).
    time.sleep(0.2)


def _import_chain(mailbox: Mailbox, chain: list[Item]) -> tuple[list[int], str]:
    """In a worker: import the chain's messages in order; stop at the first failure (the rest
    stays unmarked and comes again with the next poll, still behind it)."""
    from tierdesk.mail.choices import Transport
    from tierdesk.mail.services import import_message

    done: list[int] = []
    try:
        for uid, raw in chain:
            import_message(raw, transport=Transport.IMAP, mailbox=mailbox)
            done.append(uid)
    except Exception as exc:
        logger.exception("mailbox %s: importing message UID %s failed", mailbox.name, chain[len(done)][0])
        return done, f"{type(exc).__name__}: {exc}"
    finally:
        # A long-lived worker has no request cycle: give back a connection the database dropped.
        close_old_connections()
    return done, ""
