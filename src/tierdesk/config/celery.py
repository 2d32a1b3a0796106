"""The Celery application: the background worker for SLA timers, mail, notifications, imports.

Configuration comes from Django settings with the ``CELERY_`` prefix; in the embedded mode the
broker is a SQLite file (kombu's SQLAlchemy transport), in production Redis or RabbitMQ.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tierdesk.config.settings")

app = Celery("tierdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
