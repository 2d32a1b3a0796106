"""On PostgreSQL, a trigram index makes "text in subject" fast at a million tickets.

Django's ``icontains`` compiles to ``UPPER(subject) LIKE UPPER('%text%')``; a GIN trigram index
on ``UPPER(subject)`` serves exactly that expression. SQLite has no equivalent; there the filter
scans, which is acceptable at SQLite's scale.
"""

from django.db import migrations


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        'CREATE INDEX IF NOT EXISTS ticket_subject_trgm_idx ON tickets_ticket USING gin (UPPER("subject") gin_trgm_ops)'
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS ticket_subject_trgm_idx")


class Migration(migrations.Migration):
    dependencies = [("tickets", "0002_seed_lines_and_matrix")]
    operations = [migrations.RunPython(create, drop)]
