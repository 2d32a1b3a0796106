"""Bench-only: the WSGI application with the change to keyset pagination proposed in
docs/benchmarks.md patched in.

NOT how Tierdesk runs. It exists so that the proposals not yet in src/ can be measured on the
loaded benchmark database (``VARIANT=proposed bench/run.sh``), together with any index listed in
``PROPOSED_INDEXES`` in bench/run.sh. Delete it once the proposal is in src/ (or rejected).

The patch: when every column of the ordering runs in the same direction (true of all of
``selectors.ORDERINGS``), the "after the cursor" condition is one row comparison,
``(priority, created_at, id) > (3, '2026-...', 996427)``, which PostgreSQL uses as an index
bound; the current ``a > x OR (a = x AND b > y) OR ...`` is only a filter, so page n reads and
discards the n-1 pages before it.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.wsgi import get_wsgi_application
from django.db.models import F

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tierdesk.config.settings")
application = get_wsgi_application()

from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan  # noqa: E402

from tierdesk.common import pagination  # noqa: E402

_original_after = pagination._after


def _after(ordering: list[str], values: list[Any]) -> Any:
    directions = {spec.startswith("-") for spec in ordering}
    if len(directions) != 1:
        return _original_after(ordering, values)
    columns = Tuple(*(F(spec.lstrip("-")) for spec in ordering))
    lookup = TupleLessThan if directions.pop() else TupleGreaterThan
    return lookup(columns, tuple(values))


pagination._after = _after
