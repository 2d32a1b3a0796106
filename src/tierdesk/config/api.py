"""The HTTP API at /api/v1 (OpenAPI at /api/v1/docs): routers of each app and error handling."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError

from tierdesk.accounts.api import router as me_router
from tierdesk.common.api import ActiveSessionAuth, TokenAuth, error_body
from tierdesk.common.errors import DomainError
from tierdesk.orgs.api import router as orgs_router
from tierdesk.tickets.api import attachments_router, config_router
from tierdesk.tickets.api import router as tickets_router

api = NinjaAPI(
    title="Tierdesk API",
    version="1",
    description="Tickets, organisations and contacts of the Tierdesk service desk. "
    "Authenticate with `Authorization: Bearer <token>` (tokens are issued in the admin) "
    "or a browser session.",
    auth=[TokenAuth(), ActiveSessionAuth()],
    urls_namespace="api-v1",
)
api.add_router("/me", me_router)
api.add_router("/organisations", orgs_router)
api.add_router("/tickets", tickets_router)
api.add_router("/attachments", attachments_router)
api.add_router("/", config_router)


@api.exception_handler(DomainError)
def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return api.create_response(request, error_body(exc), status=exc.status_code)


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
    messages = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    first = next(iter(messages.items()))
    return api.create_response(
        request,
        {"detail": f"{first[0]}: {' '.join(first[1])}", "code": "invalid", "errors": messages},
        status=400,
    )
