"""Deadline computations per second under a business calendar with holidays (in-process).

The calendar is the seeded default ("Standard business hours": Europe/Moscow, Monday to Friday
09:00-18:00, the Russian production calendar), compiled once as tierdesk.sla.selectors
.schedule_for would; no database is needed after that. The main figure is "8 business hours
from a random moment" (random instants over 2025-2026: nights, weekends, the New Year
holidays included). A few other shapes are measured for comparison.

    .venv/bin/python bench/bench_deadlines.py [--n 100000] [--repeat 5] [--seed 1]

Prints the machine and its load (the machine may be shared: load average at start and end),
then per scenario the median rate of the repetitions, by wall clock and by this process's CPU
time. The issue's target is >= 10,000 deadline computations per second.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tierdesk.sla.business_time import Schedule, always_open

UTC = dt.UTC
TARGET_PER_SECOND = 10_000


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (
        f"{platform.node()} | {cpu} | {os.cpu_count()} CPUs | {platform.system()} {platform.release()} | "
        f"Python {platform.python_version()} ({platform.python_implementation()})"
    )


def load() -> str:
    try:
        return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "load average unknown"


def standard_calendar() -> Schedule:
    return Schedule.build(
        time_zone="Europe/Moscow",
        weekly={weekday: [(dt.time(9), dt.time(18))] for weekday in range(5)},
        holiday_country="RU",
    )


def random_moments(rng: random.Random, n: int) -> list[dt.datetime]:
    first = dt.datetime(2025, 1, 1, tzinfo=UTC)
    span = int(dt.timedelta(days=730).total_seconds() * 1_000_000)
    return [first + dt.timedelta(microseconds=rng.randrange(span)) for _ in range(n)]


def measure(
    call: Callable[[dt.datetime], object], moments: list[dt.datetime], repeat: int
) -> tuple[float, float]:
    """Median rate (per second) over ``repeat`` passes: by wall clock and by process CPU time."""
    wall_rates, cpu_rates = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        for moment in moments:
            call(moment)
        wall_rates.append(len(moments) / (time.perf_counter() - wall))
        cpu_rates.append(len(moments) / max(time.process_time() - cpu, 1e-9))
    return statistics.median(wall_rates), statistics.median(cpu_rates)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="deadlines per pass")
    parser.add_argument("--repeat", type=int, default=5, help="passes per scenario (the median is shown)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    print(f"machine: {machine()}")
    print(f"start:   {load()}")
    schedule = standard_calendar()
    began = time.perf_counter()
    for year in (2025, 2026, 2027):  # compile the years the random moments reach (done once)
        schedule.add_business_minutes(dt.datetime(year, 6, 1, tzinfo=UTC), 1)
    print(f"compiling 3 calendar years (holidays included): {(time.perf_counter() - began) * 1000:.1f} ms")

    moments = random_moments(random.Random(args.seed), args.n)
    eight_hours = 8 * 60
    # The deadline must be right, not only fast: a sample is measured back.
    for moment in moments[:1000]:
        due = schedule.add_business_minutes(moment, eight_hours)
        assert schedule.business_minutes_between(moment, due) == eight_hours, moment

    around_the_clock = always_open("Europe/Moscow")
    scenarios: list[tuple[str, Callable[[dt.datetime], object]]] = [
        ("8 business hours from a random moment", lambda t: schedule.add_business_minutes(t, eight_hours)),
        ("1 business hour (response target)", lambda t: schedule.add_business_minutes(t, 60)),
        ("40 business hours (a working week)", lambda t: schedule.add_business_minutes(t, 40 * 60)),
        ("2,000 business hours (about a year)", lambda t: schedule.add_business_minutes(t, 2000 * 60)),
        (
            "business minutes between t and t + 3 days",
            lambda t: schedule.business_minutes_between(t, t + dt.timedelta(days=3)),
        ),
        ("8 hours on a 24/7 calendar", lambda t: around_the_clock.add_business_minutes(t, eight_hours)),
    ]
    print(f"{args.n:,} deadlines per pass, median of {args.repeat} passes")
    print(f"{'scenario':45} {'per second (wall)':>18} {'per second (CPU)':>18}")
    results = {}
    for name, call in scenarios:
        wall_rate, cpu_rate = measure(call, moments, args.repeat)
        results[name] = wall_rate
        print(f"{name:45} {wall_rate:18,.0f} {cpu_rate:18,.0f}")
    print(f"end:     {load()}")
    main_rate = results[scenarios[0][0]]
    verdict = "meets" if main_rate >= TARGET_PER_SECOND else "MISSES"
    print(
        f"result: {main_rate:,.0f} deadlines/s (8 business hours, RU calendar) "
        f"{verdict} the {TARGET_PER_SECOND:,}/s target"
    )
    return 0 if main_rate >= TARGET_PER_SECOND else 1


if __name__ == "__main__":
    sys.exit(main())
