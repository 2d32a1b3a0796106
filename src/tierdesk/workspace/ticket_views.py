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
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from tierdesk.accounts.models import User
from tierdesk.common.errors import Conflict, DomainError
from tierdesk.kb import selectors as kb_selectors
from tierdesk.kb import services as kb_services
from tierdesk.kb.forms import KnowledgeReplyForm
from tierdesk.mail import selectors as mail_selectors
from tierdesk.sla.status import sla_overview
from tierdesk.tickets import selectors as tickets
from tierdesk.tickets import services as ticket_services
from tierdesk.tickets.choices import TRANSITIONS, EntryKind, Status
from tierdesk.tickets.models import SupportLine, Ticket, parse_ticket_number
from tierdesk.workspace import history, selectors, services
from tierdesk.workspace.access import staff, staff_required
from tierdesk.workspace.forms import (
    AssignForm,
    LineMoveForm,
    TicketEditForm,
    TicketRefForm,
    TransitionForm,
    UnlinkForm,
    VersionedForm,
)

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
    _link_inserted_articles(ticket, user, data.get("kb_articles") or [])
    return done


def _link_inserted_articles(ticket: Ticket, user: User, article_ids: list[int]) -> None:
    """Knowledge-base articles whose link or text the agent inserted into the reply are linked
    to the ticket with it (those he may read; one already linked keeps its "solved" mark)."""
    if not article_ids:
        return
    linked = {link.article_id for link in kb_selectors.articles_for_ticket(ticket, user)}
    for article in kb_selectors.visible_articles(user).filter(pk__in=article_ids):
        if article.pk not in linked:
            kb_services.link_article_to_ticket(ticket, article, actor=user)


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


def _unlink(ticket: Ticket, user: User, data: dict[str, Any]) -> str:
    other = selectors.linked_ticket(ticket, data["number"])
    if other is None:
        raise DomainError(
            _("%(number)s is not related to this ticket.") % {"number": data["number"]}, field="number"
        )
    ticket_services.unlink_tickets(ticket, other=other, actor=user)
    return _("%(number)s is no longer related to this ticket.") % {"number": other.number}


def _edit(ticket: Ticket, user: User, data: dict[str, Any]) -> str:
    # Only what the agent actually changed is sent, so an edit never rewrites (and audits)
    # fields he left alone.
    current = {name: getattr(ticket, name) for name in TicketEditForm.FIELDS if name != "category"}
    current["category"] = ticket.category_id
    changes = {
        name: data[name]
        for name in TicketEditForm.FIELDS
        if getattr(data[name], "pk", data[name]) != current[name]
    }
    if not changes:
        return _("Nothing was changed.")
    ticket_services.update_ticket(
        ticket, actor=user, changes=changes, expected_version=data["expected_version"]
    )
    return _("The ticket was updated.")


ACTIONS: dict[str, tuple[type[VersionedForm], Action]] = {
    "reply": (KnowledgeReplyForm, _reply),
    "take": (VersionedForm, _take),
    "assign": (AssignForm, _assign),
    "transition": (TransitionForm, _transition),
    "escalate": (LineMoveForm, _escalate),
    "deescalate": (LineMoveForm, _deescalate),
    "merge": (TicketRefForm, _merge),
    "link": (TicketRefForm, _link),
    "unlink": (UnlinkForm, _unlink),
    "edit": (TicketEditForm, _edit),
}


def _form_kwargs(form_class: type[VersionedForm], ticket: Ticket) -> dict[str, Any]:
    """What a form needs besides the posted data: the choices that depend on the ticket."""
    if form_class is AssignForm:
        return {"agents": selectors.assignable_agents()}
    if form_class is TicketEditForm:
        return {"categories": selectors.edit_categories(ticket)}
    return {}


def _forms(ticket: Ticket, user: User, bound: dict[str, forms.Form] | None = None) -> dict[str, Any]:
    """Unbound forms for every action (the one that failed stays bound with its errors)."""
    initial = {"expected_version": ticket.version}
    agents = selectors.assignable_agents()
    line_level = ticket.current_line.level
    lines = list(SupportLine.objects.filter(is_active=True).order_by("level"))
    built: dict[str, Any] = {
        "reply": KnowledgeReplyForm(
            initial={**initial, "visibility": "public" if _may_reply(ticket, user) else "internal"}
        ),
        "take": VersionedForm(initial=initial, auto_id="take_%s"),
        "assign": AssignForm(initial=initial, agents=agents, auto_id="assign_%s"),
        "transition": TransitionForm(initial=initial, auto_id="transition_%s"),
        "escalate": LineMoveForm(initial=initial, auto_id="escalate_%s"),
        "deescalate": LineMoveForm(initial=initial, auto_id="deescalate_%s"),
        "merge": TicketRefForm(initial=initial, auto_id="merge_%s"),
        "link": TicketRefForm(initial=initial, auto_id="link_%s"),
        "edit": TicketEditForm(
            initial={
                **initial,
                "subject": ticket.subject,
                "type": ticket.type,
                "category": ticket.category_id,
                "impact": ticket.impact,
                "urgency": ticket.urgency,
            },
            categories=selectors.edit_categories(ticket),
            auto_id="edit_%s",
        ),
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
    tab = "history" if request.GET.get("tab") == "history" else "conversation"
    # Each tab reads only what it shows: the conversation, or the (longer) audit history.
    entries, events = [], []
    if tab == "history":
        events = history.describe_events(tickets.ticket_history(ticket))
    else:
        entries = tickets.conversation(ticket, user)
        for entry in entries:
            entry.event_label = history.event_label(entry.event)  # type: ignore[attr-defined]
    context = {
        "ticket": ticket,
        "entries": entries,
        "attachments": [a for a in tickets.ticket_attachments(ticket, user) if a.entry_id is None],
        "history": events,
        "canned": selectors.canned_answers_for(ticket),
        "forms": _forms(ticket, user, bound),
        "may_reply": _may_reply(ticket, user),
        "kinds": EntryKind,
        "conflict": conflict,
        "related": [(pk, Ticket(pk=pk).number) for pk in selectors.related_ticket_ids(ticket)],
        "tab": tab,
        "sla": sla_overview(ticket),
        "outbound": mail_selectors.ticket_outbound_messages(ticket),
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
    form = form_class(request.POST, request.FILES, **_form_kwargs(form_class, current))
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
    """A canned answer's text with its placeholders filled in, as JSON ``{"text": ...}``; the
    page inserts it at the cursor of the reply box (only the browser knows where that is)."""
    user = staff(request)
    current = tickets.get_ticket(user, ref)
    pk = request.GET.get("canned", "")
    answer = next((a for a in selectors.canned_answers_for(current) if str(a.pk) == pk), None)
    if answer is None:
        raise Http404
    return JsonResponse({"text": selectors.render_canned(answer, ticket=current, agent=user)})


@staff_required
@require_GET
def attachment(request: HttpRequest, pk: int) -> FileResponse:
    """Download a file of a ticket the agent may see (404 otherwise, like the ticket itself).

    Served as a download with a clean name and headers that keep a browser from rendering an
    uploaded page or script as one of ours."""
    item = tickets.get_attachment(staff(request), pk)
    response = FileResponse(
        item.file.open("rb"),
        as_attachment=True,
        filename=ticket_services.safe_filename(item.filename),
        content_type=item.content_type,
    )
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["X-Content-Type-Options"] = "nosniff"
    return response
