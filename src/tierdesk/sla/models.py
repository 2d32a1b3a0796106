"""Business calendars: when the desk works, in which time zone, and which dates are different."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

import holidays
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tierdesk.sla.choices import DEFAULT_PAUSE_STATUSES, DateKind, EscalationAction, TargetKind, Weekday
from tierdesk.tickets.choices import Priority, TicketType

MIDNIGHT = dt.time(0)


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


@lru_cache(maxsize=1)
def _holiday_countries() -> dict[str, list[str]]:
    return holidays.list_supported_countries()


def validate_time_zone(value: str) -> None:
    """An IANA time zone name zoneinfo knows, such as ``Europe/Moscow``."""
    if value not in _time_zones():
        raise ValidationError(
            _("Unknown time zone %(value)s: use an IANA name such as Europe/Moscow."),
            code="invalid_time_zone",
            params={"value": value},
        )


def validate_holiday_country(value: str) -> None:
    """A country code the `holidays` package has a calendar for, such as ``RU`` (any case:
    ``BusinessCalendar.clean`` stores it upper-case)."""
    if value and value.strip().upper() not in _holiday_countries():
        raise ValidationError(
            _("No public holiday calendar is known for %(value)s: use an ISO country code such as RU."),
            code="invalid_country",
            params={"value": value},
        )


def default_time_zone() -> str:
    """New calendars start in the installation's time zone (read when a calendar is created)."""
    return str(settings.TIME_ZONE)


def interval_is_valid(start: dt.time, end: dt.time) -> bool:
    """Whether ``start``-``end`` is a working interval; an end of 00:00 is midnight at the end of
    the day (so 00:00-00:00 is the whole day)."""
    return end == MIDNIGHT or start < end


class BusinessCalendar(models.Model):
    """When the desk is at work, against which SLA deadlines run.

    A calendar has working hours per weekday in its own time zone (several intervals a day for
    a lunch break), and days that differ: a country's public holidays and transferred working
    days from the `holidays` package (the Russian production calendar: 2025-11-01, a Saturday,
    is worked and 2025-11-03 and -04 are off), plus dates administrators add, which win over
    the package. A 24/7 calendar counts every minute and ignores all of that.

    Example: "Standard business hours" — Europe/Moscow, Monday to Friday 09:00-18:00, RU
    holidays. A ticket opened on Friday at 17:30 with a 1-hour response target is due on
    Monday at 09:30.

    One active calendar may be the default, used where a policy names none.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        default=default_time_zone,
        validators=[validate_time_zone],
        help_text=_("IANA name, such as Europe/Moscow. Working hours are wall-clock times in this zone."),
    )
    is_24x7 = models.BooleanField(
        _("24/7"),
        default=False,
        help_text=_("Every minute is working time; working hours, holidays and dates are ignored."),
    )
    holiday_country = models.CharField(
        _("public holidays of"),
        max_length=3,
        blank=True,
        validators=[validate_holiday_country],
        help_text=_(
            "Country code (RU, DE, ...) whose public holidays and transferred working days apply. "
            "Empty: only the dates added below."
        ),
    )
    holiday_subdivision = models.CharField(
        _("region"),
        max_length=10,
        blank=True,
        help_text=_("Optional region code for regional holidays (for example BY for Bavaria in DE)."),
    )
    is_default = models.BooleanField(
        _("default"), default=False, help_text=_("Used where a service level names no calendar.")
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("business calendar")
        verbose_name_plural = _("business calendars")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="sla_one_default_calendar"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        self.holiday_country = self.holiday_country.strip().upper()
        self.holiday_subdivision = self.holiday_subdivision.strip().upper()
        if self.holiday_subdivision:
            regions = _holiday_countries().get(self.holiday_country)
            if not self.holiday_country:
                raise ValidationError(
                    {"holiday_subdivision": gettext("A region needs the country it belongs to.")}
                )
            if regions is not None and self.holiday_subdivision not in regions:
                raise ValidationError(
                    {
                        "holiday_subdivision": gettext("%(country)s has no region %(region)s.")
                        % {"country": self.holiday_country, "region": self.holiday_subdivision}
                    }
                )
        if self.is_default and not self.is_active:
            raise ValidationError({"is_active": gettext("The default calendar must be active.")})

    def audit_snapshot(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "time_zone": self.time_zone,
            "is_24x7": self.is_24x7,
            "holiday_country": self.holiday_country,
            "holiday_subdivision": self.holiday_subdivision,
            "is_default": self.is_default,
            "is_active": self.is_active,
        }


class WorkingHours(models.Model):
    """One working interval of a weekday in a calendar, in the calendar's wall-clock time.

    A day may have several (09:00-13:00 and 14:00-18:00 around lunch); they must not overlap.
    An end of 00:00 means midnight at the end of the day, so a night shift is 20:00-00:00 on
    one day and 00:00-08:00 on the next. A weekday without intervals is a day off.
    """

    calendar = models.ForeignKey(
        BusinessCalendar, verbose_name=_("calendar"), on_delete=models.CASCADE, related_name="working_hours"
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    start = models.TimeField(_("from"))
    end = models.TimeField(_("until"), help_text=_("00:00 means midnight at the end of the day."))

    class Meta:
        verbose_name = _("working hours")
        verbose_name_plural = _("working hours")
        ordering = ["weekday", "start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(start__lt=F("end")) | Q(end=MIDNIGHT), name="sla_hours_end_after_start"
            ),
            models.UniqueConstraint(fields=["calendar", "weekday", "start"], name="sla_hours_unique_start"),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start:%H:%M}-{self.end:%H:%M}"

    def clean(self) -> None:
        if self.start is not None and self.end is not None and not interval_is_valid(self.start, self.end):
            raise ValidationError({"end": gettext("The interval must end after it starts.")})


def validate_working_hours(intervals: Iterable[tuple[int, dt.time, dt.time]]) -> None:
    """Refuse a week of (weekday, start, end) intervals with a bad or overlapping interval."""
    by_day: dict[int, list[tuple[dt.time, dt.time]]] = {}
    for weekday, start, end in intervals:
        if weekday not in Weekday.values:
            raise ValidationError(gettext("Unknown weekday %(day)s.") % {"day": weekday})
        if not interval_is_valid(start, end):
            raise ValidationError(
                gettext("%(day)s: %(start)s-%(end)s must end after it starts.")
                % {"day": Weekday(weekday).label, "start": f"{start:%H:%M}", "end": f"{end:%H:%M}"}
            )
        by_day.setdefault(weekday, []).append((start, end))
    for weekday, day in sorted(by_day.items()):
        day.sort()
        for (_start, end), (next_start, _end) in itertools.pairwise(day):
            if end == MIDNIGHT or next_start < end:
                raise ValidationError(
                    gettext("%(day)s: working intervals overlap at %(time)s.")
                    % {"day": Weekday(weekday).label, "time": f"{next_start:%H:%M}"}
                )


class CalendarDate(models.Model):
    """A date on which a calendar differs from its week, added by an administrator.

    * ``holiday``: no work that day (a company holiday, or a public holiday the package lacks);
    * ``working_day``: the day is worked even if it is a weekend or a public holiday (a
      transferred working Saturday). Without hours it works the weekday's usual hours (the
      calendar's ordinary working day for a weekend). With ``start`` and/or ``end`` the day
      begins or ends then instead — a shortened pre-holiday day is "until 17:00" — while the
      usual breaks (lunch) still apply.

    An added date always wins over the country's calendar from the `holidays` package.
    """

    calendar = models.ForeignKey(
        BusinessCalendar, verbose_name=_("calendar"), on_delete=models.CASCADE, related_name="dates"
    )
    date = models.DateField(_("date"))
    kind = models.CharField(_("kind"), max_length=16, choices=DateKind.choices)
    start = models.TimeField(
        _("work starts"), null=True, blank=True, help_text=_("Working days only; empty: as usual.")
    )
    end = models.TimeField(
        _("work ends"),
        null=True,
        blank=True,
        help_text=_("Working days only; empty: as usual. 00:00 means midnight."),
    )
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("calendar date")
        verbose_name_plural = _("calendar dates")
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["calendar", "date"], name="sla_calendar_date_unique")]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.get_kind_display()}"

    def clean(self) -> None:
        if self.kind == DateKind.HOLIDAY and (self.start is not None or self.end is not None):
            raise ValidationError(gettext("A day off has no working hours; leave the times empty."))
        if self.start is not None and self.end is not None and not interval_is_valid(self.start, self.end):
            raise ValidationError({"end": gettext("Work must end after it starts.")})

    def audit_snapshot(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "kind": self.kind,
            "start": None if self.start is None else f"{self.start:%H:%M}",
            "end": None if self.end is None else f"{self.end:%H:%M}",
            "note": self.note,
        }


def default_pause_statuses() -> list[str]:
    return list(DEFAULT_PAUSE_STATUSES)


# --- Service levels ----------------------------------------------------------------------------


class SlaPolicy(models.Model):
    """A service level: what the desk promises a client (its contract) for each priority.

    Targets (``SlaTarget``) give, per priority, the business minutes allowed for the first
    response, the resolution and, optionally, the answer to each later reply of the customer.
    Time counts on the policy's calendar (or the default one); the clock stops while a ticket
    waits in one of ``pause_statuses`` (the customer or a third party, by default) and while it
    sits on one of ``excluded_lines`` (L4, the vendor, by default). Organisations get a policy
    through ``ServiceAgreement`` rows; tickets of others fall under the default policy.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    calendar = models.ForeignKey(
        BusinessCalendar,
        verbose_name=_("calendar"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="policies",
        help_text=_("Empty: the default calendar."),
    )
    pause_statuses = models.JSONField(
        _("clock stops in"),
        default=default_pause_statuses,
        blank=True,
        help_text=_("Statuses in which the clock stands still, e.g. waiting for the customer."),
    )
    excluded_lines = models.ManyToManyField(
        "tickets.SupportLine",
        verbose_name=_("lines outside the SLA"),
        blank=True,
        related_name="+",
        help_text=_("While a ticket is on one of these lines, its clock stands still."),
    )
    is_default = models.BooleanField(_("default"), default=False)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("service level")
        verbose_name_plural = _("service levels")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="sla_one_default_policy"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from tierdesk.tickets.choices import Status

        statuses = self.pause_statuses or []
        if not isinstance(statuses, list) or any(s not in Status.values for s in statuses):
            raise ValidationError(
                {"pause_statuses": _("List statuses by their codes, e.g. waiting_customer.")}
            )
        if self.is_default and not self.is_active:
            raise ValidationError({"is_default": _("The default service level must be active.")})

    def audit_snapshot(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "calendar": self.calendar_id,
            "pause_statuses": list(self.pause_statuses or []),
            "is_default": self.is_default,
            "is_active": self.is_active,
        }


class SlaTarget(models.Model):
    """A policy's promise for one priority, in business minutes of the policy's calendar."""

    policy = models.ForeignKey(
        SlaPolicy, verbose_name=_("service level"), on_delete=models.CASCADE, related_name="targets"
    )
    priority = models.PositiveSmallIntegerField(_("priority"), choices=Priority.choices)
    first_response_minutes = models.PositiveIntegerField(_("first response (minutes)"), null=True, blank=True)
    resolution_minutes = models.PositiveIntegerField(_("resolution (minutes)"), null=True, blank=True)
    next_response_minutes = models.PositiveIntegerField(
        _("next response (minutes)"),
        null=True,
        blank=True,
        help_text=_("Answer each later reply of the customer within this time; empty: no such target."),
    )

    class Meta:
        verbose_name = _("SLA target")
        verbose_name_plural = _("SLA targets")
        ordering = ["policy", "priority"]
        constraints = [models.UniqueConstraint(fields=["policy", "priority"], name="sla_target_per_priority")]

    def __str__(self) -> str:
        return f"{self.policy} / {self.get_priority_display()}"


class ServiceAgreement(models.Model):
    """Which service level applies to an organisation's tickets (its contract), optionally only
    for one category (service) or ticket type. The most specific matching row wins: category
    and type, then category, then type, then the organisation alone; no row, the default policy."""

    organisation = models.ForeignKey(
        "orgs.Organisation",
        verbose_name=_("organisation"),
        on_delete=models.CASCADE,
        related_name="agreements",
    )
    category = models.ForeignKey(
        "tickets.Category",
        verbose_name=_("category"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    ticket_type = models.CharField(_("ticket type"), max_length=16, choices=TicketType.choices, blank=True)
    policy = models.ForeignKey(
        SlaPolicy, verbose_name=_("service level"), on_delete=models.PROTECT, related_name="agreements"
    )

    class Meta:
        verbose_name = _("service agreement")
        verbose_name_plural = _("service agreements")
        # NULL categories are distinct to the database; services.save_agreement refuses a
        # second row for the same organisation, category and type.
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "category", "ticket_type"],
                name="sla_agreement_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.organisation} → {self.policy}"


class EscalationRule(models.Model):
    """What happens when a ticket has used ``percent`` of a target: warn the assignee and his
    team lead (e.g. at 75 %), notify a named manager (at 100 %: the breach), or escalate the
    ticket to the next line. Each rule fires once per ticket and target (and per customer reply
    for next-response targets). Rules without a policy apply to every policy."""

    policy = models.ForeignKey(
        SlaPolicy,
        verbose_name=_("service level"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="rules",
        help_text=_("Empty: every service level."),
    )
    target = models.CharField(_("target"), max_length=16, choices=TargetKind.choices)
    percent = models.PositiveSmallIntegerField(
        _("threshold, percent of the target"), validators=[MinValueValidator(1), MaxValueValidator(1000)]
    )
    action = models.CharField(_("action"), max_length=16, choices=EscalationAction.choices)
    notify = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("person to notify"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("escalation rule")
        verbose_name_plural = _("escalation rules")
        ordering = ["target", "percent", "id"]

    def __str__(self) -> str:
        return f"{self.get_target_display()} {self.percent}%: {self.get_action_display()}"

    def clean(self) -> None:
        if self.action == EscalationAction.NOTIFY_USER and self.notify_id is None:
            raise ValidationError({"notify": _("Name the person to notify.")})

    def audit_snapshot(self) -> dict[str, Any]:
        return {
            "policy": self.policy_id,
            "target": self.target,
            "percent": self.percent,
            "action": self.action,
            "notify": self.notify_id,
            "is_active": self.is_active,
        }


class EscalationFiring(models.Model):
    """A rule that has fired for a ticket: the unique key makes every rule fire once per ticket
    and target cycle, however many workers sweep at the same time."""

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    rule = models.ForeignKey(EscalationRule, on_delete=models.CASCADE, related_name="firings")
    cycle = models.PositiveIntegerField(default=0)
    fired_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("escalation fired")
        verbose_name_plural = _("escalations fired")
        constraints = [models.UniqueConstraint(fields=["ticket", "rule", "cycle"], name="sla_firing_once")]

    def __str__(self) -> str:
        return f"{self.rule} @ {self.ticket_id}"


def reported_organisations(user: Any) -> frozenset[int] | None:
    """Ids of the organisations whose SLA compliance ``user`` may read; ``None``: all of them.
    Administrators every organisation; agents those their teams serve (on any line:
    compliance is the organisation's, not the line's); an organisation manager his own; anyone
    else none."""
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    if user.is_admin:
        return None
    if user.is_agent:
        from tierdesk.tickets.selectors import agent_scope  # tickets' selectors read SLA models

        scope = agent_scope(user)
        return None if scope.all_organisations else scope.organisation_ids
    if user.is_org_manager and user.organisation_id is not None:
        return frozenset({user.organisation_id})
    return frozenset()


class SlaOutcomeQuerySet(models.QuerySet["SlaOutcome"]):
    def restrict(self, user: Any, action: str = "view") -> SlaOutcomeQuerySet:
        """The verdicts ``user`` may count: those of ``reported_organisations(user)``."""
        scope = reported_organisations(user)
        if scope is None:
            return self
        if not scope:
            return self.none()
        return self.filter(organisation_id__in=sorted(scope))


class SlaOutcome(models.Model):
    """A target's verdict for one ticket, recorded once and never changed: met or breached, with
    the deadline, when it was achieved and the business time it took. SLA compliance reports
    read these rows (per organisation, policy, line and priority as they were at the time)."""

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="sla_outcomes")
    target = models.CharField(_("target"), max_length=16, choices=TargetKind.choices)
    cycle = models.PositiveIntegerField(default=0)
    policy = models.ForeignKey(
        SlaPolicy, verbose_name=_("service level"), on_delete=models.PROTECT, related_name="+"
    )
    # Indexed with recorded_at below: an agent's or manager's report reads his organisations'
    # verdicts of a period.
    organisation = models.ForeignKey(
        "orgs.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    line = models.ForeignKey("tickets.SupportLine", on_delete=models.PROTECT, related_name="+")
    priority = models.PositiveSmallIntegerField(_("priority"), choices=Priority.choices)
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    achieved_at = models.DateTimeField(_("achieved at"), null=True, blank=True)
    breached = models.BooleanField(_("breached"))
    business_seconds = models.PositiveIntegerField(_("business time taken (s)"), null=True, blank=True)
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    objects = SlaOutcomeQuerySet.as_manager()

    class Meta:
        verbose_name = _("SLA outcome")
        verbose_name_plural = _("SLA outcomes")
        constraints = [models.UniqueConstraint(fields=["ticket", "target", "cycle"], name="sla_outcome_once")]
        indexes = [
            models.Index(fields=["recorded_at"], name="sla_outcome_recorded_idx"),
            models.Index(fields=["organisation", "recorded_at"], name="sla_outcome_org_recorded_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.target}: {'breached' if self.breached else 'met'}"
