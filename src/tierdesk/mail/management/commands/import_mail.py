"""``tierdesk import_mail``: import one message read from standard input, for an MTA's pipe
delivery (Postfix ``pipe``, procmail, fetchmail's ``--mda``).

Exit codes follow sysexits.h, which MTAs understand: 0 imported (also when quarantined or
ignored: the message is kept and needs no retry), 65 the input is too large or empty (the MTA
bounces it to the sender), 75 a temporary failure (the MTA keeps the message and retries).
"""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from tierdesk.mail.choices import Transport
from tierdesk.mail.models import Mailbox

EX_DATAERR = 65
EX_TEMPFAIL = 75


class Command(BaseCommand):
    help = "Import one e-mail message from standard input."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--mailbox", default="", help="the mailbox (by name or address) whose routing applies"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from tierdesk.mail.services import import_message

        mailbox = None
        if name := options["mailbox"]:
            mailbox = (
                Mailbox.objects.filter(name=name).first()
                or Mailbox.objects.filter(address__iexact=name).first()
            )
            if mailbox is None:
                raise CommandError(f"no mailbox named {name}", returncode=EX_DATAERR)
        limit = settings.TIERDESK_MAIL_MAX_BYTES
        raw = sys.stdin.buffer.read(limit + 1)
        if not raw.strip():
            raise CommandError("no message on standard input", returncode=EX_DATAERR)
        if len(raw) > limit:
            raise CommandError(f"the message is larger than {limit} bytes", returncode=EX_DATAERR)
        try:
            message = import_message(raw, transport=Transport.PIPE, mailbox=mailbox)
        except DatabaseError as exc:
            raise CommandError(f"temporary failure: {exc}", returncode=EX_TEMPFAIL) from exc
        ticket = message.ticket.number if message.ticket else "-"
        self.stdout.write(f"{message.get_state_display()}: {ticket}")
