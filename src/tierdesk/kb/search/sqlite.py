"""SQLite FTS5 search over articles.

Storage (migration 0002, SQLite only): the FTS5 table ``kb_article_fts(title, tags, body)``,
``rowid`` = the article's id, ``tokenize='unicode61 remove_diacritics 2'``, prefix indexes of
2 and 3 characters; a trigger drops an article's row when the article is deleted.

FTS5 has no Russian stemmer, so the table holds the words already stemmed in Python by
PyStemmer (``text.stemmed``: the Snowball stemmers PostgreSQL uses, stop words dropped), and a
query is stemmed the same way. The MATCH expression is built here from those stems, each
quoted: nothing a user types reaches FTS5 as syntax. Ranking is ``bm25`` with the title
weighing 10, tags and service 5, text 1. Snippets are built in Python from the original text
(``text.snippet``), matching words by their stems.

The permission filter is the ORM's SQL of ``Article.objects.restrict(user)`` (with the
filters), applied as ``+rowid IN (...)`` in the statement that matches and ranks. The unary
``+`` is SQLite's way to keep a term away from the index: without it SQLite hands the id list
to FTS5 as rowid constraints, and FTS5 then evaluates the MATCH once per readable article
(a second for a common word at 10,000 articles, instead of 10 ms).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from tierdesk.kb.models import Article
from tierdesk.kb.search import text
from tierdesk.kb.search.text import Entry, Found, ParsedQuery

TABLE = "kb_article_fts"
# bm25 weights of the columns: title, tags (with the service), body.
WEIGHTS = "10.0, 5.0, 1.0"
# Readable articles ranked at most per tier of a suggestion (see ``suggest``).
SUGGEST_CANDIDATES = 200


def write_entries(entries: Sequence[Entry]) -> None:
    if not entries:
        return
    rows = [
        (e.article_id, text.stemmed(e.title), text.stemmed(e.tags), text.stemmed(e.body)) for e in entries
    ]
    with connection.cursor() as cursor:
        cursor.executemany(f"DELETE FROM {TABLE} WHERE rowid = %s", [(row[0],) for row in rows])  # noqa: S608
        cursor.executemany(
            f"INSERT INTO {TABLE} (rowid, title, tags, body) VALUES (%s, %s, %s, %s)",  # noqa: S608
            rows,
        )


def delete_entries(article_ids: Sequence[int]) -> None:
    with connection.cursor() as cursor:
        cursor.executemany(f"DELETE FROM {TABLE} WHERE rowid = %s", [(pk,) for pk in article_ids])  # noqa: S608


def after_reindex() -> None:
    """Drop the rows of articles that are gone (the trigger covers deletions; this covers a
    table restored from elsewhere), then merge the index's segments into one (FTS5's
    ``optimize``: a query then reads one b-tree per term instead of one per batch written)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE rowid NOT IN (SELECT id FROM kb_article)")  # noqa: S608
        cursor.execute(f"INSERT INTO {TABLE} ({TABLE}) VALUES ('optimize')")  # noqa: S608


def _quoted(stems: Sequence[str]) -> str:
    # A stem is letters and digits only; doubling quotes keeps that true for any input anyway.
    return '"' + " ".join(s.replace('"', '""') for s in stems) + '"'


def match_expression(parsed: ParsedQuery) -> str:
    """The FTS5 query of ``parsed``: groups AND-ed, alternatives OR-ed, phrases quoted, then
    ``NOT`` each excluded phrase."""
    groups = ["(" + " OR ".join(_quoted(phrase) for phrase in group) + ")" for group in parsed.groups]
    expression = " AND ".join(groups)
    for phrase in parsed.excluded:
        expression = f"({expression}) NOT {_quoted(phrase)}"
    return expression


def _ids(articles: QuerySet[Article]) -> tuple[str, Any]:
    sql, params = articles.order_by().values("pk").query.sql_with_params()
    return sql, params


def search(
    articles: QuerySet[Article], query: str, parsed: ParsedQuery, *, limit: int, offset: int
) -> list[Found]:
    """The best ``limit`` matches after ``offset`` among ``articles`` (the title and snippet
    are made in Python from the articles' text, ``text.highlight`` and ``text.snippet``)."""
    readable_sql, readable_params = _ids(articles)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT rowid, -bm25({TABLE}, {WEIGHTS}) AS rank
              FROM {TABLE}
             WHERE {TABLE} MATCH %s AND +rowid IN ({readable_sql})
             ORDER BY rank DESC, rowid DESC
             LIMIT %s OFFSET %s
            """,  # noqa: S608 - the ORM's SQL, values as parameters
            [match_expression(parsed), *readable_params, limit, offset],
        )
        return [Found(pk, float(rank)) for pk, rank in cursor.fetchall()]


def suggest(
    articles: QuerySet[Article], words: Sequence[str], prefix: str | None, *, limit: int
) -> list[Found]:
    """The best ``limit`` of ``articles`` whose title or tags (with the service) hold any of
    ``words`` or a word starting with ``prefix`` (stemmed), with the title highlighted: those
    holding all of them first, then the others, each by bm25.

    Like PostgreSQL's, the candidates are bounded (SUGGEST_CANDIDATES readable articles holding
    all the words, as many holding any), so a subject of common words costs no more than a
    rare one; below that bound the order is exact."""
    stems = list(dict.fromkeys(text.stem(w) for w in words))
    prefix_stem = text.stem(prefix) if prefix else None
    terms = [_quoted([s]) for s in stems] + ([_quoted([prefix_stem]) + "*"] if prefix_stem else [])
    # Titles hold few words: checking each matching article (by its id) costs less here than
    # listing every readable one, which for an agent means reading the whole article table.
    this_row = RawSQL(f"{TABLE}.rowid", ())  # noqa: S611 - a column name, no input
    readable_sql, readable_params = (
        articles.order_by().filter(pk=this_row).values("pk").query.sql_with_params()
    )
    tier = f"""
        SELECT * FROM (SELECT rowid AS id, -bm25({TABLE}, {WEIGHTS}) AS rank, %s AS tier FROM {TABLE}
                        WHERE {TABLE} MATCH %s AND EXISTS ({readable_sql}) LIMIT {SUGGEST_CANDIDATES})
    """  # noqa: S608 - the ORM's SQL and constants; the values are parameters
    tiers = [(2, "{title tags} : (" + " OR ".join(terms) + ")")]
    if len(terms) > 1:
        tiers.insert(0, (1, "{title tags} : (" + " AND ".join(terms) + ")"))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT c.id, c.rank, a.title, min(c.tier) AS best_tier
              FROM ({" UNION ALL ".join([tier] * len(tiers))}) AS c
              CROSS JOIN kb_article AS a ON a.id = c.id
             GROUP BY c.id
             ORDER BY best_tier, c.rank DESC, c.id DESC
             LIMIT %s
            """,  # noqa: S608 - the ORM's SQL and constants; the values are parameters
            [p for number, expression in tiers for p in (number, expression, *readable_params)] + [limit],
        )
        # (c.rank is that of the row with min(c.tier): SQLite's rule for a bare column next to
        # min(), so an article holding all the words keeps its rank in that query.)
        rows = cursor.fetchall()
    prefixes = (prefix_stem,) if prefix_stem else ()
    return [Found(pk, float(rank), text.highlight(title, stems, prefixes)) for pk, rank, title, _tier in rows]
