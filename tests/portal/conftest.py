"""Fixtures of the portal tests: a clean cache (the public forms' rate limit lives there), and
the portal's mails sent at once by the Celery task into Django's locmem outbox."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.core import mail
from django.core.cache import cache

from tierdesk.config.celery import app as celery_app


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _eager_tasks() -> Iterator[None]:
    """Tasks run in the test's process instead of going to a broker, errors raised."""
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved


def links_in(message: mail.EmailMessage) -> list[str]:
    """The http(s) links in a plain-text mail."""
    return re.findall(r"https?://\S+", str(message.body))


def path_of(link: str) -> str:
    """The path of an absolute link, for the test client."""
    return "/" + link.split("://", 1)[1].split("/", 1)[1]
