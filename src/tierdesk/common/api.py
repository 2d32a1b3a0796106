"""Shared pieces of the HTTP API: authentication, error responses, the caller."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, cast

from django.http import HttpRequest
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
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


# --- Schema validation errors (422) ------------------------------------------------------------


def _problem(error: dict[str, Any]) -> str:
    """What is wrong with one value, in the caller's language (pydantic says it in English)."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return _("This field is required.")
    if kind == "extra_forbidden":
        return _("Unknown field: check its name against the API documentation.")
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return _("Enter a whole number.")
    if kind in ("float_parsing", "float_type", "decimal_parsing"):
        return _("Enter a number.")
    if kind in ("bool_parsing", "bool_type"):
        return _("Enter true or false.")
    if kind == "string_type":
        return _("Enter text.")
    if kind in ("string_too_long", "string_too_short", "too_long") and ctx:
        limit = int(ctx.get("max_length", ctx.get("min_length", 0)))
        if kind == "string_too_long":
            counted = ngettext(
                "Enter at most %(limit)d character.", "Enter at most %(limit)d characters.", limit
            )
        elif kind == "string_too_short":
            counted = ngettext(
                "Enter at least %(limit)d character.", "Enter at least %(limit)d characters.", limit
            )
        else:
            counted = ngettext("Send at most %(limit)d item.", "Send at most %(limit)d items.", limit)
        return counted % {"limit": limit}
    if kind == "string_pattern_mismatch":
        return _("This value is not in the expected form.")
    bounds = {
        "greater_than_equal": ("ge", _("Enter a value of at least %(limit)s.")),
        "greater_than": ("gt", _("Enter a value greater than %(limit)s.")),
        "less_than_equal": ("le", _("Enter a value of at most %(limit)s.")),
        "less_than": ("lt", _("Enter a value less than %(limit)s.")),
    }
    if kind in bounds and bounds[kind][0] in ctx:
        key, message = bounds[kind]
        return message % {"limit": ctx[key]}
    if kind in ("enum", "literal_error") and "expected" in ctx:
        # pydantic lists them in English ("1, 2 or 3"): commas read in any language.
        return _("Choose one of: %(choices)s.") % {"choices": str(ctx["expected"]).replace(" or ", ", ")}
    if kind.startswith("date") and "time" not in kind:
        return _("Enter a date as YYYY-MM-DD.")
    if kind.startswith(("datetime", "timezone")):
        return _("Enter a date and time in ISO 8601, e.g. 2026-01-31T09:00:00+03:00.")
    if kind in ("list_type", "tuple_type", "set_type"):
        return _("Send a list.")
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return _("Send an object.")
    if kind == "json_invalid":
        return _("The request body must be a JSON object in UTF-8.")
    # Our own validators' messages (ValueError), and anything pydantic adds later.
    return str(error.get("msg", "")).removeprefix("Value error, ") or _("This value is not valid.")


def _field(location: list[Any]) -> str:
    """``["body", "payload", "requester_id"]`` -> ``requester_id``; ``["query", "limit"]`` ->
    ``limit``; list items keep their index (``tags.3``)."""
    parts = list(location[1:])
    if location[:1] == ["body"] and len(parts) > 1:
        parts = parts[1:]  # the handler's parameter name, not a field the caller sent
    return ".".join(str(part) for part in parts)


def validation_error_body(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """A 422 in the shape of every other error — ``detail`` (the first problem, readable and
    translated), ``code``, ``field`` — plus ``errors``: each problem with its ``field``, its
    ``message``, and pydantic's ``type`` and ``loc``."""
    problems = [
        {
            "field": _field(list(error.get("loc", []))),
            "message": _problem(error),
            "type": error.get("type", ""),
            "loc": list(error.get("loc", [])),
        }
        for error in errors
    ]
    first = problems[0] if problems else {"field": "", "message": _("The request is not valid.")}
    detail = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return {"detail": detail, "code": "invalid", "field": first["field"], "errors": problems}
