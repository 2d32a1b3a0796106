"""``tierdesk watch_mailboxes``: import mail the moment it arrives, over IMAP IDLE.

One thread per active IMAP mailbox runs ``tierdesk.mail.imap.watch_mailbox``. The mailboxes
are read again every ``--reload-interval`` seconds: a mailbox added, changed (server, password,
folders) or switched off gets its watcher started, restarted or stopped, so an administrator's
edit takes effect without a restart. SIGINT or SIGTERM stops all watchers and exits.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections, connection

from tierdesk.mail import imap
from tierdesk.mail.import_pool import ImportPool
from tierdesk.mail.models import Mailbox

logger = logging.getLogger(__name__)

# How long a stopping watcher may take to finish the message it is importing.
JOIN_SECONDS = 30.0


def _settings(mailbox: Mailbox) -> tuple[object, ...]:
    """What a watcher was started with: a change restarts it."""
    return (
        mailbox.imap_host,
        mailbox.imap_port,
        mailbox.imap_security,
        mailbox.imap_username,
        mailbox.imap_password,
        mailbox.imap_folder,
        mailbox.processed_folder,
        mailbox.name,
    )


@dataclass
class _Watcher:
    settings: tuple[object, ...]
    stop: threading.Event
    thread: threading.Thread


class Command(BaseCommand):
    help = "Watch the active IMAP mailboxes (IMAP IDLE) and import new mail as it arrives."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reload-interval", type=float, default=60.0, help="seconds between re-reading the mailboxes"
        )
        parser.add_argument(
            "--idle-timeout", type=float, default=300.0, help="seconds in IDLE before looking anyway"
        )
        parser.add_argument(
            "--poll-interval", type=float, default=60.0, help="seconds between polls of servers without IDLE"
        )
        parser.add_argument(
            "--processes",
            type=int,
            default=1,
            help="import each fetched batch in this many processes (tierdesk.mail.import_pool); "
            "one per core is a good start",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()

        def on_signal(signum: int, frame: Any) -> None:
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, on_signal)
        if options["processes"] < 1:
            raise CommandError("--processes must be at least 1")
        pool = ImportPool(options["processes"]) if options["processes"] > 1 else None
        try:
            if pool is not None:
                pool.start()
            self.watch(
                stop,
                handler_for=pool.handler if pool is not None else None,
                reload_interval=options["reload_interval"],
                idle_timeout=options["idle_timeout"],
                poll_interval=options["poll_interval"],
            )
        finally:
            if pool is not None:
                pool.close()

    def watch(
        self,
        stop: threading.Event,
        *,
        handler_for: Callable[[Mailbox], imap.Handler] | None = None,
        reload_interval: float = 60.0,
        idle_timeout: float = 300.0,
        poll_interval: float = 60.0,
    ) -> None:
        """Keep one watcher per active IMAP mailbox until ``stop`` is set. ``handler_for`` gives
        a mailbox's import handler (by default the import service)."""
        make_handler = handler_for or imap.import_handler
        watchers: dict[int, _Watcher] = {}

        def start(mailbox: Mailbox) -> _Watcher:
            own_stop = threading.Event()
            handler = make_handler(mailbox)

            def import_one(raw: bytes) -> object:
                try:
                    return handler(raw)
                finally:
                    # A long-lived thread has no request cycle to recycle its database
                    # connection: return it after each import (to the pool, or closed), so a
                    # restarted database does not leave the watcher with a dead one.
                    close_old_connections()

            # A pooled handler imports whole batches in its own processes (which recycle their
            # connections); only a handler of this process needs the wrapper.
            handle = handler if hasattr(handler, "handle_group") else import_one

            def run() -> None:
                try:
                    imap.watch_mailbox(
                        mailbox,
                        handle,
                        stop=own_stop,
                        idle_timeout=idle_timeout,
                        poll_interval=poll_interval,
                    )
                except Exception:  # restarted at the next reload
                    logger.exception("mailbox %s: the watcher failed", mailbox.name)
                finally:
                    connection.close()

            thread = threading.Thread(target=run, name=f"imap-watch-{mailbox.pk}", daemon=True)
            thread.start()
            return _Watcher(_settings(mailbox), own_stop, thread)

        def retire(pks: list[int]) -> None:
            for pk in pks:
                watchers[pk].stop.set()
            for pk in pks:
                watchers.pop(pk).thread.join(JOIN_SECONDS)

        try:
            while not stop.is_set():
                wanted = {
                    m.pk: m for m in Mailbox.objects.filter(is_active=True).order_by("pk") if m.polls_imap
                }
                close_old_connections()
                retire(
                    [
                        pk
                        for pk, watcher in watchers.items()
                        if pk not in wanted
                        or watcher.settings != _settings(wanted[pk])
                        or not watcher.thread.is_alive()
                    ]
                )
                for pk, mailbox in wanted.items():
                    if pk not in watchers:
                        watchers[pk] = start(mailbox)
                        logger.info("mailbox %s: watching %s", mailbox.name, mailbox.imap_host)
                if not watchers:
                    logger.info("no active IMAP mailbox; looking again in %s s", reload_interval)
                stop.wait(reload_interval)
        finally:
            retire(list(watchers))
            connection.close()
