"""Writing different values to many rows in one statement.

Django's ``bulk_update`` builds a ``CASE WHEN id = ... THEN ...`` expression per field and row;
for the SLA sweep's 1,000 tickets x 6 columns that took seconds of Python before a single
statement reached the database. ``update_rows`` sends the values as a table instead:

    WITH v (id, a, b) AS (VALUES (%s, %s, %s), ...)
    UPDATE t SET a = v.a, b = v.b FROM v WHERE t.id = v.id

which PostgreSQL and SQLite (3.33 and later) both run. Values go through the fields'
``get_db_prep_value``, so they are stored exactly as ``save()`` would store them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, models

# Rows per statement: far below SQLite's 32,766 parameters and PostgreSQL's 65,535.
BATCH_ROWS = 500


def update_rows(objs: Sequence[models.Model], fields: Sequence[str]) -> None:
    """Write ``fields`` of each object in ``objs`` (all of one model) to its row. (No row count:
    SQLite's driver does not report one for an UPDATE that starts with WITH.)"""
    if not objs:
        return
    model = type(objs[0])
    meta = model._meta
    concrete: list[models.Field[Any, Any]] = []
    for name in fields:
        field = meta.get_field(name)
        if not isinstance(field, models.Field) or not field.concrete:
            raise TypeError(f"{name} is not a column of {model.__name__}")
        concrete.append(field)
    quote = connection.ops.quote_name
    columns = [str(f.column) for f in concrete]
    pk = meta.pk
    if pk is None:  # abstract models only
        raise TypeError(f"{model.__name__} has no primary key")
    # PostgreSQL types a VALUES column from its first non-NULL value (or as text when all are
    # NULL), so each placeholder carries the column's type. SQLite has no such types, and a
    # CAST there would turn a date into a number: plain placeholders.
    if connection.vendor == "postgresql":
        types = [pk.db_type(connection), *(f.db_type(connection) for f in concrete)]
        cells = [f"CAST(%s AS {db_type})" for db_type in types]
    else:
        cells = ["%s"] * (len(concrete) + 1)
    row_sql = "(" + ", ".join(cells) + ")"
    names = ", ".join(quote(c) for c in ["id", *[f"v_{c}" for c in columns]])
    assignments = ", ".join(f"{quote(c)} = v.{quote('v_' + c)}" for c in columns)
    with connection.cursor() as cursor:
        for start in range(0, len(objs), BATCH_ROWS):
            batch = objs[start : start + BATCH_ROWS]
            params: list[Any] = []
            for obj in batch:
                params.append(pk.get_db_prep_value(obj.pk, connection))
                params.extend(f.get_db_prep_value(getattr(obj, f.attname), connection) for f in concrete)
            sql = (
                f"WITH v ({names}) AS (VALUES {', '.join([row_sql] * len(batch))}) "  # noqa: S608 - names are the model's own
                f"UPDATE {quote(meta.db_table)} SET {assignments} FROM v "
                f"WHERE {quote(meta.db_table)}.{quote(str(pk.column))} = v.{quote('id')}"
            )
            cursor.execute(sql, params)
