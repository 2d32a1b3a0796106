"""Choices of the knowledge base: kinds of article, who may read them, where they are in review."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class ArticleKind(models.TextChoices):
    """The four kinds of knowledge a support organisation keeps.

    * ``operational``: operational documentation of an IT service or configuration item and
      its settings (what it is, where it runs, how it is set up) — written by L2/L3 for L1;
    * ``known_problem``: a known problem and its solution (FAQ, troubleshooting) — most often
      born from a solved ticket, and what customers find when they help themselves;
    * ``standard``: technical standards and regulations, kept as wiki pages cross-linked with
      ``[[Page title]]``;
    * ``setup``: step-by-step setup articles (connect a printer, configure VPN).
    """

    OPERATIONAL = "operational", _("Operational documentation")
    KNOWN_PROBLEM = "known_problem", _("Known problem and solution")
    STANDARD = "standard", _("Technical standard or regulation")
    SETUP = "setup", _("Setup article")


class Visibility(models.TextChoices):
    """Who may read a published article."""

    INTERNAL = "internal", _("Internal (agents)")
    CUSTOMERS = "customers", _("All customers")
    ORGANISATIONS = "organisations", _("Customers of chosen organisations")


class ArticleStatus(models.TextChoices):
    """Where an article is in its life: draft → in review → published → archived."""

    DRAFT = "draft", _("Draft")
    REVIEW = "review", _("In review")
    PUBLISHED = "published", _("Published")
    ARCHIVED = "archived", _("Archived")


# The moves the moderation service allows (``kb.services.change_status``). Publishing from a
# draft directly is allowed only for kinds that need no second pair of eyes.
STATUS_TRANSITIONS: dict[str, frozenset[str]] = {
    ArticleStatus.DRAFT: frozenset({ArticleStatus.REVIEW, ArticleStatus.PUBLISHED, ArticleStatus.ARCHIVED}),
    ArticleStatus.REVIEW: frozenset({ArticleStatus.DRAFT, ArticleStatus.PUBLISHED, ArticleStatus.ARCHIVED}),
    ArticleStatus.PUBLISHED: frozenset({ArticleStatus.DRAFT, ArticleStatus.ARCHIVED}),
    ArticleStatus.ARCHIVED: frozenset({ArticleStatus.DRAFT}),
}

# Kinds whose publication needs a reviewer other than the author: instructions customers
# follow step by step and rules everyone must keep are checked by a second person.
REVIEW_REQUIRED: frozenset[str] = frozenset({ArticleKind.SETUP, ArticleKind.STANDARD})

# How long an article stays trusted before its owner must look at it again (days).
REVIEW_PERIOD_DAYS: dict[str, int] = {
    ArticleKind.OPERATIONAL: 365,
    ArticleKind.KNOWN_PROBLEM: 730,
    ArticleKind.STANDARD: 365,
    ArticleKind.SETUP: 365,
}
