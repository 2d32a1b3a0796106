"""Background work of the SLA app: the periodic sweep and recomputing deadlines. (The sweep's
notices go through the e-mail outbox: ``tierdesk.mail.outgoing.queue_sla_notifications``.)"""

from __future__ import annotations

import logging

from celery import shared_task

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


@shared_task(name="tierdesk.sla.recompute")
def recompute_deadlines() -> int:
    """Bring open tickets' deadlines up to date after a change of service levels or calendars."""
    from tierdesk.sla.services import recompute_open_tickets

    return recompute_open_tickets()
