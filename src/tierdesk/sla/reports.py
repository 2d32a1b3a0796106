"""SLA compliance reports: how often the desk kept its promises in a period (reads only).

A report counts ``SlaOutcome`` rows — one verdict per ticket, target and cycle, recorded once
and never changed — whose verdict was recorded in the period, grouped by the organisation,
service level, support line or priority the ticket had when the verdict was taken. For each
group and target it gives how many verdicts there were, how many were met and breached, the
share met, and the average and 90th percentile business time it took to achieve the target.

Example: in June, Alpha Ltd had 40 first responses due; 38 were met (95.0 %), they took 31.5
business minutes on average, and 90 % of them came within 55 minutes.

Times are business time under the ticket's service level (the clock's own count, pauses
excluded), over the verdicts that were achieved: a target breached and never achieved has no
time yet, it counts as breached but not in the averages.

Who sees what: administrators every organisation; agents the organisations their teams serve
(on any line: compliance is the organisation's, not the line's); an organisation manager his
own organisation; anyone else nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.models import Avg, Count, F, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from tierdesk.common.errors import DomainError
from tierdesk.sla.choices import TargetKind
from tierdesk.sla.models import SlaOutcome, reported_organisations
from tierdesk.tickets.choices import Priority

if TYPE_CHECKING:
    from tierdesk.accounts.models import User

# One report covers at most a (leap) year: its cost grows with the verdicts in the period.
MAX_PERIOD_DAYS = 366
# Dates outside these are typing errors, and far enough from date.min/max that the period's
# bounds never overflow in any time zone.
EARLIEST_DAY = dt.date(2000, 1, 1)
LATEST_DAY = dt.date(2999, 12, 31)
# The percentile the reports give: "90 % of the targets were achieved within this time".
PERCENTILE = 90


class GroupBy(models.TextChoices):
    """What a compliance report's rows are."""

    ORGANISATION = "organisation", gettext_lazy("Organisation")
    POLICY = "policy", gettext_lazy("Service level")
    LINE = "line", gettext_lazy("Support line")
    PRIORITY = "priority", gettext_lazy("Priority")


@dataclass(frozen=True)
class Period:
    """Whole days ``first_day`` to ``last_day`` (both included) in the desk's time zone, and the
    half-open moments [``start``, ``end``) they cover."""

    first_day: dt.date
    last_day: dt.date
    start: dt.datetime
    end: dt.datetime

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


def period(first_day: dt.date, last_day: dt.date) -> Period:
    """The period from ``first_day`` to ``last_day`` inclusive, from midnight to midnight in
    the current time zone (the installation's ``TIME_ZONE``), checked: the end not before the
    start, at most ``MAX_PERIOD_DAYS`` days, dates between 2000 and 2999.

    Raises ``DomainError`` with the field to fix.
    """
    for name, day in (("start", first_day), ("end", last_day)):
        if not EARLIEST_DAY <= day <= LATEST_DAY:
            raise DomainError(
                _("%(date)s is outside the dates reports cover (%(earliest)s to %(latest)s).")
                % {"date": day.isoformat(), "earliest": EARLIEST_DAY, "latest": LATEST_DAY},
                field=name,
                code="invalid_date",
            )
    if last_day < first_day:
        raise DomainError(
            _("The end date %(end)s is before the start date %(start)s.")
            % {"end": last_day.isoformat(), "start": first_day.isoformat()},
            field="end",
            code="invalid_period",
        )
    days = (last_day - first_day).days + 1
    if days > MAX_PERIOD_DAYS:
        raise DomainError(
            ngettext(
                "The period is %(days)d day long; a report covers at most %(limit)d days.",
                "The period is %(days)d days long; a report covers at most %(limit)d days.",
                days,
            )
            % {"days": days, "limit": MAX_PERIOD_DAYS},
            field="end",
            code="period_too_long",
        )
    zone = timezone.get_current_timezone()
    return Period(
        first_day=first_day,
        last_day=last_day,
        start=dt.datetime.combine(first_day, dt.time(0), tzinfo=zone),
        end=dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(0), tzinfo=zone),
    )


# --- Who sees which organisations' numbers ---------------------------------------------------


def may_report_on(user: User | None, organisation_id: int) -> bool:
    """Whether ``user`` may read the compliance of this organisation (and it exists)."""
    from tierdesk.orgs.models import Organisation

    scope = reported_organisations(user)
    if scope is not None and organisation_id not in scope:
        return False
    return Organisation.objects.filter(pk=organisation_id).exists()


# --- The report -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ComplianceRow:
    """One group's record against one target in the period."""

    group_id: int
    group: str
    target: str
    count: int  # verdicts recorded
    met: int
    breached: int
    measured: int  # verdicts with the business time they took (achieved, even if late)
    average_seconds: float | None
    p90_seconds: int | None

    @property
    def target_label(self) -> str:
        return str(TargetKind(self.target).label)

    @property
    def percent_met(self) -> float:
        return round(100 * self.met / self.count, 1) if self.count else 0.0

    @property
    def average_minutes(self) -> float | None:
        return None if self.average_seconds is None else round(self.average_seconds / 60, 1)

    @property
    def p90_minutes(self) -> float | None:
        return None if self.p90_seconds is None else round(self.p90_seconds / 60, 1)


@dataclass(frozen=True)
class _Group:
    key: str  # the SlaOutcome column the rows are grouped by
    extra: tuple[str, ...]  # columns of the group's label, read in the same query
    label: Callable[[dict[str, Any]], str]
    order: Callable[[dict[str, Any]], Any]


_GROUPS: dict[str, _Group] = {
    GroupBy.ORGANISATION: _Group(
        "organisation_id",
        ("organisation__name",),
        lambda r: r["organisation__name"],
        lambda r: r["organisation__name"].casefold(),
    ),
    GroupBy.POLICY: _Group(
        "policy_id", ("policy__name",), lambda r: r["policy__name"], lambda r: r["policy__name"].casefold()
    ),
    GroupBy.LINE: _Group(
        "line_id",
        ("line__level", "line__code", "line__name"),
        lambda r: f"{r['line__code']} {r['line__name']}",
        lambda r: r["line__level"],
    ),
    GroupBy.PRIORITY: _Group(
        "priority", (), lambda r: str(Priority(r["priority"]).label), lambda r: r["priority"]
    ),
}
_TARGET_ORDER = {kind: index for index, kind in enumerate(TargetKind.values)}


def compliance(
    user: User | None,
    *,
    start: dt.datetime,
    end: dt.datetime,
    group_by: str,
    target: str | None = None,
    organisation: int | None = None,
) -> list[ComplianceRow]:
    """SLA compliance of the verdicts recorded in [``start``, ``end``) that ``user`` may see,
    one row per group and target (only ``target``'s rows if given), optionally of one
    ``organisation`` (by id; one the user may not see gives no rows). Rows come in the
    group's natural order (names, line levels, priorities from critical), targets in the
    order first response, resolution, next response.

    Two queries whatever the number of verdicts: the counts and averages grouped in the
    database, and the 90th percentiles (see :func:`_percentiles`).

    Raises ``DomainError`` for an unknown group or target or a period longer than a year.
    """
    group = _GROUPS.get(group_by)
    if group is None:
        raise DomainError(
            _("Unknown grouping %(value)s: use one of %(choices)s.")
            % {"value": group_by, "choices": ", ".join(GroupBy.values)},
            field="group_by",
        )
    if target is not None and target not in TargetKind.values:
        raise DomainError(
            _("Unknown target %(value)s: use one of %(choices)s.")
            % {"value": target, "choices": ", ".join(TargetKind.values)},
            field="target",
        )
    # A day of slack over the longest period: the bounds are midnights of a zone with DST.
    if not start < end <= start + dt.timedelta(days=MAX_PERIOD_DAYS + 1):
        raise DomainError(
            _("A report covers from one to %(limit)d days.") % {"limit": MAX_PERIOD_DAYS},
            field="end",
            code="invalid_period",
        )
    outcomes = SlaOutcome.objects.restrict(user).filter(recorded_at__gte=start, recorded_at__lt=end)
    if target is not None:
        outcomes = outcomes.filter(target=target)
    if organisation is not None:
        outcomes = outcomes.filter(organisation_id=organisation)
    totals = list(
        outcomes.order_by()
        .values(group.key, *group.extra, "target")
        .annotate(
            total=Count("id"),
            met=Count("id", filter=Q(breached=False)),
            measured=Count("business_seconds"),
            average=Avg("business_seconds"),
        )
    )
    if not totals:
        return []
    percentiles = _percentiles(outcomes, group.key)
    totals.sort(key=lambda r: (group.order(r), r[group.key], _TARGET_ORDER[r["target"]]))
    return [
        ComplianceRow(
            group_id=r[group.key],
            group=group.label(r),
            target=r["target"],
            count=r["total"],
            met=r["met"],
            breached=r["total"] - r["met"],
            measured=r["measured"],
            average_seconds=None if r["average"] is None else float(r["average"]),
            p90_seconds=percentiles.get((r[group.key], r["target"])),
        )
        for r in totals
    ]


def _percentiles(outcomes: QuerySet[SlaOutcome], key: str) -> dict[tuple[int, str], int]:
    """The 90th percentile of the business time per group and target, by nearest rank: the
    time within which 90 % of the achieved targets were achieved, which is always a time one
    of them actually took (of 10 times, the 9th shortest; of 5, the 5th; of 20, the 18th).

    Ranked in the database with window functions, which SQLite (3.25+) and PostgreSQL both
    have: each group's times are numbered in order and only the row at rank ceil(0.9 n) comes
    back, one row per group, however many verdicts there are. PostgreSQL's PERCENTILE_CONT
    would interpolate between two times instead, but SQLite has no such aggregate, and
    fetching every time to rank it in Python would move a year's verdicts over the wire.
    """
    partition = [F(key), F("target")]
    ranked = (
        outcomes.filter(business_seconds__isnull=False)
        .order_by()
        .annotate(
            rank=Window(RowNumber(), partition_by=partition, order_by=[F("business_seconds").asc()]),
            measured=Window(Count("id"), partition_by=partition),
        )
        # ceil(90 n / 100) in integer arithmetic (both databases divide integers exactly so).
        .filter(rank=(F("measured") * PERCENTILE + 99) / 100)
        .values_list(key, "target", "business_seconds")
    )
    return {(group_id, kind): seconds for group_id, kind, seconds in ranked}


# --- The table as people read it (page, CSV, XLSX) ---------------------------------------------


def table_header(group_by: str) -> list[str]:
    """Column titles of a report's table, in the current language."""
    return [
        str(GroupBy(group_by).label),
        _("Target"),
        _("Verdicts"),
        _("Met"),
        _("Breached"),
        _("Met, %"),
        _("Average, business minutes"),
        _("90th percentile, business minutes"),
    ]


def table_rows(rows: Iterable[ComplianceRow]) -> list[list[str | int | float | None]]:
    """The report's rows as table cells, under :func:`table_header`'s titles (``None``: no
    target achieved yet, so no time to show)."""
    return [
        [
            row.group,
            row.target_label,
            row.count,
            row.met,
            row.breached,
            row.percent_met,
            row.average_minutes,
            row.p90_minutes,
        ]
        for row in rows
    ]
