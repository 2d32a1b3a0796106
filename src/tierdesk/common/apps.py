from __future__ import annotations

from django.apps import AppConfig


class CommonConfig(AppConfig):
    """Shared helpers with no models: restricted querysets, errors, request ids, pagination."""

    name = "tierdesk.common"
    label = "common"

    def ready(self) -> None:
        # The __casefold transform and its SQLite function (registered on each new connection).
        from tierdesk.common import lookups  # noqa: F401
