"""The customer portal: requests, registration, the public web forms.

Views parse the input, call one service and render; the services decide and audit. What a
customer may not see is a 404 (``get_ticket`` restricts by organisation and requester).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from tierdesk.accounts.models import User
from tierdesk.common.clientip import client_ip
from tierdesk.common.errors import DomainError
from tierdesk.mail import selectors as mail_selectors
from tierdesk.mail.outgoing import RatingLinkExpired, RatingLinkInvalid
from tierdesk.portal import selectors, services
from tierdesk.portal.forms import (
    CallbackForm,
    FilterForm,
    HoneypotForm,
    InvitationForm,
    NewRequestForm,
    RatingForm,
    RegistrationForm,
    ReplyForm,
    WebRequestForm,
    add_domain_error,
)
from tierdesk.tickets import services as tickets
from tierdesk.tickets.choices import OPEN_STATUSES, Status
from tierdesk.tickets.models import Ticket
from tierdesk.tickets.selectors import get_attachment, get_ticket

View = Callable[..., HttpResponseBase]


def customer_required(view: View) -> View:
    """Signed-in customer contacts only; staff are sent to their workspace, strangers to sign-in."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not getattr(user, "is_customer", False):
            return redirect("home")
        return view(request, *args, **kwargs)

    return wrapper


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _file_errors(error: DomainError) -> DomainError:
    """The attachment service names its field "file" (or "files"); the forms say "attachments"."""
    if error.field in ("file", "files"):
        error.field = "attachments"
    return error


# --- The list of requests -------------------------------------------------------------------


@customer_required
def home(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    requesters = list(selectors.organisation_requesters(user)) if user.is_org_manager else None
    form = FilterForm(request.GET or None, requesters=requesters)
    filters = selectors.PortalFilters()
    if form.is_bound and form.is_valid():
        filters = selectors.PortalFilters(
            status=form.cleaned_data.get("status") or "",
            requester=form.cleaned_data.get("requester"),
            q=form.cleaned_data.get("q") or "",
        )
    try:
        page = selectors.my_requests(user, filters=filters, cursor=request.GET.get("cursor") or None)
    except DomainError as exc:  # a mangled cursor: start again from the first page
        messages.error(request, exc.message)
        page = selectors.my_requests(user, filters=filters)
    rows = [(t, selectors.customer_status(t.status)) for t in page.items]
    query = request.GET.copy()
    query.pop("cursor", None)
    if page.next_cursor:
        query["cursor"] = page.next_cursor
    return render(
        request,
        "portal/home.html",
        {
            "form": form,
            "rows": rows,
            "next_query": query.urlencode() if page.next_cursor else "",
            "is_manager": user.is_org_manager,
            "nav": "home",
        },
    )


# --- Registration and invitations -----------------------------------------------------------


def _site_url(request: HttpRequest) -> str:
    """The portal's address as this visitor reaches it, for the links in mails (Django checks
    the host against ALLOWED_HOSTS, so a forged Host header cannot point a link elsewhere)."""
    return request.build_absolute_uri("/").rstrip("/")


def _register(request: HttpRequest, *, token: str | None = None, initial_email: str = "") -> HttpResponse:
    form = RegistrationForm(request.POST or None, initial={"email": initial_email})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            registration = services.register_customer(
                actor=None,
                email=data["email"],
                password=data["password"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                phone=data["phone"],
                invitation_token=token,
                site_url=_site_url(request),
            )
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            if registration.confirmed:
                login(request, registration.user, backend="django.contrib.auth.backends.ModelBackend")
                messages.success(request, _("Welcome! Your account is ready."))
                return redirect("portal:home")
            email = {"email": registration.user.email}
            if registration.link_sent:
                messages.success(request, _("We sent a confirmation link to %(email)s.") % email)
            else:
                messages.info(
                    request,
                    _(
                        "We sent a confirmation link to %(email)s a few minutes ago; please use that "
                        "one, or register again later for a new one."
                    )
                    % email,
                )
            return redirect("portal:register_sent")
    status = 400 if form.is_bound and form.errors else 200
    return render(
        request, "portal/register.html", {"form": form, "invited": token is not None}, status=status
    )


def register(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    return _register(request)


def register_invited(request: HttpRequest, token: str) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    invitation = selectors.find_invitation(token)
    if invitation is None or not invitation.is_usable:
        if invitation is None:
            reason = _("This invitation link is not valid.")
        elif invitation.used_at is not None:
            reason = _("This invitation has already been used. Sign in, or reset your password.")
        else:
            reason = _("This invitation has expired; ask for a new one.")
        return render(request, "portal/invitation_invalid.html", {"reason": reason}, status=410)
    return _register(request, token=token, initial_email=invitation.email)


def register_sent(request: HttpRequest) -> HttpResponse:
    """After registering: look for the confirmation link in your mail."""
    return render(request, "portal/register_sent.html")


def activate(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """The link of the confirmation mail of a new account."""
    pending = selectors.find_pending_registration(uidb64)
    if pending is None or not selectors.activation_link_is_valid(pending, token):
        return _activation_unusable(request, str(services.ACTIVATION_LINK_UNUSABLE))
    return _confirm_address(
        request,
        email=pending.user.email,
        confirm=lambda actor: services.activate_registration(pending, actor=actor, token=token),
    )


def claim(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """The link of the confirmation mail of a contact claiming the account the desk keeps."""
    account_claim = selectors.find_claim(uidb64)
    if account_claim is None or not selectors.claim_link_is_valid(account_claim, token):
        return _activation_unusable(request, str(services.ACTIVATION_LINK_UNUSABLE))
    return _confirm_address(
        request,
        email=account_claim.user.email,
        confirm=lambda actor: services.confirm_claim(account_claim, actor=actor, token=token),
    )


def _confirm_address(
    request: HttpRequest, *, email: str, confirm: Callable[[User | None], User]
) -> HttpResponse:
    """Opening a confirmation link asks for one click (a POST) to confirm: mail filters that open
    every link to scan it must not use up the link or sign in. ``confirm`` is the service."""
    if request.method != "POST":
        return render(request, "portal/activate.html", {"email": email})
    try:
        user = confirm(_user(request) if request.user.is_authenticated else None)
    except DomainError as exc:
        return _activation_unusable(request, exc.message)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(request, _("Thank you, your address is confirmed. Welcome!"))
    return redirect("portal:home")


def _activation_unusable(request: HttpRequest, reason: str) -> HttpResponse:
    return render(request, "portal/activation_invalid.html", {"reason": reason}, status=410)


@customer_required
def invitations(request: HttpRequest) -> HttpResponse:
    """Organisation managers invite colleagues whose addresses are outside the portal domains;
    the invitation goes to the colleague by mail."""
    user = _user(request)
    if not user.is_org_manager or user.organisation is None:
        return redirect("portal:home")
    form = InvitationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        try:
            services.create_invitation(
                user.organisation, actor=user, email=email, site_url=_site_url(request)
            )
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, _("We sent the invitation to %(email)s.") % {"email": email})
            return redirect("portal:invitations")
    return render(
        request,
        "portal/invitations.html",
        {
            "form": form,
            "days": services.INVITATION_DAYS,
            "invitations": selectors.organisation_invitations(user),
            "nav": "invite",
        },
        status=400 if form.is_bound and form.errors else 200,
    )


# --- One request ----------------------------------------------------------------------------


@customer_required
def new_request(request: HttpRequest) -> HttpResponse:
    form = NewRequestForm(
        request.POST or None, request.FILES or None, suggest_url=reverse("kb_portal:suggest")
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            ticket = services.open_request(
                actor=_user(request),
                subject=data["subject"],
                description=data["description"],
                category=data["category"],
                files=data["attachments"],
            )
        except DomainError as exc:
            add_domain_error(form, _file_errors(exc))
        else:
            messages.success(
                request, _("Thank you. Your request %(number)s was registered.") % {"number": ticket.number}
            )
            return redirect("portal:ticket", ref=ticket.number)
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "portal/new.html", {"form": form, "nav": "new"}, status=status)


def _ticket_page(
    request: HttpRequest,
    ticket: Ticket,
    *,
    reply_form: ReplyForm | None = None,
    rating_form: RatingForm | None = None,
    status: int = 200,
) -> HttpResponse:
    closed = ticket.status in (Status.CLOSED, Status.CANCELLED)
    return render(
        request,
        "portal/ticket.html",
        {
            "ticket": ticket,
            "status_label": selectors.customer_status(ticket.status),
            "entries": selectors.public_conversation(ticket),
            "files": selectors.request_files(ticket),
            "commitments": selectors.service_commitments(ticket),
            "reply_form": reply_form or ReplyForm(),
            "rating_form": rating_form or RatingForm(initial={"rating": ticket.rating}),
            "may_reply": not closed,
            "is_resolved": ticket.status == Status.RESOLVED,
            "may_withdraw": ticket.status in OPEN_STATUSES,
            "may_rate": ticket.status in (Status.RESOLVED, Status.CLOSED),
        },
        status=status,
    )


@customer_required
def ticket_detail(request: HttpRequest, ref: str) -> HttpResponse:
    return _ticket_page(request, get_ticket(_user(request), ref))


@customer_required
@require_POST
def ticket_reply(request: HttpRequest, ref: str) -> HttpResponse:
    user = _user(request)
    ticket = get_ticket(user, ref)
    form = ReplyForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.reply_to_request(
                ticket, actor=user, body=form.cleaned_data["body"], files=form.cleaned_data["attachments"]
            )
        except DomainError as exc:
            error = _file_errors(exc)
            if error.field in form.fields:
                form.add_error(error.field, error.message)
            else:  # about the request itself (closed, out of the reopen window): above the page
                messages.error(request, error.message)
        else:
            messages.success(request, _("Your reply was sent."))
            return redirect("portal:ticket", ref=ticket.number)
    return _ticket_page(request, get_ticket(user, ref), reply_form=form, status=400)


# What each button asks for, and what to say when it worked.
_ACTIONS: dict[str, tuple[str, Promise]] = {
    "close": (Status.CLOSED, gettext_lazy("Thank you; the request is closed.")),
    "reopen": (Status.IN_PROGRESS, gettext_lazy("The request was reopened; we will look at it again.")),
    "withdraw": (Status.CANCELLED, gettext_lazy("The request was withdrawn.")),
}


@customer_required
@require_POST
def ticket_status(request: HttpRequest, ref: str) -> HttpResponse:
    user = _user(request)
    ticket = get_ticket(user, ref)
    action = request.POST.get("action", "")
    if action not in _ACTIONS:
        messages.error(request, _("Unknown action."))
        return redirect("portal:ticket", ref=ticket.number)
    to_status, done = _ACTIONS[action]
    try:
        tickets.transition_ticket(
            ticket, to_status=to_status, actor=user, comment=request.POST.get("comment", "")[:2000]
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, str(done))
    return redirect("portal:ticket", ref=ticket.number)


@customer_required
@require_POST
def ticket_rate(request: HttpRequest, ref: str) -> HttpResponse:
    user = _user(request)
    ticket = get_ticket(user, ref)
    form = RatingForm(request.POST)
    if form.is_valid():
        try:
            tickets.rate_ticket(
                ticket, rating=form.cleaned_data["rating"], actor=user, comment=form.cleaned_data["comment"]
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Thank you for your rating."))
        return redirect("portal:ticket", ref=ticket.number)
    return _ticket_page(request, ticket, rating_form=form, status=400)


@require_http_methods(["GET", "POST"])
def rate_by_link(request: HttpRequest, token: str) -> HttpResponse:
    """The one-click rating link of a "resolved" mail: no sign-in, the signed token names the
    ticket and its requester (``tierdesk.mail.outgoing.rating``). GET only shows the choice,
    preselecting ``?score=`` (mail scanners open links; opening one must change nothing); the
    form's POST rates, as the requester."""
    try:
        ticket, requester = mail_selectors.ticket_to_rate(token)
    except RatingLinkExpired:
        reason = _("This rating link has expired. Sign in to the portal to rate the request there.")
        return render(request, "portal/rating_link_invalid.html", {"reason": reason}, status=400)
    except RatingLinkInvalid:
        reason = _("This rating link is not valid. Please use the link from the mail as it is.")
        return render(request, "portal/rating_link_invalid.html", {"reason": reason}, status=404)
    status = 200
    if request.method == "POST":
        form = RatingForm(request.POST)
        if form.is_valid():
            try:
                tickets.rate_ticket(
                    ticket,
                    rating=form.cleaned_data["rating"],
                    actor=requester,
                    comment=form.cleaned_data["comment"],
                )
            except DomainError as exc:
                add_domain_error(form, exc)
                status = exc.status_code
            else:
                messages.success(request, _("Thank you for your rating."))
                return redirect("portal:rate_by_link", token=token)
        else:
            status = 400
    else:
        score = request.GET.get("score", "")
        preselected = int(score) if score in {"1", "2", "3", "4", "5"} else ticket.rating
        form = RatingForm(initial={"rating": preselected, "comment": ticket.rating_comment})
    context = {
        "ticket": ticket,
        "form": form,
        "may_rate": ticket.status in (Status.RESOLVED, Status.CLOSED),
    }
    return render(request, "portal/rate_link.html", context, status=status)


@customer_required
def attachment(request: HttpRequest, attachment_id: int) -> FileResponse:
    """Download a file of a request the customer may see (never an internal one)."""
    item = get_attachment(_user(request), attachment_id)
    response = FileResponse(
        item.file.open("rb"), as_attachment=True, filename=item.filename, content_type=item.content_type
    )
    # Never let a browser render an uploaded file as a page of ours.
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- Public forms ---------------------------------------------------------------------------


def _over_rate_limit(request: HttpRequest, scope: str) -> bool:
    """Count this submission against the client's address; True once it is over the limit."""
    limit, window = settings.TIERDESK_PORTAL_FORM_RATE
    key = f"portal:rate:{scope}:{client_ip(request)}"
    cache.add(key, 0, timeout=window)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.set(key, 1, timeout=window)
        count = 1
    return bool(count > limit)


def _rate_limit_message() -> str:
    minutes = max(1, -(-settings.TIERDESK_PORTAL_FORM_RATE[1] // 60))  # the window, rounded up
    return ngettext(
        "Too many requests were sent from your address. Please wait %(minutes)d minute, "
        "or call the service desk.",
        "Too many requests were sent from your address. Please wait %(minutes)d minutes, "
        "or call the service desk.",
        minutes,
    ) % {"minutes": minutes}


def _public_form_view(
    *, form_class: type[HoneypotForm], template: str, scope: str, service: Callable[..., Ticket]
) -> View:
    """The view of one public form: the form, the honeypot, the rate limit per client address
    (``scope`` keeps each form's count apart), then ``service`` with the form's fields.

    The public forms are embedded in clients' intranets (an iframe on another site), so they
    allow framing and skip CSRF: there is no session or account behind them to protect, and a
    forged submission can do nothing a direct one cannot. For the same reason the service gets
    ``actor=None`` even when someone happens to be signed in: a cross-site post must never act
    as him. Spam is held off by the honeypot field and the rate limit instead.
    """

    @csrf_exempt
    @xframe_options_exempt
    def view(request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return render(request, template, {"form": form_class()})
        if _over_rate_limit(request, scope):
            context = {"form": form_class(), "refused": _rate_limit_message()}
            return render(request, template, context, status=429)
        form = form_class(request.POST)
        if form.is_spam():
            # Pretend success so a bot learns nothing; nothing is created.
            return render(request, template, {"done": True, "number": ""})
        if form.is_valid():
            try:
                ticket = service(actor=None, **form.payload())
            except DomainError as exc:
                add_domain_error(form, exc)
            else:
                return render(request, template, {"done": True, "number": ticket.number})
        return render(request, template, {"form": form}, status=400)

    return view


web_form = _public_form_view(
    form_class=WebRequestForm, template="portal/web_form.html", scope="form", service=services.submit_web_form
)
callback = _public_form_view(
    form_class=CallbackForm,
    template="portal/callback.html",
    scope="callback",
    service=services.request_callback,
)
