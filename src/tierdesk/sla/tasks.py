"""Background work of the SLA app: the periodic sweep and the notifications it sends."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.utils import translation
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)


@shared_task(name="tierdesk.sla.sweep")
def sweep() -> dict[str, int]:
    """Run the SLA sweep until no due ticket is left (beat starts it every 30 s; several
    workers may run it at once)."""
    from tierdesk.sla.services import sweep_due_tickets

    totals = {"checked": 0, "breaches": 0, "warnings": 0, "escalated": 0}
    while True:
        result = sweep_due_tickets()
        for key in totals:
            totals[key] += getattr(result, key)
        if result.checked == 0:
            break
    if totals["checked"]:
        logger.info("SLA sweep: %s", totals)
    return totals


@shared_task(name="tierdesk.sla.notify", autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_sla_notifications(notices: list[dict[str, Any]]) -> int:
    """Mail each recipient of a fired escalation rule, in his own language. Returns the number
    of mails sent."""
    from tierdesk.accounts.models import User
    from tierdesk.tickets.models import Ticket

    tickets = Ticket.objects.in_bulk([n["ticket"] for n in notices])
    people = User.objects.in_bulk(sorted({pk for n in notices for pk in n["recipients"]}))
    sent = 0
    for notice in notices:
        ticket = tickets.get(notice["ticket"])
        if ticket is None:
            continue
        for pk in notice["recipients"]:
            person = people.get(pk)
            if person is None or not person.is_active or not person.email:
                continue
            with translation.override(person.language or settings.LANGUAGE_CODE):
                subject = _("[%(number)s] %(percent)d%% of the %(target)s time used: %(subject)s") % {
                    "number": ticket.number,
                    "percent": notice["percent"],
                    "target": _target_label(notice["target"]),
                    "subject": ticket.subject,
                }
                body = _(
                    "Ticket %(number)s (%(subject)s) has used %(percent)d%% of its %(target)s time. "
                    "Please look at it now."
                ) % {
                    "number": ticket.number,
                    "subject": ticket.subject,
                    "percent": notice["percent"],
                    "target": _target_label(notice["target"]),
                }
            send_mail(subject, body, None, [person.email])
            sent += 1
    return sent


def _target_label(kind: str) -> str:
    from tierdesk.sla.choices import TargetKind

    return str(TargetKind(kind).label).lower()


@shared_task(name="tierdesk.sla.recompute")
def recompute_deadlines() -> int:
    """Bring open tickets' deadlines up to date after a change of service levels or calendars."""
    from tierdesk.sla.services import recompute_open_tickets

    return recompute_open_tickets()
