"""``tierdesk lmtp_server``: the LMTP listener for an MTA (see ``tierdesk.mail.lmtp``)."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from tierdesk.mail.lmtp import serve


class Command(BaseCommand):
    help = "Accept mail over LMTP (from Postfix or another MTA) and import it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8024)
        parser.add_argument("--socket", default="", help="listen on this Unix socket instead")

    def handle(self, *args: Any, **options: Any) -> None:
        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await serve(host=options["host"], port=options["port"], socket_path=options["socket"], stop=stop)

        asyncio.run(main())
