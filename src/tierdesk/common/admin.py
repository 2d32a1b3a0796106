"""Admin helpers: every admin save goes through a service so it is validated and audited."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin
from django.http import HttpRequest

if TYPE_CHECKING:
    from tierdesk.accounts.models import User


def admin_actor(request: HttpRequest) -> User:
    """The signed-in administrator (the admin site only admits authenticated staff)."""
    return cast("User", request.user)


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records only services write (tickets, audit events): browse, never edit here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class NoDeleteAdmin(admin.ModelAdmin):
    """Configuration rows are deactivated, not deleted: tickets and history refer to them."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
