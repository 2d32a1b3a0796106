"""On SQLite, an FTS5 trigram index over ticket subjects: "text in subject" without scanning
every ticket, and case-insensitive beyond ASCII.

SQLite's ``LIKE`` (what ``icontains`` compiles to) folds the case of ASCII letters only, so
"принтер" did not find "Принтер не печатает", and it reads every row (60 ms at 100,000 tickets).
The trigram tokenizer indexes every three characters of the subject, folded by Unicode rules;
a query of three or more characters, quoted as one FTS5 string, matches exactly the subjects
that contain it (``tickets.selectors.subject_condition``). An external-content table keeps only
the index (the text stays in ``tickets_ticket``); triggers keep it in step with inserts,
updates of the subject and deletes. PostgreSQL has its trigram GIN index (migration 0003).
"""

from django.db import migrations

TABLE = "tickets_ticket_subject_fts"

CREATE = [
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5("
    "subject, content='tickets_ticket', content_rowid='id', tokenize='trigram')",
    f"CREATE TRIGGER IF NOT EXISTS ticket_subject_fts_insert AFTER INSERT ON tickets_ticket BEGIN "
    f"INSERT INTO {TABLE}(rowid, subject) VALUES (new.id, new.subject); END",
    f"CREATE TRIGGER IF NOT EXISTS ticket_subject_fts_delete AFTER DELETE ON tickets_ticket BEGIN "
    f"INSERT INTO {TABLE}({TABLE}, rowid, subject) VALUES ('delete', old.id, old.subject); END",
    f"CREATE TRIGGER IF NOT EXISTS ticket_subject_fts_update AFTER UPDATE OF subject ON tickets_ticket BEGIN "
    f"INSERT INTO {TABLE}({TABLE}, rowid, subject) VALUES ('delete', old.id, old.subject); "
    f"INSERT INTO {TABLE}(rowid, subject) VALUES (new.id, new.subject); END",
    # The tickets that exist already.
    f"INSERT INTO {TABLE}({TABLE}) VALUES ('rebuild')",
]
DROP = [
    "DROP TRIGGER IF EXISTS ticket_subject_fts_insert",
    "DROP TRIGGER IF EXISTS ticket_subject_fts_delete",
    "DROP TRIGGER IF EXISTS ticket_subject_fts_update",
    f"DROP TABLE IF EXISTS {TABLE}",
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in CREATE:
            schema_editor.execute(statement)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("tickets", "0009_ticket_fk_indexes_covered")]
    operations = [migrations.RunPython(create, drop)]
