"""Choices of the SLA app."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Weekday(models.IntegerChoices):
    """Days of the week as Python numbers them (``date.weekday()``: Monday 0)."""

    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class DateKind(models.TextChoices):
    """What a date an administrator adds to a calendar means."""

    HOLIDAY = "holiday", _("Day off")
    WORKING_DAY = "working_day", _("Working day")


class TargetKind(models.TextChoices):
    """The promises a service level makes for each priority."""

    FIRST_RESPONSE = "first_response", _("First response")
    RESOLUTION = "resolution", _("Resolution")
    NEXT_RESPONSE = "next_response", _("Next response")


class SlaState(models.TextChoices):
    """Where a ticket stands against one target ("" when its service level sets none)."""

    NONE = "", _("No target")
    PENDING = "pending", _("Running")
    MET = "met", _("Met")
    BREACHED = "breached", _("Breached")
    LATE = "late", _("Achieved late")


class EscalationAction(models.TextChoices):
    """What an escalation rule does when a ticket reaches its threshold."""

    NOTIFY_ASSIGNEE = "notify_assignee", _("Warn the assignee and the team lead")
    NOTIFY_USER = "notify_user", _("Notify a named person (a manager)")
    ESCALATE = "escalate", _("Escalate to the next line")


# The statuses the clock stops in unless a service level says otherwise.
DEFAULT_PAUSE_STATUSES = ("waiting_customer", "waiting_third_party")
