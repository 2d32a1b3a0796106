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
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db.models import Field, Model, Q, QuerySet
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


def _bad_cursor() -> DomainError:
    return DomainError(_("The cursor is not valid; start again from the first page."), field="cursor")


def _decode(cursor: str, size: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise _bad_cursor() from exc
    if not isinstance(values, list) or len(values) != size:
        raise _bad_cursor()
    return values


def _typed(model: type[Model], ordering: list[str], raw: list[Any]) -> list[Any]:
    """Cursor values converted by the ordering fields themselves; anything a client forged that
    is not a value of that field (or would overflow a 64-bit column) is a 400, not a 500."""
    values = []
    for spec, value in zip(ordering, raw, strict=True):
        field = cast("Field[Any, Any]", model._meta.get_field(spec.lstrip("-")))
        try:
            typed = field.to_python(value)
        except (ValidationError, ValueError, TypeError) as exc:
            raise _bad_cursor() from exc
        if typed is None or (isinstance(typed, int) and not -(2**63) <= typed < 2**63):
            raise _bad_cursor()
        values.append(typed)
    return values


def _after(ordering: list[str], values: list[Any]) -> Q:
    """Rows after ``values`` in ``ordering``: (a > x) | (a = x & b > y) | ... for mixed directions."""
    condition = Q()
    for index, spec in enumerate(ordering):
        step = Q(**{f"{spec.lstrip('-')}__{'lt' if spec.startswith('-') else 'gt'}": values[index]})
        for earlier in range(index):
            step &= Q(**{ordering[earlier].lstrip("-"): values[earlier]})
        condition |= step
    return condition


def keyset_page(queryset: QuerySet[Any], *, ordering: list[str], cursor: str | None, limit: int) -> Page:
    """Return one page of ``queryset`` in ``ordering`` (which must end with a unique field)."""
    qs = queryset.order_by(*ordering)
    if cursor:
        qs = qs.filter(_after(ordering, _typed(queryset.model, ordering, _decode(cursor, len(ordering)))))
    rows = list(qs[: limit + 1])
    items = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = _encode([getattr(last, spec.lstrip("-")) for spec in ordering])
    return Page(items=items, next_cursor=next_cursor)
