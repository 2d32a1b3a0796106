"""The restricted-queryset pattern: permissions live in the queryset, not in views.

Every tenant-scoped model gets a manager whose ``restrict(user, action)`` returns only the rows
that user may act on. Views and API handlers fetch through it, so an object one may not see is
simply not found (404) and never leaks its existence through a 403.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from django.db import models

if TYPE_CHECKING:
    from tierdesk.accounts.models import User


class RestrictedQuerySet(models.QuerySet[Any]):
    """Base queryset; each model implements ``restrict`` with its own rules."""

    def restrict(self, user: User | None, action: str = "view") -> Self:
        raise NotImplementedError
