"""Mails of the customer portal, rendered in the reader's language and sent after the commit."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation

from tierdesk.portal.tasks import send_portal_mail


def queue_mail(*, to: str, template: str, context: dict[str, Any], language: str) -> None:
    """Render ``portal/mail/<template>_subject.txt`` and ``<template>.txt`` in ``language`` and
    have the worker send them once the current transaction commits: a rolled-back change mails
    nobody, and the request does not wait for the mail server."""
    with translation.override(language):
        # A header cannot hold a line break (Django would refuse the mail).
        subject = " ".join(render_to_string(f"portal/mail/{template}_subject.txt", context).split())
        body = render_to_string(f"portal/mail/{template}.txt", context).strip() + "\n"
    # robust: a broker that is down must not turn the committed registration into an error
    # page; the failure is logged and the person can ask for the link again.
    transaction.on_commit(partial(send_portal_mail.delay, to=to, subject=subject, body=body), robust=True)
