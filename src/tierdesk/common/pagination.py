"""Keyset ("cursor") pagination: pages stay fast at any depth, unlike OFFSET.

A page is ordered by a tuple of fields ending in the primary key; the cursor is the last row's
values of those fields, encoded as URL-safe base64 JSON. The next page is the rows strictly
after that tuple in the same ordering.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from tierdesk.common.errors import DomainError


@dataclass(frozen=True)
class Page:
    """One page of results and the cursor of the next page (``None`` on the last page)."""

    items: list[Any]
    next_cursor: str | None


def _encode(values: list[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, dt.datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(cursor: str, size: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise DomainError(
            _("The cursor is not valid; start again from the first page."), field="cursor"
        ) from exc
    if not isinstance(values, list) or len(values) != size:
        raise DomainError(_("The cursor is not valid; start again from the first page."), field="cursor")
    return values


def _after(ordering: list[str], values: list[Any]) -> Q:
    """Rows after ``values`` in ``ordering``: (a > x) | (a = x & b > y) | ... for mixed directions."""
    condition = Q()
    for index, spec in enumerate(ordering):
        field = spec.lstrip("-")
        value = values[index]
        if isinstance(value, str) and (parsed := parse_datetime(value)) is not None and field.endswith("_at"):
            value = parsed
        step = Q(**{f"{field}__{'lt' if spec.startswith('-') else 'gt'}": value})
        for earlier in range(index):
            prev = ordering[earlier].lstrip("-")
            prev_value = values[earlier]
            if isinstance(prev_value, str) and prev.endswith("_at"):
                prev_value = parse_datetime(prev_value) or prev_value
            step &= Q(**{prev: prev_value})
        condition |= step
    return condition


def keyset_page(queryset: QuerySet[Any], *, ordering: list[str], cursor: str | None, limit: int) -> Page:
    """Return one page of ``queryset`` in ``ordering`` (which must end with a unique field)."""
    qs = queryset.order_by(*ordering)
    if cursor:
        qs = qs.filter(_after(ordering, _decode(cursor, len(ordering))))
    rows = list(qs[: limit + 1])
    items = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = _encode([getattr(last, spec.lstrip("-")) for spec in ordering])
    return Page(items=items, next_cursor=next_cursor)
