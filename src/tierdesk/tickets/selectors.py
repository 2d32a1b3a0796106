"""Reads of tickets: what a user may see, queues with filters, a ticket's conversation and history."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import connections
from django.db.models import BooleanField, Prefetch, Q, QuerySet, prefetch_related_objects
from django.db.models.expressions import RawSQL
from django.http import Http404

from tierdesk.audit.models import AuditEvent
from tierdesk.audit.selectors import events_for
from tierdesk.common.pagination import Page, keyset_page
from tierdesk.common.process_cache import ProcessCache
from tierdesk.tickets.choices import DEFAULT_PRIORITY_MATRIX, OPEN_STATUSES, EntryKind
from tierdesk.tickets.models import (
    Attachment,
    PriorityMatrixEntry,
    SupportLine,
    Team,
    Ticket,
    TicketEntry,
    parse_ticket_number,
)

if TYPE_CHECKING:
    from tierdesk.accounts.models import User

_SCOPE_ATTR = "_tierdesk_agent_scope"


# --- Desk configuration, cached per process ------------------------------------------------


@dataclass(frozen=True)
class DeskConfig:
    """The support lines and the priority matrix as one immutable snapshot.

    Every ticket creation needs the intake line and a matrix cell, and every queue page the
    lines; they change a few times a year. Reading them from the database cost two queries
    (~1.5 ms) per creation. The snapshot is shared by the threads of a process: treat its
    ``SupportLine`` objects as read-only.
    """

    lines: tuple[SupportLine, ...]
    matrix: Mapping[tuple[int, int], int]

    @property
    def active_lines(self) -> list[SupportLine]:
        """Active lines, lowest level first."""
        return [line for line in self.lines if line.is_active]

    def priority(self, impact: int, urgency: int) -> int:
        """The admins' cell, or the ITIL default for a cell they have deleted."""
        return self.matrix.get((impact, urgency), DEFAULT_PRIORITY_MATRIX[(impact, urgency)])


# How long another process may keep using a snapshot after an administrator changed the
# configuration. The process that made the change drops its snapshot at once (forget_desk_config
# runs on save/delete and on commit); the others see the change within this many seconds.
DESK_CONFIG_TTL_SECONDS = 5.0
_desk_configs: ProcessCache[None, DeskConfig] = ProcessCache(lambda: DESK_CONFIG_TTL_SECONDS)


def desk_config() -> DeskConfig:
    """The current desk configuration snapshot (read at most every few seconds per process)."""
    return _desk_configs.get(None, _read_desk_config)


def _read_desk_config() -> DeskConfig:
    return DeskConfig(
        lines=tuple(SupportLine.objects.order_by("level")),
        matrix={
            (impact, urgency): priority
            for impact, urgency, priority in PriorityMatrixEntry.objects.values_list(
                "impact", "urgency", "priority"
            )
        },
    )


def forget_desk_config(**_kwargs: Any) -> None:
    """Drop this process's snapshot now and when the current transaction commits, so a change
    is seen by the next request here, and never hidden by a snapshot taken before it."""
    _desk_configs.forget()


@dataclass(frozen=True)
class TeamScope:
    team_id: int
    line_id: int
    may_contact_customer: bool
    serves_all_organisations: bool
    organisation_ids: frozenset[int]

    def serves(self, organisation_id: int) -> bool:
        return self.serves_all_organisations or organisation_id in self.organisation_ids


@dataclass(frozen=True)
class AgentScope:
    """What an agent's teams cover: the lines they are on and the organisations they serve."""

    teams: tuple[TeamScope, ...] = ()
    line_ids: frozenset[int] = field(default_factory=frozenset)
    organisation_ids: frozenset[int] = field(default_factory=frozenset)
    all_organisations: bool = False

    def coverage(self) -> dict[int, frozenset[int] | None]:
        """Per line, the organisations the agent's teams on it serve (``None``: all of them)."""
        lines: dict[int, frozenset[int] | None] = {}
        for team in self.teams:
            current = lines.get(team.line_id, frozenset())
            if current is None or team.serves_all_organisations:
                lines[team.line_id] = None
            else:
                lines[team.line_id] = current | team.organisation_ids
        return lines

    def teams_serving(self, organisation_id: int, line_id: int | None = None) -> list[TeamScope]:
        return [
            t for t in self.teams if t.serves(organisation_id) and (line_id is None or t.line_id == line_id)
        ]


# Agent scopes per user id, shared by the threads of a process: (taken at, scope). Every
# request an agent makes needs his scope (what he may see, which tickets he may act on); it
# is one query over teams, lines and organisations, ~1 ms. Team and line changes are rare and
# drop the whole map here at once (apps.py connects forget_agent_scopes to their signals);
# other processes follow within DESK_CONFIG_TTL_SECONDS. Deactivating a user or revoking his
# token takes effect at once everywhere: those are checked on every request.
_agent_scopes: ProcessCache[int, AgentScope] = ProcessCache(lambda: DESK_CONFIG_TTL_SECONDS)


def agent_scope(user: User) -> AgentScope:
    """The agent's teams, lines and organisations (one query: every active team of his on an
    active line, once per organisation it serves), kept per process for a few seconds."""
    cached: AgentScope | None = getattr(user, _SCOPE_ATTR, None)
    if cached is not None:
        return cached
    scope = _agent_scopes.get(user.pk, lambda: _read_agent_scope(user))
    setattr(user, _SCOPE_ATTR, scope)
    return scope


def _read_agent_scope(user: User) -> AgentScope:
    teams_by_id: dict[int, tuple[int, bool, bool]] = {}
    orgs_by_team: dict[int, set[int]] = {}
    for team_id, line_id, may_contact, serves_all, org_id in Team.objects.filter(
        members=user, is_active=True, line__is_active=True
    ).values_list("id", "line_id", "line__may_contact_customer", "serves_all_organisations", "organisations"):
        teams_by_id[team_id] = (line_id, may_contact, serves_all)
        orgs = orgs_by_team.setdefault(team_id, set())
        if org_id is not None:
            orgs.add(org_id)
    teams = tuple(
        TeamScope(
            team_id=team_id,
            line_id=line_id,
            may_contact_customer=may_contact,
            serves_all_organisations=serves_all,
            organisation_ids=frozenset(orgs_by_team[team_id]),
        )
        for team_id, (line_id, may_contact, serves_all) in sorted(teams_by_id.items())
    )
    return AgentScope(
        teams=teams,
        line_ids=frozenset(t.line_id for t in teams),
        organisation_ids=frozenset().union(*(t.organisation_ids for t in teams)) if teams else frozenset(),
        all_organisations=any(t.serves_all_organisations for t in teams),
    )


def forget_agent_scopes(**_kwargs: Any) -> None:
    """Drop every cached scope in this process, now and when the current transaction commits
    (a scope read inside it, before the commit, must not outlive it)."""
    _agent_scopes.forget()


# --- Lists ----------------------------------------------------------------------------------

# Related rows a ticket is shown with. The people and the organisation are joined into the page;
# the small configuration tables (line, team, category and its parent) are read with one query
# each afterwards. Joining all seven made PostgreSQL spend 20-40 ms *planning* the query on every
# request at a million tickets; with three joins planning takes about 1.5 ms.
_LIST_JOINED = ("organisation", "requester", "assignee")
_LIST_PREFETCHED = ("current_line", "team", "category__parent")

# Orderings a queue can be sorted by; each ends with "id" so keyset pagination is exact.
ORDERINGS: dict[str, list[str]] = {
    "priority": ["priority", "created_at", "id"],
    "-created": ["-created_at", "-id"],
    "created": ["created_at", "id"],
    "-updated": ["-updated_at", "-id"],
    "due": ["resolution_due_at", "id"],  # open tickets only; see _due_page
}


@dataclass
class TicketFilters:
    """Filters a queue offers; every one is backed by an index (see ``Ticket.Meta.indexes``)."""

    organisation: int | None = None
    status: list[str] | None = None
    line: int | None = None
    team: int | None = None
    assignee: int | None = None
    unassigned: bool = False
    priority: list[int] | None = None
    type: str | None = None
    category: int | None = None
    requester: int | None = None
    q: str | None = None
    # An SLA state (tierdesk.sla.status.SlaFilter): breached, at_risk or paused. The exception
    # to "every filter has an index": its conditions span several clock columns, so it narrows
    # the rows the other filters and the ordering's index select (queues filter by status).
    sla: str | None = None

    def apply(self, qs: QuerySet[Ticket]) -> QuerySet[Ticket]:
        conditions: dict[str, Any] = {}
        if self.organisation is not None:
            conditions["organisation_id"] = self.organisation
        if self.status:
            conditions["status__in"] = self.status
        if self.line is not None:
            conditions["current_line_id"] = self.line
        if self.team is not None:
            conditions["team_id"] = self.team
        if self.assignee is not None:
            conditions["assignee_id"] = self.assignee
        if self.unassigned:
            conditions["assignee__isnull"] = True
        if self.priority:
            conditions["priority__in"] = self.priority
        if self.type:
            conditions["type"] = self.type
        if self.category is not None:
            conditions["category_id"] = self.category
        if self.requester is not None:
            conditions["requester_id"] = self.requester
        qs = qs.filter(**conditions)
        if self.q:
            text = self.q.strip()
            number = parse_ticket_number(text)
            match = subject_condition(text, qs.db)
            if number is not None:
                match |= Q(pk=number)
            qs = qs.filter(match)
        if self.sla:
            # Imported here: the SLA clock reads this module's desk configuration.
            from tierdesk.sla.status import sla_condition

            qs = qs.filter(sla_condition(self.sla))
        return qs


# The FTS5 trigram index of subjects on SQLite (tickets migration 0010); the text is a parameter.
# "+id" keeps SQLite from driving the query by the list of matches: it reads the queue in its
# order and checks each ticket against the matches, stopping at a page. Driving by the list
# sorted every match of a common word (35 ms for "printer" in 27,000 of 100,000 subjects,
# against 13 ms; a rare word or none: 7-15 ms either way).
_SUBJECT_MATCH = (
    '+"tickets_ticket"."id" IN '
    "(SELECT rowid FROM tickets_ticket_subject_fts WHERE tickets_ticket_subject_fts MATCH %s)"
)


def subject_condition(text: str, using: str = "default") -> Q:
    """Tickets whose subject contains ``text``, ignoring case.

    PostgreSQL: ``UPPER(subject) LIKE UPPER('%text%')`` (``icontains``), served by the trigram
    GIN index of migration 0003. SQLite: the FTS5 trigram index of migration 0010, as one quoted
    FTS5 string (a substring match: FTS5 syntax in the text is only text), which folds the case
    of every alphabet; SQLite's own ``LIKE`` folds ASCII only. Text shorter than a trigram
    falls back to ``icontains``."""
    if connections[using].vendor != "sqlite" or len(text) < 3:
        return Q(subject__icontains=text)
    phrase = '"' + text.replace('"', '""') + '"'
    return Q(RawSQL(_SUBJECT_MATCH, (phrase,), output_field=BooleanField()))  # noqa: S611


def ticket_page(
    user: User,
    *,
    filters: TicketFilters,
    ordering: str = "priority",
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """One page of the tickets ``user`` may see, filtered and in a stable order."""
    qs = filters.apply(Ticket.objects.restrict(user, line=filters.line)).select_related(*_LIST_JOINED)
    if ordering == "due":
        page = _due_page(qs, cursor=cursor, limit=limit)
    else:
        page = keyset_page(qs, ordering=ORDERINGS[ordering], cursor=cursor, limit=limit)
    prefetch_related_objects(page.items, *_LIST_PREFETCHED)
    return page


# A cursor into the second run of "due first" (the tickets without a deadline). Base64 never
# contains a dot, so the prefix cannot be mistaken for a cursor of the first run.
_UNDATED_CURSOR = "u."


def _due_page(qs: QuerySet[Ticket], *, cursor: str | None, limit: int) -> Page:
    """One page of "due first": open tickets by resolution deadline then id, and after them the
    open tickets without one (paused, resolution achieved, no service level) by id.

    Keyset conditions cannot compare NULLs, so the order is read as two runs, each an exact
    keyset scan of the partial index ``ticket_open_due_idx``: the dated run by (deadline, id),
    then the undated run by id. Only the page where the runs meet reads both (one query more).
    """
    qs = qs.filter(status__in=sorted(OPEN_STATUSES))
    undated = qs.filter(resolution_due_at__isnull=True)
    if cursor is not None and cursor.startswith(_UNDATED_CURSOR):
        return _undated_page(undated, cursor=cursor.removeprefix(_UNDATED_CURSOR) or None, limit=limit)
    dated = keyset_page(
        qs.filter(resolution_due_at__isnull=False), ordering=ORDERINGS["due"], cursor=cursor, limit=limit
    )
    if dated.next_cursor is not None:
        return dated
    if len(dated.items) == limit:  # the dated run ended exactly here: is there an undated one?
        more = undated.order_by("id").exists()
        return Page(items=dated.items, next_cursor=_UNDATED_CURSOR if more else None)
    rest = _undated_page(undated, cursor=None, limit=limit - len(dated.items))
    return Page(items=dated.items + rest.items, next_cursor=rest.next_cursor)


def _undated_page(qs: QuerySet[Ticket], *, cursor: str | None, limit: int) -> Page:
    page = keyset_page(qs, ordering=["id"], cursor=cursor, limit=limit)
    return Page(
        items=page.items, next_cursor=_UNDATED_CURSOR + page.next_cursor if page.next_cursor else None
    )


# --- One ticket -----------------------------------------------------------------------------


def get_ticket(user: User, ref: str | int, *, action: str = "view", related: bool = True) -> Ticket:
    """The ticket by id or number, if ``user`` may see it; otherwise 404 (never 403).

    ``related=False`` skips reading the rows the ticket is shown with, for callers that only
    need the ticket itself (its conversation, its files, its history)."""
    pk = ref if isinstance(ref, int) else parse_ticket_number(ref)
    if pk is None:
        raise Http404
    qs = Ticket.objects.restrict(user, action)
    try:
        ticket = (qs.select_related(*_LIST_JOINED) if related else qs).get(pk=pk)
    except Ticket.DoesNotExist:
        raise Http404 from None
    if related:
        prefetch_related_objects([ticket], *_LIST_PREFETCHED)
    return ticket


def conversation(ticket: Ticket, user: User) -> list[TicketEntry]:
    """The entries ``user`` may read, in order, with their authors and attachments.

    Customers see public replies only; staff see notes and system events too.
    """
    entries = ticket.entries.select_related("author")
    if not user.is_staff_member:
        entries = entries.filter(kind=EntryKind.PUBLIC)
    return list(
        entries.prefetch_related(
            Prefetch("attachments", queryset=Attachment.objects.order_by("id"))
        ).order_by("created_at", "id")
    )


def ticket_attachments(ticket: Ticket, user: User) -> QuerySet[Attachment]:
    qs = ticket.attachments.all()
    if not user.is_staff_member:
        qs = qs.filter(is_internal=False)
    return qs.order_by("id")


def get_attachment(user: User, attachment_id: int) -> Attachment:
    """An attachment, only if ``user`` may see its ticket (and, for customers, it is public)."""
    qs = Attachment.objects.filter(ticket__in=Ticket.objects.restrict(user)).select_related("ticket")
    if not user.is_staff_member:
        qs = qs.filter(is_internal=False)
    try:
        return qs.get(pk=attachment_id)
    except Attachment.DoesNotExist:
        raise Http404 from None


def ticket_history(ticket: Ticket) -> QuerySet[AuditEvent]:
    """Every audited change of the ticket, oldest first (for staff)."""
    return events_for(ticket)
