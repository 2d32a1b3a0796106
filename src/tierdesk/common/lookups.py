"""``__casefold``: text compared without case in every alphabet, on both databases.

SQLite's ``LIKE`` and ``lower()`` fold the case of ASCII letters only, so ``icontains`` did
not find «Иванов» for «иванов» there. The transform lowers the column with Python's
``str.casefold`` on SQLite (a function registered on each connection; contact look-ups read a
few thousand short rows) and with ``LOWER()`` on PostgreSQL, whose case mapping is Unicode's
already. Compare it with a value folded the same way (``casefold(text)``), e.g.
``Q(last_name__casefold__contains=casefold(text))``.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

SQLITE_FUNCTION = "tierdesk_casefold"


def casefold(value: str) -> str:
    """The value as the transform folds a column (``str.casefold``)."""
    return value.casefold()


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


@models.CharField.register_lookup
@models.TextField.register_lookup
class Casefold(models.Transform):
    lookup_name = "casefold"
    function = "LOWER"

    def as_sqlite(self, compiler: Any, connection: BaseDatabaseWrapper, **extra: Any) -> Any:
        return super().as_sql(compiler, connection, function=SQLITE_FUNCTION, **extra)


def register_sqlite_function(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """``connection_created`` receiver (connected in ``CommonConfig.ready``)."""
    if connection.vendor == "sqlite":
        connection.connection.create_function(SQLITE_FUNCTION, 1, _fold, deterministic=True)


connection_created.connect(register_sqlite_function, dispatch_uid="tierdesk.common.casefold")
