"""What the agent workspace keeps of its own: canned answers and saved queue views."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class CannedAnswer(models.Model):
    """A ready-made reply agents insert into the reply box ("Have you restarted it?").

    ``team`` empty means it is offered to everyone (managed by administrators); otherwise it is
    offered on that team's tickets and its team lead manages it. The body may contain the
    placeholders ``{{ requester.first_name }}``, ``{{ ticket.number }}`` and
    ``{{ agent.first_name }}``, replaced as plain text (never run as template code).
    """

    title = models.CharField(_("title"), max_length=100)
    body = models.TextField(_("text"))
    team = models.ForeignKey(
        "tickets.Team",
        verbose_name=_("team"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="canned_answers",
        help_text=_("Empty: offered to every agent."),
    )
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("canned answer")
        verbose_name_plural = _("canned answers")
        ordering = ["title", "id"]

    def __str__(self) -> str:
        return self.title

    def audit_snapshot(self) -> dict[str, object]:
        return {"title": self.title, "body": self.body, "team": self.team_id}


class SavedView(models.Model):
    """A queue an agent bookmarked: a name and the query string of its tab, filters and sort."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="saved_views"
    )
    name = models.CharField(_("name"), max_length=80)
    query = models.CharField(_("query"), max_length=1000, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="saved_view_unique_name")]

    def __str__(self) -> str:
        return self.name
