"""Reads of the knowledge base: what a user may read, lists with filters, versions and their
differences, wiki links, review queues, articles and tickets, and the usage report.

Every read of articles for a person goes through ``Article.objects.restrict(user)``; an
article he may not read is a 404 (``Http404``), never a 403.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db.models import Count, F, FloatField, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import Cast
from django.http import Http404
from django.utils import timezone

from tierdesk.common.pagination import Page, keyset_page
from tierdesk.kb.choices import ArticleKind, ArticleStatus
from tierdesk.kb.models import (
    Article,
    ArticleAttachment,
    ArticleLink,
    ArticleVersion,
    Deflection,
    Feedback,
    Tag,
    TicketArticle,
    link_key,
)

if TYPE_CHECKING:
    from tierdesk.accounts.models import User
    from tierdesk.tickets.models import Ticket

# Rows an article page shows with the article.
_DETAIL_JOINED = ("owner", "created_by", "reviewer", "source_ticket")
_DETAIL_PREFETCHED = ("tags", "organisations", "audience_lines", "audience_teams", "attachments")
# Orderings a list can be sorted by; each ends with "id" so keyset pagination is exact.
ORDERINGS: dict[str, list[str]] = {
    "-updated": ["-updated_at", "-id"],
    "title": ["title", "id"],
    "review": ["review_due_on", "id"],
    "-views": ["-view_count", "-id"],
}
# Reviews due within this many days appear in the owner's queue (besides the overdue ones).
REVIEW_QUEUE_DAYS = 30
# The report's "least helpful" list only counts articles with at least this many votes.
MIN_VOTES = 5
# Published articles not updated for this long are stale even if their review is not overdue.
STALE_AFTER = dt.timedelta(days=365)


# --- One article --------------------------------------------------------------------------


def article_for(
    user: User | None, pk: int | str, *, action: str = "view", prefetch: tuple[str, ...] = _DETAIL_PREFETCHED
) -> Article:
    """The article ``pk`` if ``user`` may ``action`` ("view"/"change") it, with the rows its
    page shows (``prefetch``: the related rows to load with it); otherwise 404."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404 from None
    try:
        return (
            Article.objects.restrict(user, action)
            .select_related(*_DETAIL_JOINED)
            .prefetch_related(*prefetch)
            .get(pk=pk)
        )
    except (Article.DoesNotExist, OverflowError):
        raise Http404 from None


def article_by_title(user: User | None, title: str) -> Article:
    """The article a ``[[Title]]`` link names (case and spacing do not count), if ``user`` may
    read it; otherwise 404. The ``../wiki/<title>/`` pages use it."""
    try:
        return Article.objects.restrict(user).get(link_key=link_key(title)[:200])
    except Article.DoesNotExist:
        raise Http404 from None


def article_attachment(user: User | None, article_pk: int, attachment_pk: int) -> ArticleAttachment:
    """A file of an article ``user`` may read; otherwise 404."""
    try:
        return ArticleAttachment.objects.select_related("article").get(
            pk=attachment_pk, article_id=article_pk, article__in=Article.objects.restrict(user)
        )
    except (ArticleAttachment.DoesNotExist, OverflowError):
        raise Http404 from None


# --- Lists --------------------------------------------------------------------------------


def visible_articles(
    user: User | None,
    *,
    kind: str | None = None,
    status: str | None = None,
    visibility: str | None = None,
    tag: str | None = None,
    owner: User | int | None = None,
    language: str | None = None,
) -> QuerySet[Article]:
    """The articles ``user`` may read, filtered, newest change first, with their owner and tags
    (two queries for any page of it)."""
    qs = Article.objects.restrict(user)
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    if visibility:
        qs = qs.filter(visibility=visibility)
    if language:
        qs = qs.filter(language=language)
    if tag:
        qs = qs.filter(tags__name=" ".join(tag.split()).lower())
    if owner is not None:
        qs = qs.filter(owner_id=getattr(owner, "pk", owner))
    return (
        qs.select_related("owner")
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))
        .order_by("-updated_at", "-id")
    )


def article_page(
    user: User | None, *, cursor: str | None = None, limit: int = 50, order: str = "-updated", **filters: Any
) -> Page:
    """One page of ``visible_articles(user, **filters)`` in ``ORDERINGS[order]`` (keyset)."""
    ordering = ORDERINGS.get(order, ORDERINGS["-updated"])
    return keyset_page(visible_articles(user, **filters), ordering=ordering, cursor=cursor, limit=limit)


def all_tags() -> QuerySet[Tag]:
    """Tags in use by at least one article, by name (for filters and the editor's suggestions)."""
    return Tag.objects.filter(articles__isnull=False).distinct().order_by("name")


def readable_by(user: User, article_ids: Iterable[int]) -> set[int]:
    """Which of ``article_ids`` ``user`` may read: a ticket's requester, say, before an agent
    is offered to send him a link to one (``/portal/kb/<id>/``)."""
    article_ids = sorted(set(article_ids))
    if not article_ids:
        return set()
    return set(Article.objects.restrict(user).filter(pk__in=article_ids).values_list("pk", flat=True))


def feedback_of(article: Article, user: User) -> Feedback | None:
    """The reader's own verdict on the article, if he gave one (shown beside the vote buttons)."""
    if not user.is_authenticated:
        return None
    return Feedback.objects.filter(article=article, user=user).only("helpful", "comment").first()


# --- Versions -----------------------------------------------------------------------------


def article_versions(article: Article) -> QuerySet[ArticleVersion]:
    """Every version of the article, newest first, with its author."""
    return ArticleVersion.objects.filter(article_id=article.pk).select_related("author").order_by("-number")


@dataclass(frozen=True)
class DiffLine:
    """One line of a comparison: ``op`` is "equal", "delete" (only in the older version) or
    "insert" (only in the newer); the line numbers are ``None`` on the side it is missing from."""

    op: str
    old_number: int | None
    new_number: int | None
    text: str


@dataclass(frozen=True)
class VersionDiff:
    """Two versions side by side: what happened to the title and tags, and the text line by line."""

    old: ArticleVersion
    new: ArticleVersion
    lines: list[DiffLine]
    tags_removed: list[str] = field(default_factory=list)
    tags_added: list[str] = field(default_factory=list)

    @property
    def title_changed(self) -> bool:
        return self.old.title != self.new.title

    @property
    def changed(self) -> bool:
        return (
            self.title_changed
            or bool(self.tags_removed or self.tags_added)
            or any(line.op != "equal" for line in self.lines)
        )


def compare_versions(article: Article, a: int, b: int) -> VersionDiff:
    """Versions ``a`` and ``b`` of the article compared (the lower number is the older); 404
    if either does not exist."""
    old_number, new_number = sorted((int(a), int(b)))
    versions = {
        v.number: v
        for v in ArticleVersion.objects.filter(
            article_id=article.pk, number__in={old_number, new_number}
        ).select_related("author")
    }
    if old_number not in versions or new_number not in versions:
        raise Http404
    old, new = versions[old_number], versions[new_number]
    old_lines, new_lines = old.body.splitlines(), new.body.splitlines()
    lines: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            lines += [
                DiffLine("equal", i + 1, j + 1, old_lines[i])
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            ]
            continue
        lines += [DiffLine("delete", i + 1, None, old_lines[i]) for i in range(i1, i2)]
        lines += [DiffLine("insert", None, j + 1, new_lines[j]) for j in range(j1, j2)]
    return VersionDiff(
        old=old,
        new=new,
        lines=lines,
        tags_removed=[t for t in old.tags if t not in new.tags],
        tags_added=[t for t in new.tags if t not in old.tags],
    )


# --- Wiki links ---------------------------------------------------------------------------


def backlinks(article: Article, user: User | None) -> QuerySet[Article]:
    """The articles ``user`` may read that link to this one with ``[[its title]]``."""
    return (
        Article.objects.restrict(user)
        .filter(outgoing_links__target_id=article.pk)
        .exclude(pk=article.pk)
        .order_by("title", "id")
    )


def missing_links(article: Article) -> QuerySet[ArticleLink]:
    """The article's ``[[links]]`` to titles no article has (yet): the author is warned."""
    return ArticleLink.objects.filter(source_id=article.pk, target__isnull=True).order_by("target_title")


def outgoing_links(article: Article) -> QuerySet[ArticleLink]:
    """Every ``[[link]]`` of the article, with its target when it exists."""
    return ArticleLink.objects.filter(source_id=article.pk).select_related("target").order_by("target_title")


# --- Reviews ------------------------------------------------------------------------------


def review_queue(
    owner: User, *, within_days: int = REVIEW_QUEUE_DAYS, today: dt.date | None = None
) -> QuerySet[Article]:
    """The owner's published articles whose review is overdue or due within ``within_days``,
    the most overdue first."""
    today = today or timezone.localdate()
    return (
        Article.objects.filter(
            owner=owner,
            status=ArticleStatus.PUBLISHED,
            review_due_on__lte=today + dt.timedelta(days=within_days),
        )
        .select_related("owner")
        .order_by("review_due_on", "id")
    )


def overdue_reviews(user: User | None = None, *, today: dt.date | None = None) -> QuerySet[Article]:
    """Published articles whose review date has passed, the most overdue first, with their
    owners (the managers' list); only those ``user`` may read when given."""
    today = today or timezone.localdate()
    qs = Article.objects.all() if user is None else Article.objects.restrict(user)
    return (
        qs.filter(status=ArticleStatus.PUBLISHED, review_due_on__lt=today)
        .select_related("owner")
        .order_by("review_due_on", "id")
    )


# --- Articles and tickets -----------------------------------------------------------------


def articles_for_ticket(ticket: Ticket, user: User | None) -> list[TicketArticle]:
    """The articles linked to ``ticket`` that ``user`` may read (a customer sees only the
    published ones meant for him), with the link (``solved``), oldest link first."""
    return list(
        TicketArticle.objects.filter(ticket_id=ticket.pk, article__in=Article.objects.restrict(user))
        .select_related("article", "linked_by")
        .order_by("created_at", "id")
    )


def tickets_for_article(article: Article, user: User | None, *, limit: int = 50) -> list[TicketArticle]:
    """The tickets linked to ``article`` that ``user`` may see, newest link first, at most ``limit``."""
    from tierdesk.tickets.models import Ticket

    return list(
        TicketArticle.objects.filter(article_id=article.pk, ticket__in=Ticket.objects.restrict(user))
        .select_related("ticket", "ticket__organisation")
        .order_by("-created_at", "-id")[:limit]
    )


def prefill_from_ticket(ticket: Ticket) -> dict[str, Any]:
    """The fields of a known-problem article written from ``ticket``: its subject as the title,
    and a Markdown text with "## Problem" (the description) and "## Solution" (the resolution).

    The resolution is the comment given when the ticket was resolved, else the last public
    reply of staff before that (or the last one, if it is not resolved yet).
    """
    from tierdesk.tickets.choices import EntryKind, Status

    problem = ticket.description.strip()
    resolution = ""
    entries = ticket.entries.exclude(body="").select_related("author").order_by("-created_at", "-id")
    resolved = (
        entries.filter(kind=EntryKind.EVENT, data__to=Status.RESOLVED).first()
        if ticket.resolved_at is not None
        else None
    )
    if resolved is not None:
        resolution = resolved.body.strip()
    if not resolution:
        replies = entries.filter(kind=EntryKind.PUBLIC, author__role__in=["admin", "agent"])
        if ticket.resolved_at is not None:
            replies = replies.filter(created_at__lte=ticket.resolved_at)
        reply = replies.first()
        resolution = reply.body.strip() if reply is not None else ""
    body = "## Problem\n\n" + (problem or "…") + "\n\n## Solution\n\n" + (resolution or "…") + "\n"
    return {
        "kind": ArticleKind.KNOWN_PROBLEM,
        "title": ticket.subject[:200],
        "body": body,
        "language": getattr(ticket.requester, "language", "") or "en",
        "source_ticket": ticket,
    }


# --- The report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ArticleReport:
    """The knowledge base's usage: what is used, what does not help, what is out of date."""

    most_used: list[Article]
    least_helpful: list[Article]
    stale: list[Article]
    totals: dict[str, int]


def article_report(*, since: dt.datetime | None = None, limit: int = 20) -> ArticleReport:
    """Most used articles (views plus linked tickets; with ``since``, tickets linked since
    then, as views are only counted in total), least helpful ones (share of "not helpful" among
    at least ``MIN_VOTES`` votes), stale ones (published, review overdue or not updated for a
    year) and totals (articles by status, views, linked and solved tickets, avoided requests;
    the last three since ``since`` when given)."""
    now = timezone.now()
    articles = Article.objects.select_related("owner")
    if since is None:
        most_used = articles.annotate(usage=F("view_count") + F("ticket_count"))
    else:
        most_used = articles.annotate(
            usage=F("view_count") + Count("ticket_links", filter=Q(ticket_links__created_at__gte=since))
        )
    most_used = most_used.filter(usage__gt=0).order_by("-usage", "-id")[:limit]
    votes = F("helpful_count") + F("not_helpful_count")
    least_helpful = (
        articles.annotate(votes=votes)
        .filter(votes__gte=MIN_VOTES)
        .annotate(unhelpful=Cast("not_helpful_count", FloatField()) / Cast(votes, FloatField()))
        .filter(not_helpful_count__gt=0)
        .order_by("-unhelpful", "-votes", "id")[:limit]
    )
    stale = (
        articles.filter(status=ArticleStatus.PUBLISHED)
        .filter(Q(review_due_on__lt=timezone.localdate()) | Q(updated_at__lt=now - STALE_AFTER))
        .order_by(F("review_due_on").asc(nulls_last=True), "updated_at", "id")[:limit]
    )
    totals: dict[str, int] = dict.fromkeys(ArticleStatus.values, 0)
    totals.update(Article.objects.values_list("status").annotate(n=Count("id")).order_by())
    sums = Article.objects.aggregate(
        views=Sum("view_count"),
        tickets=Sum("ticket_count"),
        solved=Sum("solved_count"),
        deflections=Sum("deflection_count"),
    )
    totals["articles"] = sum(totals[s] for s in ArticleStatus.values)
    totals["views"] = sums["views"] or 0
    if since is None:
        totals["tickets"] = sums["tickets"] or 0
        totals["solved"] = sums["solved"] or 0
        totals["deflections"] = sums["deflections"] or 0
    else:
        links = TicketArticle.objects.filter(created_at__gte=since)
        totals["tickets"] = links.count()
        totals["solved"] = links.filter(solved=True).count()
        totals["deflections"] = Deflection.objects.filter(created_at__gte=since).count()
    return ArticleReport(
        most_used=list(most_used), least_helpful=list(least_helpful), stale=list(stale), totals=totals
    )
