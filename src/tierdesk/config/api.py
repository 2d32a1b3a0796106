"""The HTTP API at /api/v1 (OpenAPI at /api/v1/docs): routers of each app and error handling."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from tierdesk.accounts.api import router as me_router
from tierdesk.common.api import ActiveSessionAuth, ObjectParser, TokenAuth, error_body, validation_error_body
from tierdesk.common.errors import DomainError
from tierdesk.kb.api import router as kb_router
from tierdesk.mail.api import router as mail_router
from tierdesk.orgs.api import router as orgs_router
from tierdesk.sla.api import router as sla_router
from tierdesk.tickets.api import attachments_router, config_router
from tierdesk.tickets.api import router as tickets_router

api = NinjaAPI(
    title="Tierdesk API",
    version="1",
    description="Tickets, organisations and contacts, service levels, e-mail and the knowledge base "
    "of the Tierdesk service desk. "
    "Authenticate with `Authorization: Bearer <token>` (tokens are issued in the admin) "
    "or a browser session.",
    auth=[TokenAuth(), ActiveSessionAuth()],
    parser=ObjectParser(),
    urls_namespace="api-v1",
)
api.add_router("/me", me_router)
api.add_router("/organisations", orgs_router)
api.add_router("/tickets", tickets_router)
api.add_router("/attachments", attachments_router)
api.add_router("/sla", sla_router)
api.add_router("/mail", mail_router)
api.add_router("/kb", kb_router)
api.add_router("/", config_router)


@api.exception_handler(DomainError)
def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return api.create_response(request, error_body(exc), status=exc.status_code)


@api.exception_handler(ValidationError)
def on_schema_validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """A body, query or path value the schema refuses: 422 with ``detail``, ``code`` and
    ``field`` like every other error, and all the problems in ``errors``."""
    return api.create_response(request, validation_error_body(list(exc.errors)), status=422)


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return api.create_response(request, {"detail": _("Not found."), "code": "not_found"}, status=404)


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(
        request,
        {
            "detail": _("Authentication required: send “Authorization: Bearer <token>” or sign in."),
            "code": "not_authenticated",
        },
        status=401,
    )


@api.exception_handler(DjangoValidationError)
def on_model_validation(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    """A model's own rule (``clean``): 400 in the shape of a 422 — ``detail``, ``code``,
    ``field`` and every problem in ``errors``."""
    messages = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    problems = [
        {"field": "" if name == "__all__" else name, "message": message}
        for name, texts in messages.items()
        for message in texts
    ]
    first = problems[0]
    detail = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    body = {"detail": detail, "code": "invalid", "field": first["field"], "errors": problems}
    return api.create_response(request, body, status=400)


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    message = str(exc)
    if exc.status_code == 400 and message.startswith("Cannot parse request body"):
        body = {"detail": _("The request body must be a JSON object in UTF-8."), "code": "malformed_body"}
    elif exc.status_code == 403 and "CSRF" in message:
        body = {
            "detail": _("The CSRF token is missing or wrong; reload the page and try again."),
            "code": "csrf",
        }
    else:
        body = {"detail": message, "code": "error"}
    return api.create_response(request, body, status=exc.status_code)


@api.exception_handler(RequestDataTooBig)
def on_body_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    from django.conf import settings

    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return api.create_response(
        request,
        {
            "detail": ngettext(
                "The request body is larger than %(limit)d byte; send less data or upload files separately.",
                "The request body is larger than %(limit)d bytes; send less data or upload files separately.",
                limit,
            )
            % {"limit": limit},
            "code": "too_large",
        },
        status=413,
    )
