"""The LMTP listener: an MTA (Postfix ``lmtp:inet:127.0.0.1:8024`` or a Unix socket) delivers
mail for the desk's addresses straight into Tierdesk, with no mailbox in between.

LMTP answers for each recipient after the message is stored, so the MTA keeps a message until
Tierdesk has committed it: an import that fails for a temporary reason (the database is down)
answers 451 and the MTA retries later. A message is imported once whatever the number of
recipients; the first recipient that is a configured mailbox's address decides its routing.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from aiosmtpd.lmtp import LMTP
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection

from tierdesk.mail.choices import Transport
from tierdesk.mail.models import Mailbox

logger = logging.getLogger(__name__)

OK = "250 2.0.0 Message accepted for delivery"
TEMPORARY_FAILURE = "451 4.3.0 Temporary failure, please try again later"


def mailbox_for(recipients: list[str]) -> Mailbox | None:
    """The active mailbox whose address is one of the recipients (first match in order)."""
    wanted = [r.strip().lower() for r in recipients]
    boxes = {m.address.lower(): m for m in Mailbox.objects.filter(is_active=True)}
    return next((boxes[r] for r in wanted if r in boxes), None)


def deliver(raw: bytes, recipients: list[str]) -> None:
    """Import one message delivered to ``recipients``."""
    from tierdesk.mail.services import import_message

    import_message(raw, transport=Transport.LMTP, mailbox=mailbox_for(recipients))


def deliver_in_thread(raw: bytes, recipients: list[str]) -> None:
    """``deliver`` in a long-lived import thread: a connection the database dropped meanwhile is
    replaced first, as Django does around each request."""
    close_old_connections()
    try:
        deliver(raw, recipients)
    finally:
        close_old_connections()


class ImportHandler:
    """aiosmtpd handler: imports each message in a thread (the ORM is synchronous) and answers
    once per recipient, as LMTP requires."""

    def __init__(self, executor: Executor, deliver: Callable[[bytes, list[str]], None] = deliver):
        self.executor = executor
        self.deliver = deliver

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        recipients = list(envelope.rcpt_tos) or [""]
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self.executor, self.deliver, raw, recipients)
        except DatabaseError:
            logger.exception("LMTP: the import failed for a temporary reason")
            return "\r\n".join([TEMPORARY_FAILURE] * len(recipients))
        return "\r\n".join([OK] * len(recipients))


def protocol_factory(handler: ImportHandler) -> Callable[[], LMTP]:
    """One LMTP protocol per connection; messages over the mail limit are refused with 552
    before they are stored (the MTA bounces them to the sender)."""

    def factory() -> LMTP:
        return LMTP(
            handler,
            data_size_limit=settings.TIERDESK_MAIL_MAX_BYTES,
            enable_SMTPUTF8=True,
            decode_data=False,
            ident="Tierdesk LMTP",
        )

    return factory


def workers() -> int:
    """SQLite takes one writer at a time: one import thread; PostgreSQL: a few."""
    return 1 if connection.vendor == "sqlite" else 4


async def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8024,
    socket_path: str = "",
    sock: socket.socket | None = None,
    stop: asyncio.Event,
) -> None:
    """Listen until ``stop`` is set: on ``sock`` (already listening, shared by several
    processes), a Unix socket, or host and port."""
    executor = ThreadPoolExecutor(max_workers=workers(), thread_name_prefix="lmtp-import")
    factory = protocol_factory(ImportHandler(executor, deliver_in_thread))
    loop = asyncio.get_running_loop()
    if sock is not None:
        server = await loop.create_server(factory, sock=sock)
    elif socket_path:
        server = await loop.create_unix_server(factory, path=socket_path)
    else:
        server = await loop.create_server(factory, host=host, port=port)
    logger.info("LMTP listening on %s", socket_path or (sock.getsockname() if sock else f"{host}:{port}"))
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
        executor.shutdown(wait=True)
