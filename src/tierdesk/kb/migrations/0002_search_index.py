"""The knowledge base's search index (``tierdesk.kb.search``), in the form each database needs.

PostgreSQL: two ``tsvector`` columns of ``kb_article`` (the title, tags and service as
``search_head``; all of it with the text as ``search_document``), each with a GIN index. The
ORM does not know them; ``kb.search.postgres`` writes and reads them.

SQLite: the FTS5 table ``kb_article_fts`` (stemmed words of the title, tags and text; rowid =
article id) and a trigger that drops an article's row with the article.

Articles that exist already are indexed here, so the index is complete after ``migrate``.
Both directions work (``migrate kb 0001`` drops it all).
"""

from django.db import migrations

SQLITE_TABLE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS kb_article_fts USING fts5("
    "title, tags, body, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')"
)
SQLITE_TRIGGER = (
    "CREATE TRIGGER IF NOT EXISTS kb_article_fts_delete AFTER DELETE ON kb_article "
    "BEGIN DELETE FROM kb_article_fts WHERE rowid = old.id; END"
)


def create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE kb_article ADD COLUMN IF NOT EXISTS search_head tsvector, "
            "ADD COLUMN IF NOT EXISTS search_document tsvector"
        )
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS kb_article_search_head_idx ON kb_article USING gin (search_head)"
        )
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS kb_article_search_document_idx ON kb_article USING gin (search_document)"
        )
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_TABLE)
        schema_editor.execute(SQLITE_TRIGGER)
    else:
        return
    if apps.get_model("kb", "Article").objects.exists():
        from tierdesk.kb.search import reindex_articles

        reindex_articles()


def drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS kb_article_search_head_idx")
        schema_editor.execute("DROP INDEX IF EXISTS kb_article_search_document_idx")
        schema_editor.execute(
            "ALTER TABLE kb_article DROP COLUMN IF EXISTS search_head, DROP COLUMN IF EXISTS search_document"
        )
    elif vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS kb_article_fts_delete")
        schema_editor.execute("DROP TABLE IF EXISTS kb_article_fts")


class Migration(migrations.Migration):
    dependencies = [("kb", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
