"""Background work of the knowledge base: reminding owners of overdue reviews."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="tierdesk.kb.review_reminders")
def review_reminders() -> int:
    """Mail owners their published articles whose review is overdue (run daily by beat; an
    article is mentioned at most once a week, so extra runs send nothing new)."""
    from tierdesk.kb.services import send_review_reminders

    sent = send_review_reminders()
    if sent:
        logger.info("Knowledge base: %d review reminder(s) sent.", sent)
    return sent
