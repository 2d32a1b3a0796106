"""Background tasks of the customer portal: sending its mails (confirmation links, invitations),
forgetting account claims whose links expired."""

from __future__ import annotations

from celery import shared_task
from django.core.mail import send_mail


# OSError covers smtplib's errors and refused connections: the mail server may be back soon.
@shared_task(
    name="tierdesk.portal.send_mail",
    autoretry_for=(OSError,),
    retry_backoff=30,
    retry_backoff_max=3600,
    max_retries=8,
)
def send_portal_mail(to: str, subject: str, body: str) -> None:
    """Send one plain-text mail from ``DEFAULT_FROM_EMAIL`` (``TIERDESK_FROM_EMAIL``)."""
    send_mail(subject, body, None, [to])


@shared_task(name="tierdesk.portal.purge_claims")
def purge_claims() -> int:
    """Daily: forget the account claims whose links expired unconfirmed (see
    ``services.purge_expired_claims``)."""
    from tierdesk.portal.services import purge_expired_claims

    return purge_expired_claims()
