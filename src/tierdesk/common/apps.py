from django.apps import AppConfig


class CommonConfig(AppConfig):
    """Shared helpers with no models: restricted querysets, errors, request ids, pagination."""

    name = "tierdesk.common"
    label = "common"
