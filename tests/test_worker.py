"""The background worker really runs: a Celery worker process started with the project's
configuration takes a task from the configured broker (the embedded SQLite broker by default,
Redis in CI's PostgreSQL run) and returns its result."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tierdesk.common.tasks import ping

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def worker() -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
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
