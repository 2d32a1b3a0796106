"""Background tasks shared by every app."""

from __future__ import annotations

from celery import shared_task
from django.db import connection


@shared_task(name="tierdesk.ping")
def ping() -> dict[str, str]:
    """Health check of the worker: proves it runs, reads settings and reaches the database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"status": "ok", "database": connection.vendor}
