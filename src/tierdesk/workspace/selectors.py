"""Reads of the agent workspace: queue tabs and their counts, canned answers, people."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from tierdesk.accounts.choices import Role
from tierdesk.accounts.models import User
from tierdesk.common.lookups import casefold
from tierdesk.tickets.choices import OPEN_STATUSES
from tierdesk.tickets.models import Category, Ticket, TicketLink, parse_ticket_number
from tierdesk.tickets.selectors import TicketFilters, agent_scope
from tierdesk.workspace.models import CannedAnswer, SavedView

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise

OPEN = sorted(OPEN_STATUSES)

# Queue tabs, in the order they are shown.
TABS: list[tuple[str, _StrPromise]] = [
    ("mine", _("My tickets")),
    ("team", _("My teams")),
    ("line", _("My lines")),
    ("unassigned", _("Unassigned")),
    ("all", _("All I may see")),
]
TAB_KEYS = [key for key, _label in TABS]


@dataclass
class WorkspaceFilters(TicketFilters):
    """The queue filters plus what the workspace adds: the channel and the tab's teams/lines."""

    channel: str | None = None
    teams: list[int] | None = None
    lines: list[int] | None = None

    def apply(self, qs: QuerySet[Ticket]) -> QuerySet[Ticket]:
        qs = super().apply(qs)
        if self.channel:
            qs = qs.filter(channel=self.channel)
        if self.teams is not None:
            qs = qs.filter(team_id__in=self.teams)
        if self.lines is not None:
            qs = qs.filter(current_line_id__in=self.lines)
        return qs


def tab_conditions(user: User, tab: str) -> dict[str, Any]:
    """The extra filter a queue tab means for ``user`` (as keyword arguments of WorkspaceFilters)."""
    scope = agent_scope(user)
    if tab == "mine":
        return {"assignee": user.pk}
    if tab == "team":
        return {"teams": sorted(t.team_id for t in scope.teams)}
    if tab == "line":
        return {"lines": sorted(scope.line_ids)}
    if tab == "unassigned":
        return {"unassigned": True}
    return {}


def queue_counts(user: User) -> dict[str, int]:
    """Open tickets per tab, in one query (each count a filtered aggregate)."""
    scope = agent_scope(user)
    teams = sorted(t.team_id for t in scope.teams)
    lines = sorted(scope.line_ids)
    return (
        Ticket.objects.restrict(user)
        .filter(status__in=OPEN)
        .aggregate(
            mine=Count("id", filter=Q(assignee_id=user.pk)),
            team=Count("id", filter=Q(team_id__in=teams)),
            line=Count("id", filter=Q(current_line_id__in=lines)),
            unassigned=Count("id", filter=Q(assignee__isnull=True)),
            all=Count("id"),
        )
    )


def saved_views(user: User) -> list[SavedView]:
    return list(SavedView.objects.filter(user=user))


def get_saved_view(user: User, pk: int) -> SavedView:
    view = SavedView.objects.filter(user=user, pk=pk).first()
    if view is None:
        raise Http404
    return view


def assignable_agents() -> QuerySet[User]:
    """Active staff a ticket can be given to (the service checks the team fits)."""
    return User.objects.filter(role__in=[Role.AGENT, Role.ADMIN], is_active=True).order_by(
        "first_name", "last_name", "username"
    )


def visible_contacts(user: User) -> QuerySet[User]:
    """Active customer contacts ``user`` may see, with their organisation."""
    return (
        User.objects.restrict(user)
        .filter(role=Role.CUSTOMER, is_active=True, organisation__isnull=False)
        .select_related("organisation")
        .order_by("last_name", "first_name", "id")
    )


def find_contacts(user: User, text: str, *, limit: int = 30) -> list[User]:
    """Contacts matching ``text`` in name, e-mail or phone (for the phone intake look-up)."""
    qs = visible_contacts(user)
    text = text.strip()[:100]
    if text:
        # Case folded in every alphabet ("иванов" finds «Иванов»), on SQLite too.
        folded = casefold(text)
        qs = qs.filter(
            Q(first_name__casefold__contains=folded)
            | Q(last_name__casefold__contains=folded)
            | Q(email__casefold__contains=folded)
            | Q(phone__contains=text)
        )
    return list(qs[:limit])


def get_person(user: User, pk: int) -> User:
    """A person ``user`` may see (404 otherwise), with the organisation."""
    person = User.objects.restrict(user).select_related("organisation").filter(pk=pk).first()
    if person is None:
        raise Http404
    return person


# --- One ticket -----------------------------------------------------------------------------


def related_ticket_ids(ticket: Ticket) -> list[int]:
    """Ids of the tickets linked to ``ticket`` (links are stored once, lower id as source)."""
    links = TicketLink.objects.filter(Q(source=ticket) | Q(target=ticket))
    return sorted({pk for pair in links.values_list("source_id", "target_id") for pk in pair} - {ticket.pk})


def linked_ticket(ticket: Ticket, number: str) -> Ticket | None:
    """The ticket ``number`` if it is linked to ``ticket``, else None.

    Not narrowed to what the reader may see: the ticket page already names every related
    ticket, and removing a relation from one's own ticket must work even after the other one
    moved to a line the reader does not serve (the service checks he may act on ``ticket``).
    """
    pk = parse_ticket_number(number)
    if pk is None or pk not in related_ticket_ids(ticket):
        return None
    return Ticket.objects.filter(pk=pk).first()


def edit_categories(ticket: Ticket) -> QuerySet[Category]:
    """Categories a ticket can be filed under: the active ones, plus its current one even if
    retired (so saving other fields does not silently clear it)."""
    condition = Q(is_active=True)
    if ticket.category_id is not None:
        condition |= Q(pk=ticket.category_id)
    return Category.objects.filter(condition).select_related("parent")


# --- Canned answers ---------------------------------------------------------------------------


def canned_answers_for(ticket: Ticket) -> list[CannedAnswer]:
    """Global answers and those of the ticket's team."""
    condition = Q(team__isnull=True)
    if ticket.team_id is not None:
        condition |= Q(team_id=ticket.team_id)
    return list(CannedAnswer.objects.filter(condition))


def manageable_canned_answers(user: User) -> QuerySet[CannedAnswer]:
    """What ``user`` may edit: everything for administrators, his teams' for a team lead."""
    qs = CannedAnswer.objects.select_related("team")
    if user.is_admin:
        return qs
    return qs.filter(team__lead=user)


_PLACEHOLDER = re.compile(r"\{\{\s*(requester\.first_name|ticket\.number|agent\.first_name)\s*\}\}")


def render_canned(answer: CannedAnswer, *, ticket: Ticket, agent: User) -> str:
    """The answer's text with the supported placeholders replaced by plain values.

    Only exactly these placeholders are recognised; anything else (filters, tags, other
    variables) stays literal text, so an answer can never run template code.
    """
    values = {
        "requester.first_name": ticket.requester.first_name,
        "ticket.number": ticket.number,
        "agent.first_name": agent.first_name,
    }
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], answer.body)
