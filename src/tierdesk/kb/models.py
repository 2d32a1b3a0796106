"""The knowledge base: articles, their versions, links, files, feedback and ties to tickets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tierdesk.accounts.choices import Language
from tierdesk.kb.choices import ArticleKind, ArticleStatus, Visibility

if TYPE_CHECKING:
    from tierdesk.accounts.models import User


class Tag(models.Model):
    """A short label articles share ("vpn", "принтер"), searched with the text and used as a filter."""

    name = models.CharField(_("name"), max_length=60, unique=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ArticleQuerySet(models.QuerySet["Article"]):
    def restrict(self, user: User | None, action: str = "view") -> Self:
        """Articles ``user`` may read ("view") or edit ("change").

        * administrators: all;
        * agents: every article in any status, except internal articles limited to some
          lines or teams none of which is theirs; they may edit what they may read;
        * customers: published articles for all customers, or for their organisation; never
          drafts, archived or internal articles, and they change nothing;
        * anonymous visitors: nothing.
        """
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_admin:
            return self
        if user.is_agent:
            from tierdesk.tickets.selectors import agent_scope

            scope = agent_scope(user)
            team_ids = sorted(team.team_id for team in scope.teams)
            return self.filter(
                Q(is_limited=False)
                | Exists(
                    Article.audience_lines.through.objects.filter(
                        article_id=OuterRef("pk"), supportline_id__in=sorted(scope.line_ids)
                    )
                )
                | Exists(
                    Article.audience_teams.through.objects.filter(
                        article_id=OuterRef("pk"), team_id__in=team_ids
                    )
                )
            )
        if action != "view" or user.organisation_id is None:
            return self.none()
        return self.filter(status=ArticleStatus.PUBLISHED).filter(
            Q(visibility=Visibility.CUSTOMERS)
            | Q(
                Exists(
                    Article.organisations.through.objects.filter(
                        article_id=OuterRef("pk"), organisation_id=user.organisation_id
                    )
                ),
                visibility=Visibility.ORGANISATIONS,
            )
        )


def link_key(title: str) -> str:
    """The key a ``[[Title]]`` wiki link finds an article by: case and spacing do not matter."""
    return " ".join(title.split()).casefold()


class Article(models.Model):
    """One piece of knowledge: a known problem and its fix, a setup article, a standard, or the
    operational documentation of a service.

    ``body`` is Markdown; ``body_html`` is its rendering, sanitised, kept so a page read a
    thousand times is rendered once. Every save through ``kb.services`` adds an
    :class:`ArticleVersion`; the article row always holds the current text. An article moves
    draft → in review → published → archived (``choices.STATUS_TRANSITIONS``); kinds in
    ``choices.REVIEW_REQUIRED`` are published only by someone other than their author.

    Who reads it: ``visibility`` says internal (agents; ``audience_lines``/``audience_teams``
    narrow it to some, and ``is_limited`` is true when either is set), all customers, or the
    customers of ``organisations``. The ``owner`` answers for it being right; by
    ``review_due_on`` he must look at it again, and the worker reminds him.

    The counters are kept by the services for reports and ranking without counting rows.
    """

    kind = models.CharField(_("kind"), max_length=16, choices=ArticleKind.choices)
    title = models.CharField(_("title"), max_length=200)
    link_key = models.CharField(max_length=200, unique=True, editable=False)
    body = models.TextField(_("text"), blank=True, help_text=_("Markdown."))
    body_html = models.TextField(editable=False, blank=True)
    language = models.CharField(_("language"), max_length=8, choices=Language.choices, default=Language.EN)
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), related_name="articles", blank=True)
    service = models.CharField(
        _("IT service or configuration item"),
        max_length=200,
        blank=True,
        help_text=_("What this documentation describes (operational documentation)."),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=ArticleStatus.choices, default=ArticleStatus.DRAFT
    )
    visibility = models.CharField(
        _("visible to"), max_length=16, choices=Visibility.choices, default=Visibility.INTERNAL
    )
    organisations = models.ManyToManyField(
        "orgs.Organisation", verbose_name=_("organisations"), related_name="articles", blank=True
    )
    audience_lines = models.ManyToManyField(
        "tickets.SupportLine", verbose_name=_("lines"), related_name="articles", blank=True
    )
    audience_teams = models.ManyToManyField(
        "tickets.Team", verbose_name=_("teams"), related_name="articles", blank=True
    )
    is_limited = models.BooleanField(default=False, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.PROTECT,
        related_name="owned_articles",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reviewer"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Who approved the published text."),
    )
    review_due_on = models.DateField(_("review due"), null=True, blank=True)
    review_reminded_at = models.DateTimeField(null=True, blank=True, editable=False)
    source_ticket = models.ForeignKey(
        "tickets.Ticket",
        verbose_name=_("created from ticket"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    version = models.PositiveIntegerField(_("version"), default=1)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    view_count = models.PositiveIntegerField(_("views"), default=0)
    helpful_count = models.PositiveIntegerField(_("helpful"), default=0)
    not_helpful_count = models.PositiveIntegerField(_("not helpful"), default=0)
    ticket_count = models.PositiveIntegerField(_("linked tickets"), default=0)
    solved_count = models.PositiveIntegerField(_("tickets solved"), default=0)
    deflection_count = models.PositiveIntegerField(_("requests avoided"), default=0)

    objects = ArticleQuerySet.as_manager()

    class Meta:
        verbose_name = _("article")
        verbose_name_plural = _("articles")
        indexes = [
            models.Index(fields=["status", "visibility", "kind"], name="kb_article_status_idx"),
            models.Index(fields=["owner", "review_due_on"], name="kb_article_owner_review_idx"),
            models.Index(
                fields=["review_due_on", "id"],
                condition=Q(status="published"),
                name="kb_article_review_due_idx",
            ),
            models.Index(fields=["updated_at", "id"], name="kb_article_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    @property
    def number(self) -> str:
        return f"KB-{self.pk or 0:05d}"

    def audit_snapshot(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "language": self.language,
            "service": self.service,
            "status": self.status,
            "visibility": self.visibility,
            "owner": self.owner_id,
            "review_due_on": self.review_due_on.isoformat() if self.review_due_on else None,
            "version": self.version,
        }


class ArticleVersion(models.Model):
    """The text of an article as one save left it. Kept forever: versions are compared and an
    old one restored (which adds a new version with its text, never rewrites history)."""

    article = models.ForeignKey(
        Article, verbose_name=_("article"), on_delete=models.CASCADE, related_name="versions"
    )
    number = models.PositiveIntegerField(_("version"))
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("text"), blank=True)
    tags = models.JSONField(_("tags"), default=list, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    note = models.CharField(_("change note"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("article version")
        verbose_name_plural = _("article versions")
        ordering = ["article", "-number"]
        constraints = [models.UniqueConstraint(fields=["article", "number"], name="kb_version_unique")]

    def __str__(self) -> str:
        return f"{self.article_id} v{self.number}"


class ArticleLink(models.Model):
    """A ``[[Title]]`` link in an article's text. ``target`` is empty while no article has that
    title (the author is warned); it is filled when one is created, so backlinks stay right."""

    source = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="outgoing_links")
    target_key = models.CharField(max_length=200)
    target_title = models.CharField(_("link text"), max_length=200)
    target = models.ForeignKey(
        Article, on_delete=models.SET_NULL, null=True, blank=True, related_name="incoming_links"
    )

    class Meta:
        verbose_name = _("article link")
        verbose_name_plural = _("article links")
        constraints = [models.UniqueConstraint(fields=["source", "target_key"], name="kb_link_unique")]
        indexes = [models.Index(fields=["target_key"], name="kb_link_key_idx")]

    def __str__(self) -> str:
        return f"{self.source_id} -> [[{self.target_title}]]"


def article_file_path(instance: ArticleAttachment, filename: str) -> str:
    """Stored under their content hash, like ticket attachments: identical files share one copy."""
    return f"attachments/{instance.sha256[:2]}/{instance.sha256[2:4]}/{instance.sha256}"


class ArticleAttachment(models.Model):
    """A file or image of an article, served to whoever may read the article."""

    article = models.ForeignKey(
        Article, verbose_name=_("article"), on_delete=models.CASCADE, related_name="attachments"
    )
    file = models.FileField(_("file"), upload_to=article_file_path, max_length=200)
    filename = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("content type"), max_length=100)
    size = models.PositiveBigIntegerField(_("size"))
    sha256 = models.CharField(_("SHA-256"), max_length=64, db_index=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("article file")
        verbose_name_plural = _("article files")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.filename


class TicketArticle(models.Model):
    """An article linked to a ticket: used in a reply, or found relevant. ``solved`` marks the
    article that solved the ticket, which the "tickets solved" count of the article follows."""

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="article_links")
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="ticket_links")
    solved = models.BooleanField(_("solved the ticket"), default=False)
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("ticket article")
        verbose_name_plural = _("ticket articles")
        constraints = [models.UniqueConstraint(fields=["ticket", "article"], name="kb_ticket_article_unique")]
        indexes = [models.Index(fields=["article", "created_at"], name="kb_ticket_article_idx")]

    def __str__(self) -> str:
        return f"{self.ticket_id} ~ {self.article_id}"


class Feedback(models.Model):
    """One reader's verdict on an article: helpful or not, with an optional comment. One per
    reader and article; voting again replaces the verdict (and the counters follow)."""

    article = models.ForeignKey(
        Article, verbose_name=_("article"), on_delete=models.CASCADE, related_name="feedback"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("reader"), on_delete=models.CASCADE, related_name="+"
    )
    helpful = models.BooleanField(_("helpful"))
    comment = models.TextField(_("comment"), blank=True)
    version = models.PositiveIntegerField(_("version read"), default=1)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("feedback")
        verbose_name_plural = _("feedback")
        constraints = [models.UniqueConstraint(fields=["article", "user"], name="kb_feedback_unique")]
        indexes = [models.Index(fields=["article", "created_at"], name="kb_feedback_article_idx")]

    def __str__(self) -> str:
        return f"{self.article_id} {'+' if self.helpful else '-'}"


class Deflection(models.Model):
    """A request that was never made: a customer typing a new request saw a suggested article
    and said "this solved my problem". Counted per article and organisation (self-service KPI)."""

    article = models.ForeignKey(
        Article, verbose_name=_("article"), on_delete=models.CASCADE, related_name="deflections"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="+"
    )
    organisation = models.ForeignKey(
        "orgs.Organisation", verbose_name=_("organisation"), on_delete=models.CASCADE, related_name="+"
    )
    subject = models.CharField(_("subject typed"), max_length=250, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("avoided request")
        verbose_name_plural = _("avoided requests")
        indexes = [models.Index(fields=["organisation", "created_at"], name="kb_deflection_org_idx")]

    def __str__(self) -> str:
        return f"{self.article_id} {self.created_at:%Y-%m-%d}"
