"""Background work of the e-mail channel: fetching mail from IMAP mailboxes and delivering the
outbox."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)

# --- Fetching (IMAP) ---------------------------------------------------------------------------


@shared_task(name="tierdesk.mail.poll_mailboxes")
def poll_mailboxes() -> dict[str, int]:
    """Fetch new mail from every active IMAP mailbox and import it (run by beat). Each mailbox
    is polled under a lock, so two workers never read one at once; the lock and why it is a
    cache entry: ``tierdesk.mail.imap.mailbox_lock``."""
    from tierdesk.mail.imap import poll_active_mailboxes

    return poll_active_mailboxes()


# --- Delivering (the outbox) -------------------------------------------------------------------

# A run stops after this many batches even if mail keeps coming; beat starts the next one.
DELIVERY_MAX_BATCHES = 100


@shared_task(name="tierdesk.mail.deliver")
def deliver() -> int:
    """Deliver the outbox until nothing is due. Queued after each commit that wrote outbox rows
    and by beat (for retries, and rows whose queueing failed); runs safely beside itself."""
    from tierdesk.mail.outgoing import deliver_due_messages

    total = 0
    for _batch in range(DELIVERY_MAX_BATCHES):
        taken = deliver_due_messages()
        total += taken
        if not taken:
            break
    if total:
        logger.info("Outbox: %d message(s) handled.", total)
    return total
