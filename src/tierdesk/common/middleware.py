"""HTTP middleware shared by every app."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from tierdesk.common.context import request_id

# A caller-supplied id (from a proxy or an integration) is kept only if it looks harmless.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Gives every request an id (``X-Request-ID``) that audit events record and responses echo."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response["X-Request-ID"] = rid
        return response


class RequestGuardMiddleware:
    """Refuses what no handler should ever see, before Django reads the body:

    * bodies larger than the largest attachment plus multipart overhead (JSON 413 naming the
      limit; nothing is spooled to disk);
    * NUL characters in query parameters (JSON 400): PostgreSQL cannot store or compare them,
      and no legitimate filter contains one.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.conf import settings
        from django.http import JsonResponse
        from django.utils.translation import gettext as _
        from django.utils.translation import ngettext

        limit = settings.TIERDESK_MAX_ATTACHMENT_BYTES + 1024 * 1024
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if any("\x00" in key or "\x00" in value for key, values in request.GET.lists() for value in values):
            return JsonResponse(
                {"detail": _("A query parameter contains a NUL character."), "code": "invalid"}, status=400
            )
        if length > limit:
            return JsonResponse(
                {
                    # One number takes the noun (its plural form depends on it), the other
                    # stands bare, so one ngettext fits both in every language.
                    "detail": ngettext(
                        "The request is too large: %(size)d byte, at most %(limit)d are accepted.",
                        "The request is too large: %(size)d bytes, at most %(limit)d are accepted.",
                        length,
                    )
                    % {"size": length, "limit": limit},
                    "code": "too_large",
                },
                status=413,
            )
        return self.get_response(request)


class UserLanguageMiddleware:
    """Answers a signed-in person in the language he chose in Tierdesk (English or Russian);
    with no choice, LocaleMiddleware's pick (cookie, then the browser) stands."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.utils import translation

        user = getattr(request, "user", None)
        language = getattr(user, "language", "") if user is not None and user.is_authenticated else ""
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)
