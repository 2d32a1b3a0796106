"""PostgreSQL full-text search over articles.

Storage (migration 0002, PostgreSQL only): two ``tsvector`` columns of ``kb_article`` that the
ORM does not know, each with a GIN index, written only by :func:`write_entries`:

* ``search_head``: the title (weight A), the tags and the service (B) — small, kept in the row;
* ``search_document``: the head and the text of the body (C), positions continuing the head's.

Both under the ``russian`` configuration: Cyrillic words by the Russian Snowball stemmer (which
reads ё as its undotted letter), Latin-script words by the English one, the stop words of both
dropped. They live in the
article's own row so that the permission filter of ``Article.objects.restrict`` applies to the
rows the GIN index finds, without a join.

Ranking is ``ts_rank_cd`` (cover density; weights 1.0 title, 0.4 tags, 0.2 text, divided by
1 + log of the document length). It reads the whole ``tsvector`` of each ranked article
(~6 µs each, most of it de-TOASTing), so ranking every article that holds a common word — a
word in most of 100,000 articles — would take a second. The candidates are therefore bounded:

1. up to :data:`CANDIDATES` readable articles whose title, tags or service match the whole
   query (``search_head``), and, unless there are that many,
2. up to :data:`CANDIDATES` readable articles whose text matches,

each read from the GIN index's bitmap without ranking (a bitmap heap scan stops at the LIMIT),
and only their union is ranked. A query that matches fewer than ``CANDIDATES`` articles is
ranked exactly; a broader one ranks its title matches (up to ``CANDIDATES``) and a sample of
the rest, which is what a one-common-word query deserves. Phrases, which GIN cannot decide
without re-reading each row, are checked on at most :data:`PHRASE_SCAN` articles holding all
the wanted words (exclusions it decides from its posting lists). Suggestions match the head
only, in two tiers the same way (all typed words; any of them).

``ts_headline`` runs on the page of hits only (a subquery takes the page first), with
private-use characters as markers that are removed from the text beforehand; the result is
escaped and the markers become ``<mark>`` (``text.marked``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL
from django.utils.safestring import SafeString

from tierdesk.kb.models import Article
from tierdesk.kb.search import text
from tierdesk.kb.search.text import LESS_THAN, MARK_START, MARK_STOP, Entry, Found, ParsedQuery

CONFIG = "russian"
# Articles ranked at most per tier (title matches; text matches) and per suggestion tier.
CANDIDATES = 200
SUGGEST_CANDIDATES = 200
# Articles holding all words of a phrase that are checked for the words' order.
PHRASE_SCAN = 600

_WEBSEARCH = f"websearch_to_tsquery('{CONFIG}', %s)"
# How much of a text's start and end is fetched to tell whether a headline begins or ends it.
_EDGE = 300
_EDGE_RE = re.compile(r"^\W+|\W+$")
_MARK_RE = re.compile(f"[{MARK_START}{MARK_STOP}]")

# text.MARK_START/STOP, as SQL string literals (E'\uE000'), for translate() and ts_headline.
_MARKERS = f"E'\\u{ord(MARK_START):04X}\\u{ord(MARK_STOP):04X}\\u{ord(LESS_THAN):04X}'"
_LT = f"E'\\u{ord(LESS_THAN):04X}'"
_SELECTORS = f"StartSel=\\u{ord(MARK_START):04X}, StopSel=\\u{ord(MARK_STOP):04X}"
_TITLE_OPTIONS = f"E'HighlightAll=true, {_SELECTORS}'"
_DELIMITER = " … "
_BODY_OPTIONS = (
    f"E'MaxFragments=2, MaxWords=28, MinWords=12, ShortWord=2, "
    f'FragmentDelimiter="{_DELIMITER}", {_SELECTORS}\''
)
_HEAD = f"setweight(to_tsvector('{CONFIG}', v.title), 'A') || setweight(to_tsvector('{CONFIG}', v.tags), 'B')"


def write_entries(entries: Sequence[Entry]) -> None:
    """Write the vectors of ``entries`` into their articles' rows, in one statement."""
    if not entries:
        return
    clean = [(e.article_id, _clean(e.title), _clean(e.tags), _clean(e.body)) for e in entries]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE kb_article AS a
               SET search_head = {_HEAD},
                   search_document = {_HEAD} || setweight(to_tsvector('{CONFIG}', v.body), 'C')
              FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[]) AS v (id, title, tags, body)
             WHERE a.id = v.id
            """,  # noqa: S608 - constants only; the values are parameters
            [list(column) for column in zip(*clean, strict=True)],
        )


def _clean(value: str) -> str:
    """Text as PostgreSQL's parser should read it: no NUL (text cannot hold it), no marker a
    user could forge, "<" as ``LESS_THAN`` so that no word is taken for HTML. (ё needs nothing:
    the Russian stemmer folds it.)"""
    return text.without_markers(value).replace("\x00", " ").replace("<", LESS_THAN)


def delete_entries(article_ids: Sequence[int]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE kb_article SET search_head = NULL, search_document = NULL WHERE id = ANY(%s)",
            [list(article_ids)],
        )


def after_reindex() -> None:
    """Refresh the planner's statistics of the vectors (how common each word is decides
    between the plans of a query); entries need no cleaning, they live and die with their
    article's row."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE kb_article")


def _where(
    articles: QuerySet[Article], condition: str, params: Sequence[Any], limit: int
) -> tuple[str, list[Any]]:
    """The SQL of "ids of ``articles`` matching ``condition``, at most ``limit``" — the
    permission filter and the filters compiled by the ORM, in the same statement."""
    # The condition is this module's constant SQL; the user's text is in ``params``.
    matching = articles.filter(RawSQL(condition, tuple(params), output_field=BooleanField()))  # noqa: S611
    sql, sql_params = matching.order_by().values("pk")[:limit].query.sql_with_params()
    return sql, list(sql_params)


def _tier(
    articles: QuerySet[Article], column: str, query: str, parsed: ParsedQuery, extra: str = ""
) -> tuple[str, list[Any]]:
    """Up to CANDIDATES ids of ``articles`` whose ``column`` matches ``query``.

    GIN answers "which rows hold these words (and not those)" exactly from its posting lists,
    but not "in this order": for a phrase every row it finds is re-read (de-TOASTed) and
    checked, thousands of them for common words. So a query with a phrase is checked on the
    first PHRASE_SCAN articles that hold all its wanted words, which bounds that work."""
    condition = f'"kb_article"."{column}" @@ {_WEBSEARCH}{extra}'
    params = [query] * condition.count("%s")
    if not parsed.has_phrase:
        return _where(articles, condition, params, CANDIDATES)
    holding_sql, holding_params = _where(
        articles,
        f'"kb_article"."{column}" @@ to_tsquery(\'{CONFIG}\', %s)',
        [parsed.all_words()],
        PHRASE_SCAN,
    )
    exact = condition.replace('"kb_article".', "c.")
    return (
        f"SELECT c.id FROM kb_article c WHERE c.id IN ({holding_sql}) AND {exact} "  # noqa: S608
        f"LIMIT {CANDIDATES}",
        [*holding_params, *params],
    )


def search(
    articles: QuerySet[Article], query: str, parsed: ParsedQuery, *, limit: int, offset: int
) -> list[Found]:
    """The best ``limit`` matches after ``offset`` among ``articles``, with the title and a
    snippet highlighted by ``ts_headline`` (computed for that page only), in one statement.

    The articles whose title, tags or service match come first among the candidates; when
    there are CANDIDATES of them, the text is not looked at (they are what a broad query
    deserves, and the GIN scan of a word in most articles costs more than ranking them)."""
    # An excluded word may be in the text although not in the title.
    head_sql, head_params = _tier(
        articles,
        "search_head",
        query,
        parsed,
        f' AND "kb_article"."search_document" @@ {_WEBSEARCH}' if parsed.excluded else "",
    )
    text_sql, text_params = _tier(articles, "search_document", query, parsed)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH head AS MATERIALIZED ({head_sql})
            SELECT p.id, p.rank,
                   ts_headline('{CONFIG}', {_cleaned("a.title")}, q, {_TITLE_OPTIONS}),
                   ts_headline('{CONFIG}', b.text, q, {_BODY_OPTIONS}),
                   left(b.text, {_EDGE}), right(b.text, {_EDGE})
              FROM (SELECT c.id, ts_rank_cd(c.search_document, {_WEBSEARCH}, 1) AS rank
                      FROM kb_article c
                     WHERE c.id IN (SELECT * FROM head
                                    UNION
                                    SELECT * FROM ({text_sql}) t
                                     WHERE (SELECT count(*) FROM head) < {CANDIDATES})
                     ORDER BY rank DESC, c.id DESC
                     LIMIT %s OFFSET %s) AS p
              JOIN kb_article a ON a.id = p.id
             CROSS JOIN LATERAL (SELECT {_cleaned(f"left(a.body, {text.SNIPPET_SCAN_CHARS})")} AS text
                                  OFFSET 0) b
             CROSS JOIN {_WEBSEARCH} AS q
             ORDER BY p.rank DESC, p.id DESC
            """,  # noqa: S608 - the ORM's SQL and constants; the values are parameters
            [*head_params, query, *text_params, limit, offset, query],
        )
        rows = cursor.fetchall()
    return [
        Found(pk, float(rank), text.marked(title), _snippet(body, first, last))
        for pk, rank, title, body, first, last in rows
    ]


def _cleaned(column: str) -> str:
    """SQL of ``column`` as ``_clean`` makes text: markers out, "<" as LESS_THAN."""
    return f"replace(translate({column}, {_MARKERS}, ''), '<', {_LT})"


def _snippet(headline: str, start: str, end: str) -> SafeString:
    """A headline of the Markdown source as text: the markup of the cut-out piece removed
    (``text.plain_text``), escaped, the matches marked, "…" where text was left out (the
    headline's ends compared with the text's first and last ``_EDGE`` characters)."""
    fragments = [_EDGE_RE.sub("", f) for f in _MARK_RE.sub("", headline).split(_DELIMITER)]
    start, end = _EDGE_RE.sub("", start), _EDGE_RE.sub("", end)
    lead = "" if start.startswith(fragments[0][: len(start)]) else "… "
    tail = "" if end.endswith(fragments[-1][-len(end) :]) else " …"
    body = text.marked(text.plain_text(headline))
    return SafeString(f"{lead}{body}{tail}") if body else body


def suggest(
    articles: QuerySet[Article], words: Sequence[str], prefix: str | None, *, limit: int
) -> list[Found]:
    """The best ``limit`` of ``articles`` whose head holds any of ``words`` or a word starting
    with ``prefix``, with the title highlighted: those holding all of them first, then the
    others, each by rank. Those holding all of them are gathered first, so that a word in
    thousands of titles cannot crowd them out of the candidates."""
    # Words are runs of letters and digits (text.WORD_RE): nothing in them is tsquery syntax.
    terms = [*words, f"{prefix}:*"] if prefix else list(words)
    any_query, all_query = " | ".join(terms), " & ".join(terms)
    condition = f'"kb_article"."search_head" @@ to_tsquery(\'{CONFIG}\', %s)'
    any_sql, any_params = _where(articles, condition, [any_query], SUGGEST_CANDIDATES)
    if len(terms) > 1:
        all_sql, all_params = _where(articles, condition, [all_query], SUGGEST_CANDIDATES)
        # Articles holding all the words come first: when there are ``limit`` of them, the
        # others cannot make the page and are not looked for.
        candidates = (
            f"WITH best AS MATERIALIZED ({all_sql}) SELECT * FROM best "  # noqa: S608
            f"UNION SELECT * FROM ({any_sql}) t WHERE (SELECT count(*) FROM best) < {int(limit)}"
        )
        candidate_params = [*all_params, *any_params]
    else:
        candidates, candidate_params = any_sql, any_params
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT p.id, p.rank, ts_headline('{CONFIG}', {_cleaned("a.title")}, q, {_TITLE_OPTIONS})
              FROM (SELECT c.id, ts_rank_cd(c.search_head, to_tsquery('{CONFIG}', %s), 1) AS rank,
                           c.search_head @@ to_tsquery('{CONFIG}', %s) AS complete
                      FROM kb_article c
                     WHERE c.id IN ({candidates})
                     ORDER BY complete DESC, rank DESC, c.id DESC
                     LIMIT %s) AS p
              JOIN kb_article a ON a.id = p.id,
                   to_tsquery('{CONFIG}', %s) AS q
             ORDER BY p.complete DESC, p.rank DESC, p.id DESC
            """,  # noqa: S608 - the ORM's SQL and constants; the values are parameters
            [any_query, all_query, *candidate_params, limit, any_query],
        )
        return [Found(pk, float(rank), text.marked(title)) for pk, rank, title in cursor.fetchall()]
