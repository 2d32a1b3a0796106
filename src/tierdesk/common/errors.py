"""Errors that services raise. Each carries a message that tells the user what to fix.

The API turns them into JSON (``{"detail": ..., "code": ...}``) with a fitting status; the web UI
shows the message. Objects the user may not see are never reported through these errors: that
is a plain 404 (``django.http.Http404``), indistinguishable from "does not exist".
"""

from __future__ import annotations


class DomainError(Exception):
    """A request the domain rules refuse; nothing was changed. HTTP 400."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = str(message)
        self.field = field
        if code:
            self.code = code


class NotPermitted(DomainError):
    """The actor may see the object but may not do this to it. HTTP 403."""

    status_code = 403
    code = "not_permitted"


class Conflict(DomainError):
    """The object changed since the caller read it, or the change clashes with its state. HTTP 409."""

    status_code = 409
    code = "conflict"
