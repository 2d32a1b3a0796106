"""System checks of the portal's settings, so a mistake shows at start-up (``manage.py check``,
the server's first request) rather than as an error page on the first public form."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import ImproperlyConfigured

from tierdesk.common.clientip import trusted_proxies


@register()
def check_trusted_proxies(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        trusted_proxies()
    except ImproperlyConfigured as exc:
        hint = "List addresses or networks, e.g. 10.0.0.1,192.168.0.0/24."
        return [Error(str(exc), hint=hint, id="portal.E001")]
    return []
