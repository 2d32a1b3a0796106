"""``tierdesk lmtp_server``: the LMTP listener for an MTA (see ``tierdesk.mail.lmtp``).

One process imports one message at a time in Python (the ORM and the parser hold the GIL), so
``--processes N`` forks N listeners that share one listening socket and let the kernel hand each
connection to one of them: an MTA delivering over several connections (Postfix does) then uses
every core."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from tierdesk.mail.lmtp import serve


def _run(options: dict[str, Any], sock: socket.socket | None) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(
            host=options["host"], port=options["port"], socket_path=options["socket"], sock=sock, stop=stop
        )

    asyncio.run(main())


class Command(BaseCommand):
    help = "Accept mail over LMTP (from Postfix or another MTA) and import it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8024)
        parser.add_argument("--socket", default="", help="listen on this Unix socket instead")
        parser.add_argument(
            "--processes", type=int, default=1, help="listener processes sharing the port (TCP only)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        processes = options["processes"]
        if processes < 1 or (processes > 1 and options["socket"]):
            raise CommandError("--processes must be at least 1, and 1 with --socket")
        if processes == 1:
            _run(options, None)
            return
        listener = socket.create_server((options["host"], options["port"]), backlog=128)
        connections.close_all()  # each child opens its own database connections
        children = []
        for _ in range(processes):
            pid = os.fork()
            if pid == 0:  # the child serves until it is told to stop
                try:
                    _run(options, listener)
                finally:
                    os._exit(0)
            children.append(pid)
        listener.close()

        def forward(signum: int, frame: Any) -> None:
            for child in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGTERM)

        signal.signal(signal.SIGINT, forward)
        signal.signal(signal.SIGTERM, forward)
        status = 0
        for child in children:
            _pid, code = os.waitpid(child, 0)
            status = status or os.waitstatus_to_exitcode(code)
        sys.exit(status)
