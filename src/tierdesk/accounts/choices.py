"""Roles of people in Tierdesk."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    """What a person is to the service desk.

    * ``admin``: configures the desk (lines, teams, matrix, SLAs) and sees everything.
    * ``agent``: provider staff working tickets; belongs to one or more teams, each on one
      support line and serving a set of client organisations.
    * ``customer``: a contact of a client organisation; sees his own tickets, or all of his
      organisation's when he is its manager.
    """

    ADMIN = "admin", _("Administrator")
    AGENT = "agent", _("Agent")
    CUSTOMER = "customer", _("Customer contact")


class Language(models.TextChoices):
    EN = "en", _("English")
    RU = "ru", _("Russian")
