"""Shared pieces of the HTTP API: authentication, error responses, the caller."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, cast

from django.http import HttpRequest
from django.utils import translation
from django.utils.translation import gettext as _
from ninja import Schema
from ninja.parser import Parser
from ninja.security import HttpBearer, SessionAuth
from pydantic import ConfigDict, Field

from tierdesk.common.errors import DomainError

if TYPE_CHECKING:
    from tierdesk.accounts.models import User


class InputSchema(Schema):
    """Base of every request body: unknown keys are refused (422) instead of silently ignored,
    so a typo such as ``{"assignee": 5}`` cannot turn into "unassign"."""

    model_config = ConfigDict(extra="forbid")


class ObjectParser(Parser):
    """JSON bodies must be objects; ``[...]`` or ``"..."`` would otherwise validate as ``{}``."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        data = super().parse_body(request)
        if not isinstance(data, dict):
            raise ValueError("the request body is not a JSON object")
        return data


# Database ids: positive 64-bit integers. Anything else is a 422 naming the field, never an
# overflow deep in the database driver.
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]


def _use_language_of(user: User) -> None:
    """Answer in the language the person chose in Tierdesk, over the browser's guess."""
    if user.language:
        translation.activate(user.language)


class TokenAuth(HttpBearer):
    """``Authorization: Bearer <token>`` for integrations; the token acts as its user."""

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        from tierdesk.accounts.selectors import user_for_token

        user = user_for_token(token)
        if user is not None:
            request.user = user
            _use_language_of(user)
        return user


class ActiveSessionAuth(SessionAuth):
    """The browser's session (with CSRF protection on unsafe methods)."""

    def _get_key(self, request: HttpRequest) -> str | None:
        # CSRF protects signed-in cookie sessions only. Without one there is nothing to forge,
        # and the caller must hear "authenticate" (401), not "CSRF check failed" (403).
        if not request.user.is_authenticated:
            return None
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = super().authenticate(request, key)
        if user is None or not user.is_active:
            return None
        _use_language_of(user)
        return user


def expected_version(request: HttpRequest, in_body: int | None) -> int | None:
    """The version an editor says he changed, for optimistic locking: ``If-Match`` (``"3"``,
    ``W/"3"`` or ``3``, the ``ETag`` a read returned) or ``expected_version`` in the body; both
    may be sent if they agree. ``None`` when neither is (the edit is then unconditional)."""
    header = request.headers.get("If-Match")
    if header is None:
        return in_body
    tag = header.strip().removeprefix("W/").strip('"')
    if not (tag.isascii() and tag.isdigit() and 0 < len(tag) <= 10):
        raise DomainError(
            _('If-Match must name the version you edited, as in If-Match: "3".'), field="If-Match"
        )
    if in_body is not None and in_body != int(tag):
        raise DomainError(_("If-Match and expected_version name different versions."), field="If-Match")
    return int(tag)


def caller(request: HttpRequest) -> User:
    """The authenticated user of an API request."""
    return cast("User", request.auth)  # type: ignore[attr-defined]


def error_body(exc: DomainError) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": exc.message, "code": exc.code}
    if exc.field:
        body["field"] = exc.field
    return body


def unknown_reference(field: str, value: object) -> DomainError:
    """A referenced object that does not exist or that the caller may not see (same message)."""
    return DomainError(
        _("No %(field)s with id %(value)s that you can use.") % {"field": field, "value": value},
        field=field,
        code="unknown_reference",
    )
