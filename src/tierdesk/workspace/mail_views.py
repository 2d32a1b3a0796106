"""Received e-mail that needs a person: the held list (agents and administrators), the
quarantine and every received message (administrators), one message with its actions, the
raw source, and clearing an address's bounce mark from a person's card.

Views parse a form, call one service of ``tierdesk.mail.services`` and redirect; a domain error
shows the page again with the message and nothing changed. What a user may not see is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from tierdesk.accounts.models import User
from tierdesk.common.errors import DomainError
from tierdesk.common.pagination import keyset_page
from tierdesk.mail import selectors as mail
from tierdesk.mail import services as mail_services
from tierdesk.mail.choices import InboundState
from tierdesk.mail.models import InboundMessage
from tierdesk.mail.parsing import MailParseError, parse_message
from tierdesk.orgs.models import Organisation
from tierdesk.orgs.selectors import visible_organisations
from tierdesk.tickets import selectors as tickets
from tierdesk.workspace import selectors
from tierdesk.workspace.access import staff, staff_required

PAGE_SIZE = 100
# The body preview shows this many characters of the message's text (the source has all).
PREVIEW_CHARS = 20_000
# Held and quarantined messages are read newest first through the partial index
# ``inbound_open_idx`` (state, received_at); every received message by the primary key, the
# only index over all of them (ids grow with the time of arrival).
OPEN_ORDERING = ["-received_at", "-id"]
ALL_ORDERING = ["-id"]

# The tabs of the list: key, the state it lists ("" = every state), administrators only.
TABS: list[tuple[str, Any, str, bool]] = [
    ("held", gettext_lazy("Held"), InboundState.HELD, False),
    ("quarantine", gettext_lazy("Quarantine"), InboundState.QUARANTINED, True),
    ("all", gettext_lazy("All received"), "", True),
]


# --- Forms ------------------------------------------------------------------------------------


class StateFilterForm(forms.Form):
    state = forms.ChoiceField(
        label=gettext_lazy("State"),
        required=False,
        choices=[("", gettext_lazy("Any state")), *InboundState.choices],
    )
    cursor = forms.CharField(required=False, max_length=500, widget=forms.HiddenInput)


class AssignMessageForm(forms.Form):
    organisation = forms.ModelChoiceField(
        label=gettext_lazy("Organisation"),
        queryset=Organisation.objects.none(),
        empty_label=gettext_lazy("Choose the organisation"),
        help_text=gettext_lazy("The sender becomes its contact and the request is created for it."),
    )

    def __init__(self, *args: Any, organisations: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "assign_%s")
        super().__init__(*args, **kwargs)
        self.fields["organisation"].queryset = organisations  # type: ignore[attr-defined]


class DiscardMessageForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=255,
        help_text=gettext_lazy("Why the message needs no request (spam, a test…). Kept in the record."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "discard_%s")
        super().__init__(*args, **kwargs)


class RetryMessageForm(forms.Form):
    """No fields: the button and the CSRF token."""


# --- The list ---------------------------------------------------------------------------------


def _without(request: HttpRequest, *names: str) -> str:
    params = request.GET.copy()
    for name in names:
        params.pop(name, None)
    return params.urlencode()


@staff_required
@require_GET
def mail_list(request: HttpRequest) -> HttpResponse:
    """One tab of received mail, newest first, ``PAGE_SIZE`` rows a page (keyset pagination:
    the "older" link carries the last row's sort key)."""
    user = staff(request)
    key = request.GET.get("tab") or "held"
    tab = next((t for t in TABS if t[0] == key), None)
    if tab is None or (tab[3] and not user.is_admin):
        raise Http404
    form = StateFilterForm(request.GET)
    data = form.cleaned_data if form.is_valid() else {}
    state = tab[2] or data.get("state") or ""
    error = ""
    rows = mail.received_messages(user, state=state)
    ordering = ALL_ORDERING if key == "all" else OPEN_ORDERING
    try:
        page = keyset_page(rows, ordering=ordering, cursor=data.get("cursor") or None, limit=PAGE_SIZE)
    except DomainError as exc:  # a forged or outdated cursor
        error = exc.message
        page = keyset_page(rows, ordering=ordering, cursor=None, limit=PAGE_SIZE)
    older = ""
    if page.next_cursor:
        params = request.GET.copy()
        params["cursor"] = page.next_cursor
        older = params.urlencode()
    return render(
        request,
        "workspace/mail_list.html",
        {
            "tabs": [
                {"key": k, "label": label} for k, label, _state, admin in TABS if user.is_admin or not admin
            ],
            "tab": key,
            "form": form,
            "page": page,
            "older_query": older,
            "error": error,
            "newest_query": _without(request, "cursor") if data.get("cursor") else "",
        },
    )


@staff_required
@require_GET
def mail_badge(request: HttpRequest) -> HttpResponse:
    """The number of held messages for the main navigation, loaded after the page (so no page
    waits for it). Counting held messages reads the partial index ``inbound_open_idx``."""
    count = mail.received_messages(staff(request), state=InboundState.HELD).order_by().count()
    return render(request, "workspace/mail_badge.html", {"count": count})


# --- One message ------------------------------------------------------------------------------


@dataclass
class Preview:
    """What the page shows of a message's content: its recipients, its text (cut at
    ``PREVIEW_CHARS``) and the names of its files, or why it could not be read."""

    text: str = ""
    truncated: bool = False
    to: str = ""
    cc: str = ""
    attachments: list[tuple[str, int]] = field(default_factory=list)
    error: str = ""


def may_read_source(user: User, message: InboundMessage) -> bool:
    """The content and the raw source: administrators, and staff for held messages (the ones
    they must read to place); the rest is read on its ticket."""
    return user.is_admin or message.state == InboundState.HELD


def _preview(message: InboundMessage) -> Preview:
    limit = settings.TIERDESK_MAIL_MAX_BYTES
    if message.raw_size > limit:
        return Preview(error=_("The message is larger than the limit of %(size)s bytes.") % {"size": limit})
    try:
        with message.raw.open("rb") as fh:
            raw = fh.read()
    except OSError:
        return Preview(error=_("The source of this message is missing from the storage."))
    try:
        parsed = parse_message(raw, max_bytes=limit)
    except MailParseError as exc:
        return Preview(error=str(exc))
    text = parsed.text or ""
    return Preview(
        text=text[:PREVIEW_CHARS],
        truncated=len(text) > PREVIEW_CHARS,
        to=", ".join(parsed.to),
        cc=", ".join(parsed.cc),
        attachments=[(a.filename or _("(no name)"), len(a.data or b"")) for a in parsed.attachments],
    )


def _organisations(user: User) -> Any:
    """The organisations a held message may become a request of: active clients the user serves."""
    return visible_organisations(user).filter(is_provider=False, is_active=True)


def _render_message(
    request: HttpRequest,
    message: InboundMessage,
    *,
    bound: dict[str, forms.Form] | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    user = staff(request)
    readable = may_read_source(user, message)
    held = message.state == InboundState.HELD
    quarantined = message.state == InboundState.QUARANTINED
    built: dict[str, forms.Form] = {}
    if held:
        built["assign"] = AssignMessageForm(organisations=_organisations(user))
        built["discard"] = DiscardMessageForm()
    elif quarantined and user.is_admin:
        built["retry"] = RetryMessageForm()
        built["discard"] = DiscardMessageForm()
    for name, form in (bound or {}).items():
        if name in built:
            built[name] = form
        else:  # the message changed state meanwhile: that action is gone, its error stays
            error = error or " ".join(str(e) for errors in form.errors.values() for e in errors)
    return render(
        request,
        "workspace/mail_message.html",
        {
            "message": message,
            "readable": readable,
            "preview": _preview(message) if readable else None,
            "forms": built,
            "error": error,
            "back": reverse("workspace:mail")
            + ("" if held else "?tab=quarantine" if quarantined else "?tab=all"),
        },
        status=status,
    )


@staff_required
@require_GET
def mail_message(request: HttpRequest, pk: int) -> HttpResponse:
    """A received message: its headers, state, reason or error, a preview of the text and the
    actions its state allows."""
    return _render_message(request, mail.get_received_message(staff(request), pk))


@staff_required
@require_GET
def mail_source(request: HttpRequest, pk: int) -> FileResponse:
    """The raw message as received (``.eml``), as a download only: never rendered by the
    browser as a page of ours."""
    user = staff(request)
    message = mail.get_received_message(user, pk)
    if not may_read_source(user, message):
        raise Http404
    try:
        fh = message.raw.open("rb")
    except OSError:
        raise Http404 from None
    response = FileResponse(
        fh, as_attachment=True, filename=f"message-{message.pk}.eml", content_type="message/rfc822"
    )
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _failed(
    request: HttpRequest, pk: int, action: str, form: forms.Form, exc: DomainError | MailParseError
) -> HttpResponse:
    """Show the message again (as it is now) with the error on the form that failed."""
    message = mail.get_received_message(staff(request), pk)
    text = exc.message if isinstance(exc, DomainError) else str(exc)
    name = getattr(exc, "field", None)
    form.add_error(name if name in form.fields else None, text)
    status = getattr(exc, "status_code", 400)
    return _render_message(request, message, bound={action: form}, status=status)


@staff_required
@require_POST
def assign_message(request: HttpRequest, pk: int) -> HttpResponse:
    """Create the request of a held message for an organisation the user serves, then open it."""
    user = staff(request)
    message = mail.get_received_message(user, pk)
    form = AssignMessageForm(request.POST, organisations=_organisations(user))
    if not form.is_valid():
        return _render_message(request, message, bound={"assign": form}, status=400)
    try:
        message = mail_services.assign_message(
            message, organisation=form.cleaned_data["organisation"], actor=user
        )
    except (DomainError, MailParseError) as exc:
        return _failed(request, pk, "assign", form, exc)
    if message.ticket_id is None:  # the service always links one; be safe
        return redirect("workspace:mail_message", pk=message.pk)
    ticket = message.ticket
    assert ticket is not None
    messages.success(request, _("Ticket %(number)s was created.") % {"number": ticket.number})
    try:
        tickets.get_ticket(user, ticket.pk, related=False)
    except Http404:  # created on a line the user does not work: back to the list
        return redirect("workspace:mail")
    return redirect("workspace:ticket", ref=ticket.number)


@staff_required
@require_POST
def discard_message(request: HttpRequest, pk: int) -> HttpResponse:
    """Set a held (staff) or quarantined (administrators) message aside, with a reason."""
    user = staff(request)
    message = mail.get_received_message(user, pk)
    form = DiscardMessageForm(request.POST)
    if not form.is_valid():
        return _render_message(request, message, bound={"discard": form}, status=400)
    was_held = message.state == InboundState.HELD
    try:
        mail_services.discard_message(message, actor=user, reason=form.cleaned_data["reason"])
    except DomainError as exc:
        return _failed(request, pk, "discard", form, exc)
    messages.success(request, _("The message was discarded."))
    return redirect(reverse("workspace:mail") + ("" if was_held else "?tab=quarantine"))


@staff_required
@require_POST
def retry_message(request: HttpRequest, pk: int) -> HttpResponse:
    """Import a quarantined message again (administrators)."""
    user = staff(request)
    if not user.is_admin:
        raise Http404
    message = mail.get_received_message(user, pk)
    form = RetryMessageForm(request.POST)
    try:
        message = mail_services.retry_message(message, actor=user)
    except DomainError as exc:
        return _failed(request, pk, "retry", form, exc)
    if message.state == InboundState.QUARANTINED:
        messages.warning(
            request,
            _("The import failed again; the message stays quarantined: %(error)s") % {"error": message.error},
        )
    else:
        messages.success(
            request, _("The message was imported: %(state)s.") % {"state": message.get_state_display()}
        )
    return redirect("workspace:mail_message", pk=message.pk)


# --- A person's failing address ---------------------------------------------------------------


@staff_required
@require_POST
def clear_failing_address(request: HttpRequest, pk: int) -> HttpResponse:
    """Mail to the person's address works again: remove its bounce mark."""
    user = staff(request)
    person = selectors.get_person(user, pk)
    failing = mail.failing_address(person.email) if person.email else None
    if failing is None:
        messages.info(request, _("Mail to this address is not marked as failing."))
        return redirect("workspace:person", pk=person.pk)
    try:
        mail_services.clear_failing_address(failing, actor=user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Mail to %(address)s will be sent again.") % {"address": failing.address})
    return redirect("workspace:person", pk=person.pk)
