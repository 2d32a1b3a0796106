"""Documented size limits of inputs (see docs/limits in the README). Errors name the limit."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from tierdesk.common.errors import DomainError

SUBJECT_MAX_CHARS = 250
BODY_MAX_CHARS = 100_000
REASON_MAX_CHARS = 2_000
FILENAME_MAX_CHARS = 150


def clean_text(value: str | None, *, field: str, max_chars: int, required: bool = True) -> str:
    """Strip ``value`` and check it is present (if required) and not longer than ``max_chars``.

    NUL characters are refused: PostgreSQL cannot store them and they never belong in text.
    """
    text = (value or "").strip()
    if required and not text:
        raise DomainError(_("%(field)s must not be empty.") % {"field": field}, field=field, code="required")
    if len(text) > max_chars:
        # The noun goes with the length (its plural form depends on it); the limit stands bare,
        # so one ngettext serves both numbers in every language.
        raise DomainError(
            ngettext(
                "%(field)s is too long: %(length)d character, at most %(limit)d are allowed.",
                "%(field)s is too long: %(length)d characters, at most %(limit)d are allowed.",
                len(text),
            )
            % {"field": field, "length": len(text), "limit": max_chars},
            field=field,
            code="too_long",
        )
    if "\x00" in text:
        raise DomainError(_("%(field)s contains a NUL character.") % {"field": field}, field=field)
    return text
