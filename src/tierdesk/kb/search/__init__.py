"""Knowledge-base search: one interface, PostgreSQL full-text search or SQLite FTS5 behind it.

The backend follows the database in use (``connection.vendor``); callers never choose. Both
stem Russian and English words by the same Snowball stemmers (PostgreSQL's ``russian``
configuration, PyStemmer on SQLite), weigh a match in the title over one in the tags or the
service over one in the text, and answer only with what ``Article.objects.restrict(user)``
lets the user read: that queryset's filter is part of the one SQL statement that matches and
ranks, so an article the user may not read is never counted, ranked or returned.

Writes (``kb.services`` calls them in its transaction, after every save):

* :func:`index_article` — (re)writes the article's entry from its title, tags, service and the
  text of its Markdown; call it after the tags are set;
* :func:`unindex_article` — drops the entry (deleting the article row drops it as well);
* :func:`reindex_articles` — rebuilds every entry (``manage.py kb_reindex``; after a restore
  from a dump, or when moving from SQLite to PostgreSQL).

Reads:

* :func:`search_articles` — a web-search style query (``words`` all required, ``"a phrase"``,
  ``-excluded``, ``or``) with filters, a page of :class:`Hit` with the title and a snippet
  highlighted;
* :func:`suggest_articles` — for a subject being typed: published articles whose title, tags or
  service hold any of its words (the last one still being typed, as a prefix), best first.

Limits: a query longer than :data:`QUERY_MAX_CHARS` is refused (``DomainError``); an empty
query, or one of stop words and punctuation only, finds nothing (an empty page, no error).
Any other text is a valid query: quotes, ``*``, ``NEAR(``, ``'`` are words or separators,
never syntax of the engine. A subject for suggestions is cut at :data:`SUGGEST_MAX_CHARS` and
its first :data:`SUGGEST_MAX_WORDS` words.

Scale: on PostgreSQL a query matching more than ``postgres.CANDIDATES`` readable articles ranks
the first ``CANDIDATES`` of them whose title or tags match, and ``CANDIDATES`` others; below
that the ranking is exact (see ``postgres.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from django.db import connection, models, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from tierdesk.accounts.choices import Language
from tierdesk.common.errors import DomainError
from tierdesk.kb.choices import ArticleKind, ArticleStatus, Visibility
from tierdesk.kb.models import Article
from tierdesk.kb.search import text
from tierdesk.kb.search.text import Entry, Found

if TYPE_CHECKING:
    from tierdesk.accounts.models import User

__all__ = [
    "QUERY_MAX_CHARS",
    "Hit",
    "SearchPage",
    "index_article",
    "reindex_articles",
    "search_articles",
    "suggest_articles",
    "unindex_article",
]

QUERY_MAX_CHARS = 200
SUGGEST_MAX_CHARS = 250  # a ticket subject's limit
SUGGEST_MAX_WORDS = 8
SEARCH_MAX_LIMIT = 100
# Nobody reads the 50th page of search results; a deeper offset is a crawler or a mistake.
SEARCH_MAX_OFFSET = 1000


@dataclass(frozen=True)
class Hit:
    """One found article: the article (without ``body_html``, with its tags prefetched), its
    rank (higher is better; comparable within one answer only), and its title and a snippet of
    its text as HTML: escaped, the matched words in ``<mark>``."""

    article: Article
    rank: float
    title_html: SafeString
    snippet_html: SafeString


@dataclass(frozen=True)
class SearchPage:
    """A page of hits, best first, and whether there are more after it (never a total: counting
    every match would cost more than finding the best ones)."""

    hits: list[Hit]
    has_more: bool
    query: str = ""
    offset: int = 0
    limit: int = 20

    @property
    def next_offset(self) -> int | None:
        return self.offset + self.limit if self.has_more else None


def _backend() -> ModuleType:
    if connection.vendor == "postgresql":
        from tierdesk.kb.search import postgres

        return postgres
    from tierdesk.kb.search import sqlite

    return sqlite


# --- Writing the index ----------------------------------------------------------------------


def _entry(article: Article) -> Entry:
    tags = " ".join(tag.name for tag in article.tags.all())
    return Entry(
        article.pk, article.title, f"{tags} {article.service}".strip(), text.plain_text(article.body)
    )


def index_article(article: Article) -> None:
    """(Re)write ``article``'s search entry from its current title, tags, service and text.

    Call it in the transaction that saved the article, after its tags are set: a rollback
    takes the entry back with the article."""
    _backend().write_entries([_entry(article)])


def unindex_article(article_id: int) -> None:
    """Drop the search entry of an article (before or after deleting it; either order works)."""
    _backend().delete_entries([article_id])


def reindex_articles(batch: int = 1000) -> int:
    """Rebuild the search entry of every article, ``batch`` articles per transaction (searches
    keep working meanwhile, on the old entries until each batch commits); entries of articles
    that no longer exist are dropped. Returns the number of articles indexed."""
    backend = _backend()
    through = Article.tags.through
    done, last = 0, 0
    while True:
        with transaction.atomic():
            rows = list(
                Article.objects.filter(pk__gt=last)
                .order_by("pk")
                .values_list("pk", "title", "service", "body")[:batch]
            )
            if not rows:
                break
            tags: dict[int, list[str]] = {}
            for article_id, name in (
                through.objects.filter(article_id__in=[r[0] for r in rows])
                .order_by("tag__name")
                .values_list("article_id", "tag__name")
            ):
                tags.setdefault(article_id, []).append(name)
            backend.write_entries(
                [
                    Entry(pk, title, f"{' '.join(tags.get(pk, ()))} {service}".strip(), text.plain_text(body))
                    for pk, title, service, body in rows
                ]
            )
        done += len(rows)
        last = rows[-1][0]
    backend.after_reindex()
    return done


# --- Reading -------------------------------------------------------------------------------


def _choices(values: Iterable[str], allowed: type[models.TextChoices], field: str) -> list[str]:
    values = list(values)
    wrong = [v for v in values if v not in allowed.values]
    if wrong:
        raise DomainError(
            _("Unknown %(field)s: %(values)s.") % {"field": field, "values": ", ".join(map(str, wrong))},
            field=field,
        )
    return values


def _filtered(
    user: User | None,
    kinds: Iterable[str],
    visibility: str | None,
    language: str | None,
    statuses: Iterable[str] = (),
    tag: str | None = None,
) -> QuerySet[Article]:
    """What ``user`` may read, narrowed by the filters (each checked against its choices). All
    of them are conditions of the one statement that matches and ranks, so a filter never
    leaves a page short."""
    articles = Article.objects.restrict(user)
    kinds = _choices(kinds, ArticleKind, "kind")
    if kinds:
        articles = articles.filter(kind__in=sorted(set(kinds)))
    statuses = _choices(statuses, ArticleStatus, "status")
    if statuses:
        articles = articles.filter(status__in=sorted(set(statuses)))
    if visibility is not None:
        articles = articles.filter(visibility=_choices([visibility], Visibility, "visibility")[0])
    if language is not None:
        articles = articles.filter(language=_choices([language], Language, "language")[0])
    if tag is not None:
        # Tags are stored in lower case (kb.services); an EXISTS keeps one row per article.
        articles = articles.filter(
            Exists(
                Article.tags.through.objects.filter(
                    article_id=OuterRef("pk"), tag__name=" ".join(tag.split()).lower()
                )
            )
        )
    return articles


def _load(found: Sequence[Found]) -> dict[int, Article]:
    """The articles of ``found`` with what a result list shows (their tags), in two queries;
    ``body_html`` stays in the database."""
    return Article.objects.defer("body_html").prefetch_related("tags").in_bulk([f.article_id for f in found])


def search_articles(
    user: User | None,
    query: str,
    *,
    kinds: Iterable[str] = (),
    visibility: str | None = None,
    language: str | None = None,
    statuses: Iterable[str] = (),
    tag: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> SearchPage:
    """The articles ``user`` may read that match ``query``, best first, ``limit`` from
    ``offset``, narrowed to ``kinds``, a ``visibility``, a ``language``, ``statuses`` and a
    ``tag`` when given.

    ``query`` is web-search style: every word must occur (in any form: «принтер» finds
    «принтеры»), ``"quoted words"`` as a phrase, ``-word`` must not, ``word or word`` either.
    Raises ``DomainError`` for a query over :data:`QUERY_MAX_CHARS` characters, an unknown
    filter value or a limit or offset out of range; an empty query finds nothing."""
    query = query or ""
    if len(query) > QUERY_MAX_CHARS:
        raise DomainError(
            _("The search text is too long: at most %(limit)d characters.") % {"limit": QUERY_MAX_CHARS},
            field="q",
            code="too_long",
        )
    if not 1 <= limit <= SEARCH_MAX_LIMIT:
        raise DomainError(
            _("The page size must be between 1 and %(max)d.") % {"max": SEARCH_MAX_LIMIT}, field="limit"
        )
    if not 0 <= offset <= SEARCH_MAX_OFFSET:
        raise DomainError(
            _("The offset must be between 0 and %(max)d.") % {"max": SEARCH_MAX_OFFSET}, field="offset"
        )
    articles = _filtered(user, kinds, visibility, language, statuses, tag)
    query = text.normalise(query).strip()
    parsed = text.parse_query(query)
    if not parsed or articles.query.is_empty():
        return SearchPage(hits=[], has_more=False, query=query, offset=offset, limit=limit)
    found = _backend().search(articles, query, parsed, limit=limit + 1, offset=offset)
    by_id = _load(found[:limit])
    hits = []
    for f in found[:limit]:
        article = by_id.get(f.article_id)
        if article is None:  # deleted since it was found
            continue
        hits.append(
            Hit(
                article=article,
                rank=f.rank,
                title_html=f.title_html
                if f.title_html is not None
                else text.highlight(article.title, parsed.stems),
                snippet_html=(
                    f.snippet_html
                    if f.snippet_html is not None
                    else text.snippet(text.plain_text(article.body), parsed.stems)
                ),
            )
        )
    return SearchPage(hits=hits, has_more=len(found) > limit, query=query, offset=offset, limit=limit)


def suggest_articles(user: User | None, text_typed: str, *, limit: int = 5) -> list[Hit]:
    """Published articles ``user`` may read whose title, tags or service hold any word of a
    subject being typed, best first (the more of its words, and in the title, the better).

    The last word counts as a prefix while it is being typed (no space after it yet) and has
    at least ``text.MIN_PREFIX_CHARS`` letters. Hits carry the highlighted title and no snippet.
    Never raises for the text: a long one is cut (:data:`SUGGEST_MAX_CHARS`), an empty one
    suggests nothing."""
    if not 1 <= limit <= SEARCH_MAX_LIMIT:
        raise DomainError(
            _("The page size must be between 1 and %(max)d.") % {"max": SEARCH_MAX_LIMIT}, field="limit"
        )
    words, prefix = text.typed_words((text_typed or "")[:SUGGEST_MAX_CHARS])
    words = words[: SUGGEST_MAX_WORDS - (1 if prefix else 0)]
    if not words and not prefix:
        return []
    articles = Article.objects.restrict(user).filter(status=ArticleStatus.PUBLISHED)
    if articles.query.is_empty():
        return []
    found = _backend().suggest(articles, words, prefix, limit=limit)
    by_id = _load(found)
    return [
        Hit(
            article=by_id[f.article_id],
            rank=f.rank,
            title_html=f.title_html if f.title_html is not None else SafeString(""),
            snippet_html=SafeString(""),
        )
        for f in found
        if f.article_id in by_id  # (not deleted since it was found)
    ]
