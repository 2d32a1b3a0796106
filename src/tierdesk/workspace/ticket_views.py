"""The ticket page of the agent workspace and the actions posted from it.

Every action form carries ``expected_version``; the change is applied only if the ticket is
still at that version (``services.apply_if_current``), otherwise the page is shown again with
the conflict message and the current state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from tierdesk.accounts.models import User
from tierdesk.audit.choices import EventType
from tierdesk.common.errors import Conflict, DomainError
from tierdesk.tickets import selectors as tickets
from tierdesk.tickets import services as ticket_services
from tierdesk.tickets.choices import TRANSITIONS, EntryKind, Status
from tierdesk.tickets.models import SupportLine, Ticket, TicketLink, parse_ticket_number
from tierdesk.workspace import selectors, services
from tierdesk.workspace.access import staff, staff_required
from tierdesk.workspace.forms import (
    AssignForm,
    LineMoveForm,
    ReplyForm,
    TicketRefForm,
    TransitionForm,
    VersionedForm,
)

EVENT_LABELS: dict[str, Any] = dict(EventType.choices)  # lazy labels: translated when shown

Action = Callable[[Ticket, User, dict[str, Any]], str]


def _other_ticket(user: User, number: str) -> Ticket:
    """The ticket a merge or link points at; unknown and invisible look the same."""
    if parse_ticket_number(number) is None:
        raise DomainError(_("“%(number)s” is not a ticket number.") % {"number": number}, field="number")
    try:
        return tickets.get_ticket(user, number, related=False)
    except Http404:
        raise DomainError(_("There is no ticket %(number)s.") % {"number": number}, field="number") from None


def _reply(ticket: Ticket, user: User, data: dict[str, Any]) -> str:
    if data["visibility"] == "public":
        entry = ticket_services.add_public_reply(ticket, actor=user, body=data["body"], channel="web_form")
        done = _("Your reply was sent.")
    else:
        entry = ticket_services.add_internal_note(ticket, actor=user, body=data["body"])
        done = _("Your note was added.")
    for upload in data.get("attachments") or []:
        ticket_services.add_attachment(
            ticket, actor=user, file=upload, filename=upload.name or "", entry=entry
        )
    return done


def _take(ticket: Ticket, user: User, data: dict[str, Any]) -> str:
    ticket_services.assign_ticket(ticket, assignee=user, actor=user)
    return _("You took the ticket.")


def _assign(ticket: Ticket, user: User, data: dict[str, Any]) -> str:
    ticket_services.assign_ticket(ticket, assignee=data["assignee"], actor=user)
    return _("The assignment was changed.")


def _transition(ticket: Ticket, user: User, data: dict[str, Any]) -> str:
    ticket_services.transition_ticket(ticket, to_status=data["status"], actor=user, comment=data["comment"])
    return _("The status was changed.")


def _escalate(ticket: Ticket, user: User, data: dict[str, Any]) -> str:
    ticket_services.escalate_ticket(ticket, to_line=data["line"], actor=user, reason=data["reason"])
    return _("The ticket was escalated.")


def _deescalate(ticket: Ticket, user: User, data: dict[str, Any]) -> str:
    ticket_services.deescalate_ticket(ticket, to_line=data["line"], actor=user, reason=data["reason"])
    return _("The ticket was returned to a lower line.")


def _merge(ticket: Ticket, user: User, data: dict[str, Any]) -> str:
    into = _other_ticket(user, data["number"])
    ticket_services.merge_ticket(ticket, into=into, actor=user, reason=data["reason"])
    return _("The ticket was merged into %(number)s.") % {"number": into.number}


def _link(ticket: Ticket, user: User, data: dict[str, Any]) -> str:
    other = _other_ticket(user, data["number"])
    ticket_services.link_tickets(ticket, other=other, actor=user)
    return _("The tickets are now linked.")


ACTIONS: dict[str, tuple[type[VersionedForm], Action]] = {
    "reply": (ReplyForm, _reply),
    "take": (VersionedForm, _take),
    "assign": (AssignForm, _assign),
    "transition": (TransitionForm, _transition),
    "escalate": (LineMoveForm, _escalate),
    "deescalate": (LineMoveForm, _deescalate),
    "merge": (TicketRefForm, _merge),
    "link": (TicketRefForm, _link),
}


def _forms(ticket: Ticket, user: User, bound: dict[str, forms.Form] | None = None) -> dict[str, Any]:
    """Unbound forms for every action (the one that failed stays bound with its errors)."""
    initial = {"expected_version": ticket.version}
    agents = selectors.assignable_agents()
    line_level = ticket.current_line.level
    lines = list(SupportLine.objects.filter(is_active=True).order_by("level"))
    built: dict[str, Any] = {
        "reply": ReplyForm(
            initial={**initial, "visibility": "public" if _may_reply(ticket, user) else "internal"}
        ),
        "take": VersionedForm(initial=initial, auto_id="take_%s"),
        "assign": AssignForm(initial=initial, agents=agents, auto_id="assign_%s"),
        "transition": TransitionForm(initial=initial, auto_id="transition_%s"),
        "escalate": LineMoveForm(initial=initial, auto_id="escalate_%s"),
        "deescalate": LineMoveForm(initial=initial, auto_id="deescalate_%s"),
        "merge": TicketRefForm(initial=initial, auto_id="merge_%s"),
        "link": TicketRefForm(initial=initial, auto_id="link_%s"),
    }
    built |= bound or {}
    # Offer only what the tables allow: next statuses, lines above / below the current one.
    targets = TRANSITIONS.get(ticket.status, frozenset())
    built["transition"].fields["status"].choices = [(v, label) for v, label in Status.choices if v in targets]
    built["escalate"].fields["line"].choices = [("", "—")] + [
        (x.pk, str(x)) for x in lines if x.level > line_level
    ]
    built["deescalate"].fields["line"].choices = [("", "—")] + [
        (x.pk, str(x)) for x in lines if x.level < line_level
    ]
    built["assign"].fields["assignee"].queryset = agents
    return built


def _may_reply(ticket: Ticket, user: User) -> bool:
    return ticket_services.may_reply_publicly(ticket, user)


def _render_ticket(
    request: HttpRequest,
    ticket: Ticket,
    *,
    bound: dict[str, forms.Form] | None = None,
    conflict: str = "",
    status: int = 200,
) -> HttpResponse:
    user = staff(request)
    may_reply = _may_reply(ticket, user)
    links = TicketLink.objects.filter(source=ticket) | TicketLink.objects.filter(target=ticket)
    related_ids = sorted(
        {pk for link in links.values_list("source_id", "target_id") for pk in link} - {ticket.pk}
    )
    entries = tickets.conversation(ticket, user)
    for entry in entries:
        entry.event_label = EVENT_LABELS.get(entry.event, entry.event)  # type: ignore[attr-defined]
    context = {
        "ticket": ticket,
        "entries": entries,
        "attachments": [a for a in tickets.ticket_attachments(ticket, user) if a.entry_id is None],
        "history": [
            (e, EVENT_LABELS.get(e.event_type, e.event_type)) for e in tickets.ticket_history(ticket)
        ],
        "canned": selectors.canned_answers_for(ticket),
        "forms": _forms(ticket, user, bound),
        "may_reply": may_reply,
        "kinds": EntryKind,
        "conflict": conflict,
        "related": [(pk, Ticket(pk=pk).number) for pk in related_ids],
        "tab": request.GET.get("tab", "conversation"),
    }
    return render(request, "workspace/ticket.html", context, status=status)


@staff_required
@require_GET
def ticket(request: HttpRequest, ref: str) -> HttpResponse:
    """The ticket with its conversation, files, actions and history."""
    return _render_ticket(request, tickets.get_ticket(staff(request), ref))


@staff_required
@require_POST
def ticket_action(request: HttpRequest, ref: str, action: str) -> HttpResponse:
    """Apply one action from the ticket page if the ticket is still as the user saw it."""
    if action not in ACTIONS:
        raise Http404
    user = staff(request)
    current = tickets.get_ticket(user, ref)
    form_class, apply = ACTIONS[action]
    extra: dict[str, Any] = {"agents": selectors.assignable_agents()} if form_class is AssignForm else {}
    form = form_class(request.POST, request.FILES, **extra)
    if action == "reply" and request.POST.get("visibility") == "public" and not _may_reply(current, user):
        form.add_error(
            "visibility", _("Your line does not talk to customers directly; write an internal note.")
        )
    if not form.is_valid():
        return _render_ticket(request, current, bound={action: form}, status=400)
    try:
        done = services.apply_if_current(
            current,
            expected_version=form.cleaned_data["expected_version"],
            change=lambda: apply(current, user, form.cleaned_data),
        )
    except Conflict as exc:
        fresh = tickets.get_ticket(user, current.pk)
        if exc.code == "stale_version":
            return _render_ticket(request, fresh, conflict=exc.message, status=409)
        form.add_error(None, exc.message)
        return _render_ticket(request, fresh, bound={action: form}, status=409)
    except DomainError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return _render_ticket(request, tickets.get_ticket(user, current.pk), bound={action: form}, status=400)
    messages.success(request, done)
    try:
        tickets.get_ticket(user, current.pk, related=False)
    except Http404:  # escalated out of the agent's sight: back to the queue
        return redirect("workspace:queue")
    return redirect("workspace:ticket", ref=current.number)


@staff_required
@require_GET
def canned_text(request: HttpRequest, ref: str) -> HttpResponse:
    """The reply box with a canned answer appended, placeholders filled in (HTMX)."""
    user = staff(request)
    current = tickets.get_ticket(user, ref)
    body = request.GET.get("body", "")[:100_000]
    pk = request.GET.get("canned", "")
    answer = next((a for a in selectors.canned_answers_for(current) if str(a.pk) == pk), None)
    if answer is not None:
        text = selectors.render_canned(answer, ticket=current, agent=user)
        body = f"{body.rstrip()}\n\n{text}" if body.strip() else text
    form = ReplyForm(initial={"body": body})
    return render(request, "workspace/_reply_body.html", {"field": form["body"]})
