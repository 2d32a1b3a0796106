"""Fixtures of the SLA tests: compiled schedules without a database, and fresh caches."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from tierdesk.sla import selectors
from tierdesk.sla.business_time import Schedule

NINE, SIX_PM = dt.time(9), dt.time(18)


@pytest.fixture(autouse=True)
def _fresh_schedules() -> Iterator[None]:
    """A schedule compiled from the previous test's rolled-back rows must not leak into the next."""
    selectors.forget_schedules()
    yield
    selectors.forget_schedules()


@pytest.fixture(scope="session")
def moscow() -> Schedule:
    """The seeded default: Europe/Moscow, Monday to Friday 09:00-18:00, the Russian calendar."""
    return Schedule.build(
        time_zone="Europe/Moscow",
        weekly={weekday: [(NINE, SIX_PM)] for weekday in range(5)},
        holiday_country="RU",
    )
