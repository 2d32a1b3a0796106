"""The background worker really runs: a Celery worker process started with the project's
configuration takes a task from the configured broker (the embedded SQLite broker by default,
Redis in CI's PostgreSQL run) and returns its result."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tierdesk.common.tasks import ping

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def worker() -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.postgresql":
        # The worker must see the test database (pytest-django renamed it), not the main one.
        env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tierdesk.config",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield proc
    proc.terminate()
    proc.wait(timeout=30)


def test_worker_runs_a_task_from_the_broker(worker: subprocess.Popen[bytes]) -> None:
    result = ping.delay().get(timeout=90)
    assert result["status"] == "ok"
    expected = "postgresql" if "postgres" in settings.DATABASES["default"]["ENGINE"] else "sqlite"
    assert result["database"] == expected
    assert worker.poll() is None, "the worker died"


@pytest.mark.skipif(
    "sqlite" in settings.DATABASES["default"]["ENGINE"],
    reason="an in-memory SQLite test database is invisible to a worker process; CI runs this on "
    "PostgreSQL with Redis",
)
def test_worker_runs_the_sla_sweep(worker: subprocess.Popen[bytes], committed_world: Any) -> None:
    """The periodic SLA sweep, run by a real worker from the broker, escalates a ticket that has
    outstayed L1's time budget."""
    from datetime import timedelta

    from django.utils import timezone

    from tierdesk.sla.tasks import sweep
    from tierdesk.tickets.models import Ticket

    world = committed_world
    ticket = world.ticket()
    long_ago = timezone.now() - timedelta(days=7)  # a full working week on L1 in any calendar
    Ticket.objects.filter(pk=ticket.pk).update(
        created_at=long_ago, line_entered_at=long_ago, sla_next_check_at=timezone.now()
    )
    result = sweep.delay().get(timeout=90)
    assert result["escalated"] == 1, result
    assert Ticket.objects.get(pk=ticket.pk).current_line.code == "L2"
    assert worker.poll() is None, "the worker died"
