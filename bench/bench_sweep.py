"""The SLA sweep against a loaded benchmark database (issue 4's benchmark).

Marks ``--due`` random open tickets (off L1, whose time budget would escalate them through the
full escalation service: that cost is per escalation, not per sweep) as due for a look, then
times the sweep that finds and handles them, ``--repeat`` times per scenario, and prints how
PostgreSQL reads the due tickets. Two scenarios:

* ``one``: what a sweep meets day to day: each ticket has just missed its first response (the
  75 % warning fired at an earlier sweep): one breach per ticket;
* ``all``: the worst case, every ticket 30 days overdue under the default service level: both
  targets breached and both 75 % warnings fired at once (4 events per ticket).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tierdesk_bench \\
        .venv/bin/python bench/bench_sweep.py --due 1000 --repeat 5

Run it on a 100k-ticket and a 1M-ticket database to see that the time follows the number due,
not the number open (``bench/run.sh`` loads both; PG_DB and PG_TICKETS choose).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tierdesk.config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from tierdesk.sla.choices import TargetKind  # noqa: E402
from tierdesk.sla.models import EscalationFiring, EscalationRule, SlaPolicy  # noqa: E402
from tierdesk.sla.services import sweep_due_tickets  # noqa: E402
from tierdesk.tickets.choices import OPEN_STATUSES  # noqa: E402
from tierdesk.tickets.models import SupportLine, Ticket  # noqa: E402


def mark_due(count: int, policy_id: int, *, age: timedelta = timedelta(days=30)) -> list[int]:
    """Make ``count`` random open tickets off L1 due for a look, created ``age`` ago."""
    l1 = SupportLine.objects.get(code="L1").pk
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM tickets_ticket WHERE status = ANY(%s) AND current_line_id <> %s "
            "ORDER BY random() LIMIT %s",
            [sorted(OPEN_STATUSES), l1, count],
        )
        ids = [row[0] for row in cursor.fetchall()]
    now = timezone.now()
    Ticket.objects.filter(pk__in=ids).update(
        sla_policy_id=policy_id,
        response_sla="pending",
        resolution_sla="pending",
        first_response_at=None,
        sla_paused_since=None,
        sla_paused_seconds=0,
        created_at=now - age,
        line_entered_at=now - age,
        sla_next_check_at=now - timedelta(minutes=1),
    )
    return ids


def bench_policy() -> SlaPolicy:
    """A copy of the default service level on the 24/7 calendar, so "125 minutes ago" is exactly
    125 minutes of its clock."""
    from tierdesk.sla.models import BusinessCalendar, SlaTarget
    from tierdesk.sla.services import save_service_level

    policy = SlaPolicy.objects.filter(name="Benchmark 24/7").first()
    if policy is None:
        policy = SlaPolicy(name="Benchmark 24/7", calendar=BusinessCalendar.objects.get(is_24x7=True))
        save_service_level(policy, actor=None)
        for target in SlaTarget.objects.filter(policy__is_default=True):
            target.pk, target.policy = None, policy
            save_service_level(target, actor=None)
    return policy


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench_sweep.py measures PostgreSQL (set DATABASE_URL)")
    policy = SlaPolicy.objects.get(is_default=True)
    round_clock = bench_policy()
    open_count = Ticket.objects.filter(status__in=sorted(OPEN_STATUSES)).count()
    total = Ticket.objects.count()
    print(f"tickets: {total:,} ({open_count:,} open); due per sweep: {args.due:,}")
    # Only the tickets marked here are due (tickets created by the HTTP benchmark would
    # otherwise outstay L1's budget and be escalated, one service call each).
    Ticket.objects.filter(sla_next_check_at__isnull=False).update(sla_next_check_at=None)
    warm = mark_due(20, policy.pk)  # imports, the broker connection, the calendars' year tables
    sweep_due_tickets(limit=20)
    Ticket.objects.filter(pk__in=warm).update(sla_next_check_at=None)
    rule = EscalationRule.objects.get(policy=None, target=TargetKind.FIRST_RESPONSE, percent=75)
    for scenario in ("one", "all"):
        timings = []
        for run in range(args.repeat):
            if scenario == "one":
                # Medium priority: first response within 120 minutes, around the clock.
                ids = mark_due(args.due, round_clock.pk, age=timedelta(minutes=125))
                Ticket.objects.filter(pk__in=ids).update(priority=3)
                EscalationFiring.objects.bulk_create(
                    [EscalationFiring(ticket_id=pk, rule=rule) for pk in ids], ignore_conflicts=True
                )
            else:
                ids = mark_due(args.due, policy.pk)
            started = time.perf_counter()
            result = sweep_due_tickets(limit=args.due)
            elapsed = time.perf_counter() - started
            timings.append(elapsed)
            print(
                f"{scenario} run {run + 1}: {elapsed * 1000:7.1f} ms  checked {result.checked:,} "
                f"breaches {result.breaches:,} warnings {result.warnings:,} escalated {result.escalated:,}"
            )
            Ticket.objects.filter(pk__in=ids).update(sla_next_check_at=None)
        print(
            f"{scenario}: median {statistics.median(timings) * 1000:.1f} ms, "
            f"best {min(timings) * 1000:.1f} ms"
        )
    mark_due(args.due, policy.pk)
    with connection.cursor() as cursor:
        sql, params = (
            Ticket.objects.filter(sla_next_check_at__lte=timezone.now())
            .order_by("sla_next_check_at", "id")
            .values("id")[: args.due]
            .query.sql_with_params()
        )
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        print("\n".join(row[0] for row in cursor.fetchall()))
    Ticket.objects.filter(sla_next_check_at__isnull=False).update(sla_next_check_at=None)


if __name__ == "__main__":
    main()
