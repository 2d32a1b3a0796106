"""The agent workspace: queues, saved views, bulk actions, people, phone intake, canned answers.

The ticket page and its actions live in ``ticket_views``. Views parse a form, call services and
render; domain errors are shown to the user as form errors or messages.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from tierdesk.accounts.models import User
from tierdesk.common.errors import Conflict, DomainError
from tierdesk.mail import selectors as mail_selectors
from tierdesk.orgs.selectors import visible_organisations
from tierdesk.sla.status import sla_overview
from tierdesk.tickets import selectors as tickets
from tierdesk.tickets import services as ticket_services
from tierdesk.tickets.choices import OPEN_STATUSES
from tierdesk.tickets.models import Category, SupportLine, Team, Ticket
from tierdesk.workspace import selectors, services
from tierdesk.workspace.access import staff, staff_required
from tierdesk.workspace.forms import BulkForm, CannedAnswerForm, IntakeForm, QueueForm, SavedViewForm
from tierdesk.workspace.models import CannedAnswer
from tierdesk.workspace.rows import queue_rows

PAGE_SIZE = 50


def _queue_form(request: HttpRequest) -> QueueForm:
    user = staff(request)
    return QueueForm(
        request.GET or None,
        organisations=visible_organisations(user).filter(is_provider=False),
        categories=Category.objects.filter(is_active=True).select_related("parent"),
        agents=selectors.assignable_agents(),
    )


def _filters(request: HttpRequest, form: QueueForm) -> tuple[selectors.WorkspaceFilters, str, str | None]:
    user = staff(request)
    data: dict[str, Any] = form.cleaned_data if form.is_bound and form.is_valid() else {}
    conditions: dict[str, Any] = {
        "organisation": data["organisation"].pk if data.get("organisation") else None,
        "status": [data["status"]] if data.get("status") else sorted(OPEN_STATUSES),
        "priority": [data["priority"]] if data.get("priority") else None,
        "type": data.get("type") or None,
        "category": data["category"].pk if data.get("category") else None,
        "channel": data.get("channel") or None,
        "q": data.get("q") or None,
        "sla": data.get("sla") or None,
    }
    conditions |= selectors.tab_conditions(user, form.current_tab())
    if data.get("assignee"):
        conditions["assignee"] = data["assignee"].pk
    return (
        selectors.WorkspaceFilters(**conditions),
        data.get("sort") or "priority",
        data.get("cursor") or None,
    )


def _query_without(request: HttpRequest, *names: str) -> str:
    params = request.GET.copy()
    for name in names:
        params.pop(name, None)
    return params.urlencode()


def _seen_ids(request: HttpRequest) -> set[int] | None:
    """The ticket ids the previous render of the rows showed (``seen=1,2,3``, sent by the
    poll), or None on a first render, where nothing counts as new."""
    raw = request.GET.get("seen")
    if raw is None:
        return None
    return {int(x) for x in raw.split(",")[: PAGE_SIZE * 2] if x.isascii() and x.isdigit() and len(x) <= 18}


def _poll_url(request: HttpRequest, shown: list[int]) -> str:
    """The rows' refresh URL: this queue, plus the ids shown now so the next render can tell
    which rows are new (the rows replace themselves, so each render carries its own set)."""
    params = request.GET.copy()
    for name in ("partial", "seen"):
        params.pop(name, None)
    params["seen"] = ",".join(str(pk) for pk in shown)
    return f"{reverse('workspace:queue')}?{params.urlencode()}"


@staff_required
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    """A queue tab with filters, sorting and keyset pagination; the rows alone for HTMX polling."""
    user = staff(request)
    form = _queue_form(request)
    filters, ordering, cursor = _filters(request, form)
    error = ""
    try:
        page = tickets.ticket_page(user, filters=filters, ordering=ordering, cursor=cursor, limit=PAGE_SIZE)
    except DomainError as exc:  # a forged or outdated cursor
        error = exc.message
        page = tickets.ticket_page(user, filters=filters, ordering=ordering, cursor=None, limit=PAGE_SIZE)
    base = _query_without(request, "cursor", "seen")
    shown = [t.pk for t in page.items]
    seen = _seen_ids(request)
    now = timezone.now()  # one moment for every row's SLA
    new_ids = set() if seen is None else set(shown) - seen
    context: dict[str, Any] = {
        "page": page,
        "rows_html": queue_rows([(t, sla_overview(t, now)) for t in page.items], new_ids),
        "form": form,
        "error": error,
        "next_query": "",
        "base_query": base,
        "new_ids": new_ids,
        "poll_url": _poll_url(request, shown),
    }
    if page.next_cursor:
        params = request.GET.copy()
        params.pop("seen", None)
        params["cursor"] = page.next_cursor
        context["next_query"] = params.urlencode()
    if getattr(request, "htmx", False):
        return render(request, "workspace/_queue_rows.html", context)
    tab = form.current_tab()
    tabs_context = _tabs(request, tab, counts=None)
    lines = SupportLine.objects.filter(is_active=True)
    context |= tabs_context | {
        "tab": tab,
        "saved_views": selectors.saved_views(user),
        "save_form": SavedViewForm(initial={"query": _query_without(request, "cursor", "partial", "seen")}),
        "bulk_form": BulkForm(agents=form.fields["assignee"].queryset, lines=lines),  # type: ignore[attr-defined]
    }
    return render(request, "workspace/queue.html", context)


def _tabs(request: HttpRequest, tab: str, counts: dict[str, int] | None) -> dict[str, Any]:
    """The tab links (keeping the filters), with their counts once they are known."""
    params = request.GET.copy()
    for name in ("cursor", "partial", "seen", "tab"):
        params.pop(name, None)
    tabs = []
    for key, label in selectors.TABS:
        params["tab"] = key
        tabs.append(
            {
                "key": key,
                "label": label,
                "count": None if counts is None else counts[key],
                "query": params.urlencode(),
            }
        )
    params["tab"] = tab
    return {
        "tabs": tabs,
        "tab": tab,
        "counts_url": f"{reverse('workspace:queue_counts')}?{params.urlencode()}",
    }


@staff_required
@require_GET
def queue_counts(request: HttpRequest) -> HttpResponse:
    """The tabs with their open-ticket counts. The queue page loads them after it is shown and
    refreshes them every 30 s: counting a busy line's open tickets costs more (32 ms for an L2
    agent at 1M tickets) than the rest of the page, and the rows must not wait for it."""
    tab = request.GET.get("tab", "all")
    context = _tabs(
        request, tab if tab in selectors.TAB_KEYS else "all", selectors.queue_counts(staff(request))
    )
    return render(request, "workspace/_tabs.html", context)


def _safe_next(request: HttpRequest, target: str | None) -> str:
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse("workspace:queue")


def _bulk_change(ticket: Ticket, user: User, data: dict[str, Any]) -> None:
    if data["action"] == "take":
        ticket_services.assign_ticket(ticket, assignee=user, actor=user)
    elif data["action"] == "assign":
        ticket_services.assign_ticket(ticket, assignee=data["assignee"], actor=user)
    elif data["action"] == "transition":
        ticket_services.transition_ticket(ticket, to_status=data["status"], actor=user)
    else:
        ticket_services.escalate_ticket(ticket, to_line=data["line"], actor=user, reason=data["reason"])


@staff_required
@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    """Apply one action to each checked ticket: one service call (one audit event) per ticket,
    each only if the ticket is still at the version the queue showed; the others are skipped
    and named, so the agent looks at them before acting again."""
    user = staff(request)
    form = BulkForm(
        request.POST,
        agents=selectors.assignable_agents(),
        lines=SupportLine.objects.filter(is_active=True),
    )
    form.fields["tickets"].choices = [(v, v) for v in request.POST.getlist("tickets")]  # type: ignore[attr-defined]
    if not form.is_valid():
        for field, errors in form.errors.items():
            for error in errors:
                messages.error(
                    request, f"{form.fields[field].label if field in form.fields else ''}: {error}"
                )
        return redirect(_safe_next(request, request.POST.get("next")))
    data = form.cleaned_data
    done, stale, failed = 0, [], []
    for pk in data["tickets"]:
        try:
            ticket = tickets.get_ticket(user, pk, related=False)
        except Http404:
            failed.append(_("#%(id)s: not found") % {"id": pk})
            continue
        try:
            services.apply_if_current(
                ticket,
                expected_version=data["versions"][pk],
                change=partial(_bulk_change, ticket, user, data),
            )
            done += 1
        except Conflict as exc:
            if exc.code == "stale_version":
                stale.append(ticket.number)
            else:
                failed.append(f"{ticket.number}: {exc.message}")
        except DomainError as exc:
            failed.append(f"{ticket.number}: {exc.message}")
    if done:
        changed = ngettext("%(count)d ticket changed.", "%(count)d tickets changed.", done)
        messages.success(request, changed % {"count": done})
    if stale:
        messages.warning(
            request,
            ngettext(
                "%(numbers)s was changed by someone else after the queue was shown and was left "
                "as it is. Check it and apply the action again if it is still needed.",
                "%(numbers)s were changed by someone else after the queue was shown and were left "
                "as they are. Check them and apply the action again if it is still needed.",
                len(stale),
            )
            % {"numbers": ", ".join(stale)},
        )
    for failure in failed:
        messages.error(request, failure)
    return redirect(_safe_next(request, data.get("next")))


@staff_required
@require_POST
def save_view(request: HttpRequest) -> HttpResponse:
    """Bookmark the current queue under a name."""
    form = SavedViewForm(request.POST)
    if form.is_valid():
        try:
            view = services.save_view(
                actor=staff(request), name=form.cleaned_data["name"], query=form.cleaned_data["query"]
            )
            return redirect(f"{reverse('workspace:queue')}?{view.query}")
        except DomainError as exc:
            messages.error(request, exc.message)
    else:
        messages.error(request, _("Give the view a name."))
    return redirect("workspace:queue")


@staff_required
@require_POST
def delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Forget a saved view of one's own."""
    user = staff(request)
    services.delete_view(selectors.get_saved_view(user, pk), actor=user)
    messages.success(request, _("The view was deleted."))
    return redirect("workspace:queue")


@staff_required
@require_GET
def person(request: HttpRequest, pk: int) -> HttpResponse:
    """A requester's card: contact details (with the bounce mark of his address, if mail to it
    fails), open and recent tickets."""
    user = staff(request)
    someone = selectors.get_person(user, pk)
    open_page = tickets.ticket_page(
        user,
        filters=tickets.TicketFilters(requester=someone.pk, status=sorted(OPEN_STATUSES)),
        ordering="priority",
        limit=50,
    )
    recent_page = tickets.ticket_page(
        user, filters=tickets.TicketFilters(requester=someone.pk), ordering="-created", limit=10
    )
    return render(
        request,
        "workspace/person.html",
        {
            "person": someone,
            "open_tickets": open_page.items,
            "recent_tickets": recent_page.items,
            "failing": mail_selectors.failing_address(someone.email) if someone.email else None,
        },
    )


def _intake_form(request: HttpRequest) -> IntakeForm:
    user = staff(request)
    return IntakeForm(
        request.POST or None,
        contacts=selectors.visible_contacts(user),
        organisations=visible_organisations(user).filter(is_provider=False),
        categories=Category.objects.filter(is_active=True).select_related("parent"),
    )


@staff_required
def new_ticket(request: HttpRequest) -> HttpResponse:
    """Phone intake: register a call as a ticket (channel phone) and open it."""
    user = staff(request)
    form = _intake_form(request)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        new_contact = None
        if data["contact"] is None:
            new_contact = {
                "email": data["new_email"],
                "first_name": data["new_first_name"],
                "last_name": data["new_last_name"],
                "phone": data["new_phone"],
            }
        try:
            ticket = services.register_phone_ticket(
                actor=user,
                organisation=data["organisation"],
                requester=data["contact"],
                new_contact=new_contact,
                ticket_fields={
                    "subject": data["subject"],
                    "description": data["description"],
                    "type": data["type"],
                    "category": data["category"],
                    "impact": data["impact"],
                    "urgency": data["urgency"],
                },
            )
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, _("Ticket %(number)s was created.") % {"number": ticket.number})
            return redirect("workspace:ticket", ref=ticket.number)
    return render(
        request,
        "workspace/new.html",
        {"form": form, "contacts": selectors.find_contacts(user, "", limit=200)},
    )


@staff_required
@require_GET
def contact_lookup(request: HttpRequest) -> HttpResponse:
    """The options of the contact select matching the typed name, e-mail or phone (HTMX)."""
    contacts = selectors.find_contacts(staff(request), request.GET.get("lookup", ""))
    return render(request, "workspace/_contact_options.html", {"contacts": contacts})


# --- Canned answers (team leads for their teams; administrators for all) ----------------------


def _canned_form(request: HttpRequest, instance: CannedAnswer | None = None) -> CannedAnswerForm:
    user = staff(request)
    teams = Team.objects.filter(is_active=True) if user.is_admin else Team.objects.filter(lead=user)
    return CannedAnswerForm(
        request.POST or None, instance=instance, teams=teams.order_by("name"), allow_global=user.is_admin
    )


@staff_required
def canned_answers(request: HttpRequest) -> HttpResponse:
    """List, add and change the canned answers one may manage."""
    user = staff(request)
    if not user.is_admin and not Team.objects.filter(lead=user).exists():
        raise Http404
    instance = None
    edit = request.GET.get("edit") or request.POST.get("edit")
    if edit and edit.isdigit():
        instance = selectors.manageable_canned_answers(user).filter(pk=int(edit)).first()
        if instance is None:
            raise Http404
    form = _canned_form(request, instance)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_canned_answer(form.instance, actor=user)
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, _("The canned answer was saved."))
            return redirect("workspace:canned")
    return render(
        request,
        "workspace/canned.html",
        {"form": form, "answers": selectors.manageable_canned_answers(user), "editing": instance},
    )


@staff_required
@require_POST
def delete_canned_answer(request: HttpRequest, pk: int) -> HttpResponse:
    """Remove a canned answer one may manage."""
    user = staff(request)
    answer = selectors.manageable_canned_answers(user).filter(pk=pk).first()
    if answer is None:
        raise Http404
    try:
        services.delete_canned_answer(answer, actor=user)
        messages.success(request, _("The canned answer was deleted."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("workspace:canned")
