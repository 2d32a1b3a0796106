#!/usr/bin/env python
"""Bulk-load a realistic ticket history for the benchmark (bench/README.md).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tierdesk_bench \\
        .venv/bin/python bench/load_tickets.py --tickets 1000000 --tokens-out bench/results/pg-tokens.json

1. Seeds the desk through the real services (``tests.factories.build_world()`` plus ~50 client
   organisations, ~2,000 contacts, ~35 agents and teams on L1-L4), once: a second run reuses it.
2. Bulk-loads ``--tickets`` tickets, each with three conversation entries (a public reply, an
   internal note and a status-change event), with a realistic spread: two years of history,
   most old tickets closed, open work concentrated in the last weeks, lines L0-L4, teams and
   assignees consistent with the teams' scopes, priorities from the admins' matrix, subjects
   from a word list with a skewed distribution (some words are common, some rare).
   PostgreSQL: COPY (psycopg 3) with secondary indexes and foreign keys dropped during the load
   and rebuilt afterwards, sequences reset, then VACUUM ANALYZE.
   SQLite: executemany in large transactions, then ANALYZE.
3. Issues API tokens for the bench users and writes them, with the facts http_bench.py needs
   (ticket id range, contacts to file for, words for the text filter), to ``--tokens-out``.

The bulk path writes the same columns the services would, but no audit events: it measures the
read side at scale, the write side is measured through the API by http_bench.py.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import itertools
import json
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

# The code to load with: this checkout, or the snapshot bench/run.sh measures (TIERDESK_CODE).
CODE = Path(os.environ.get("TIERDESK_CODE") or Path(__file__).resolve().parents[1])
sys.path[:0] = [str(CODE / "src"), str(CODE)]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tierdesk.config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402

from tierdesk.accounts.choices import Role  # noqa: E402
from tierdesk.accounts.models import User  # noqa: E402
from tierdesk.accounts.services import create_api_token, create_user  # noqa: E402
from tierdesk.orgs.models import Organisation  # noqa: E402
from tierdesk.orgs.services import create_contact, create_organisation  # noqa: E402
from tierdesk.tickets import services as tickets  # noqa: E402
from tierdesk.tickets.models import (  # noqa: E402
    Category,
    PriorityMatrixEntry,
    SupportLine,
    Team,
    Ticket,
    TicketEntry,
)

UTC = dt.UTC
DAY = 86400.0

# --- Vocabulary ------------------------------------------------------------------------------
# Objects are drawn with a Zipf-like skew, so "printer" is common and "plotter" rare: the text
# filter is measured for a common, a medium and a rare word (see WORD_PROBES).
# fmt: off
OBJECTS = ["Printer", "Outlook", "VPN", "Laptop", "Password", "1C", "Wi-Fi", "Monitor", "Email", "Excel",
           "Network drive", "Phone", "Teams", "Scanner", "Keyboard", "Docking station", "Account",
           "SharePoint", "Mouse", "Website", "CRM", "Backup", "Server", "Antivirus", "Projector", "Headset",
           "Badge reader", "Firewall", "Webcam", "Database", "License", "Tablet", "Router", "Smartphone",
           "Calendar", "Mailbox", "Terminal server", "Cash register", "Barcode scanner", "Label printer",
           "UPS", "NAS", "Switch", "Access point", "Payroll", "Timesheet", "Zoom", "Browser", "PDF reader",
           "Plotter"]
PROBLEMS = ["does not work", "is very slow", "keeps disconnecting", "shows an error", "cannot connect",
            "stopped working after the update", "needs to be replaced", "asks for a password again",
            "freezes every few minutes", "is not available", "prints blank pages", "cannot be found",
            "needs access", "gives error 0x80070005", "will not start", "lost its settings",
            "is out of space", "sends duplicates", "shows the wrong time", "needs a new license",
            "is locked", "makes a loud noise", "reports a certificate error", "cannot sync",
            "displays garbled text"]
CONTEXTS = ["", "", "", "", "on the 2nd floor", "in the warehouse", "for the new employee",
            "since this morning", "in the accounting department", "at the branch office",
            "for the whole team", "after the move", "in meeting room B", "at reception", "for the director",
            "on the night shift", "in the sales office", "since yesterday", "after the power outage",
            "for remote workers"]
REQUESTS = ["New employee needs a {o} account", "Please install {o} on my computer",
            "Request: replace the {o}", "Grant access to the {o}", "Need a second {o}",
            "Move the {o} to another desk", "Please reset my {o} password",
            "Order a {o} for the new office"]
QUESTIONS = ["How do I set up the {o}?", "Where can I find the {o} manual?",
             "Is the {o} covered by the contract?"]
SENTENCES = ["It started this morning and affects several people.", "Restarting did not help.",
             "The error appears when I open the application.", "We have a deadline today, please hurry.",
             "I attached a screenshot of the message.", "It worked fine last week.",
             "Colleagues in the next room have the same problem.", "Please call me back on my mobile.",
             "The device shows a blinking orange light.", "Nothing changed on our side as far as I know."]
REPLIES = ["Thank you, we are looking into it.",
           "Please restart the device and tell us whether the problem persists.",
           "We have reset the settings remotely; please try again.",
           "A technician will come by this afternoon.",
           "The replacement has been ordered and should arrive within two days.",
           "We could not reproduce the issue; can you send a screenshot?",
           "The access has been granted; please sign out and in again.",
           "The update has been rolled back."]
NOTES = ["Checked the logs: repeated authentication failures from this host.",
         "Vendor ticket opened, waiting for reply.",
         "Known issue after the last patch, see the problem record.",
         "Spare part in stock, booked for tomorrow.", "Customer is a VIP, keep them informed.",
         "Same symptoms as last month's outage on the file server.", "Disk at 97%, cleaned temp files.",
         "Needs approval from the customer's manager."]
COMPANY_WORDS = ["Northwind", "Contoso", "Fabrikam", "Tailspin", "Wingtip", "Adventure", "Litware",
                 "Proseware", "Woodgrove", "Lucerne", "Humongous", "Blue Yonder", "Coho", "Fourth Coffee",
                 "Graphic Design", "Margie", "Trey", "Wide World", "Alpine", "Relecloud", "Southridge",
                 "Datum", "Consolidated", "Lamna", "Baikal", "Ural", "Volga", "Neva", "Amur", "Irtysh",
                 "Onega", "Ladoga", "Taiga", "Polar", "Aurora", "Sever", "Vostok", "Zapad", "Yug", "Centr",
                 "Kama", "Oka", "Don", "Kuban", "Altai", "Sayan", "Tundra", "Steppe", "Delta", "Orion"]
COMPANY_KINDS = ["Trading", "Bank", "Logistics", "Clinic", "Foods", "Retail", "Energy", "Media", "Group",
                 "Labs"]
FIRST_NAMES = ["Anna", "Boris", "Clara", "Dmitry", "Elena", "Fedor", "Galina", "Igor", "Irina", "Kirill",
               "Lena", "Maxim", "Nina", "Oleg", "Olga", "Pavel", "Roman", "Sofia", "Tatiana", "Viktor",
               "Yulia", "John", "Mary", "Peter", "Sarah", "David", "Laura", "Mark", "Emma", "Tom"]
LAST_NAMES = ["Ivanova", "Petrov", "Smirnova", "Kuznetsov", "Popova", "Sokolov", "Lebedeva", "Kozlov",
              "Novikova", "Morozov", "Smith", "Brown", "Wilson", "Taylor", "Clark", "Walker", "Young",
              "King", "Wright", "Hill"]
CATEGORIES = {"Hardware": ["Printer", "Laptop", "Monitor", "Phone"],
              "Access": ["VPN", "Password", "Permissions"],
              "Software": ["Office", "1C / ERP", "E-mail"],
              "Network": ["Wi-Fi", "LAN"],
              "Servers": [],
              "Other": []}
# Words http_bench.py filters on: found in many, some, few subjects (also rare noise words).
WORD_PROBES = {"common": "printer", "medium": "scanner", "rare": "plotter", "none": "zeppelin"}
BENCH_ORGS = 50
BENCH_CONTACTS = 2000
AGENTS_PER_LINE = {"L1": 12, "L2": 15, "L3": 6, "L4": 2}
L2_TEAMS = ["Network", "Servers", "Workplace", "Applications", "Security"]
BENCH_L2_AGENT = "bench-l2-01"
BENCH_L1_AGENT = "bench-l1-01"
# Status mix by age of the ticket: open work is recent, a few old tickets are forgotten.
STATUS_BY_AGE = [(2,
                  {"new": 35,
                   "assigned": 20,
                   "in_progress": 25,
                   "waiting_customer": 10,
                   "waiting_third_party": 3,
                   "resolved": 7}),
                 (14,
                  {"new": 8,
                   "assigned": 10,
                   "in_progress": 20,
                   "waiting_customer": 12,
                   "waiting_third_party": 5,
                   "resolved": 35,
                   "closed": 8,
                   "cancelled": 2}),
                 (90,
                  {"new": 1,
                   "assigned": 1,
                   "in_progress": 2,
                   "waiting_customer": 2,
                   "waiting_third_party": 1,
                   "resolved": 3,
                   "closed": 87,
                   "cancelled": 3}),
                 (1000000000,
                  {"new": 0.3,
                   "assigned": 0.3,
                   "in_progress": 0.5,
                   "waiting_customer": 0.5,
                   "waiting_third_party": 0.4,
                   "closed": 95,
                   "cancelled": 3})]
LINE_WEIGHTS = {"L1": 50, "L2": 32, "L3": 13, "L4": 3}
TYPE_WEIGHTS = {"incident": 65, "request": 25, "question": 10}
CHANNEL_WEIGHTS = {"email": 40,
                   "portal": 30,
                   "phone": 15,
                   "web_form": 5,
                   "chat": 4,
                   "messenger": 3,
                   "monitoring": 2,
                   "api": 1}
IMPACT_URGENCY_WEIGHTS = {1: 10, 2: 55, 3: 35}
# fmt: on


def log(message: str) -> None:
    print(message, flush=True)


class Weighted:
    """Fast repeated weighted choice (bisect over cumulative weights)."""

    def __init__(self, items: list[Any], weights: list[float], rng: random.Random) -> None:
        self.items = items
        self.cum = list(itertools.accumulate(weights))
        self.total = self.cum[-1]
        self.rng = rng

    def __call__(self) -> Any:
        return self.items[bisect.bisect_right(self.cum, self.rng.random() * self.total)]


# --- Seeding through the real services -------------------------------------------------------


def seed_world(rng: random.Random) -> None:
    """Create the desk once through the services; a second run changes nothing."""
    if Organisation.objects.filter(is_provider=True).exists():
        log("world: already seeded, reusing it")
        return
    from tests.factories import build_world

    started = time.perf_counter()
    with transaction.atomic():
        world = build_world()
        admin = world.admin
        provider = world.provider
        for root, children in CATEGORIES.items():
            parent = Category.objects.filter(name=root, parent=None).first()
            if parent is None:
                parent = Category(name=root)
                tickets.save_desk_configuration(parent, actor=admin)
            for child in children:
                tickets.save_desk_configuration(Category(name=child, parent=parent), actor=admin)

        agents: dict[str, list[User]] = {}
        for code, count in AGENTS_PER_LINE.items():
            agents[code] = [
                create_user(
                    actor=admin,
                    username=f"bench-{code.lower()}-{i:02d}",
                    organisation=provider,
                    role=Role.AGENT,
                    email=f"bench-{code.lower()}-{i:02d}@provider.test",
                    first_name=rng.choice(FIRST_NAMES),
                    last_name=rng.choice(LAST_NAMES),
                )
                for i in range(1, count + 1)
            ]

        names = rng.sample([f"{w} {k}" for w in COMPANY_WORDS for k in COMPANY_KINDS], BENCH_ORGS)
        orgs = []
        for i, name in enumerate(names, start=1):
            slug = f"client{i:02d}"
            orgs.append(
                create_organisation(
                    actor=admin, name=name, short_name=slug, email_domains=[f"{slug}.example"]
                )
            )
        # Contacts: bigger clients have more people (and, later, more tickets).
        weights = [1 / (i + 1) ** 0.8 for i in range(BENCH_ORGS)]
        scale = (BENCH_CONTACTS - 5 * BENCH_ORGS) / sum(weights)
        for org, weight in zip(orgs, weights, strict=True):
            for j in range(5 + int(weight * scale)):
                create_contact(
                    org,
                    actor=admin,
                    email=f"c{j:04d}@{org.short_name}.example",
                    first_name=rng.choice(FIRST_NAMES),
                    last_name=rng.choice(LAST_NAMES),
                    is_org_manager=j == 0,
                )

        def team(name: str, line: str, members: list[User], serves: list[Organisation] | None) -> None:
            obj = Team(
                name=name, line=SupportLine.objects.get(code=line), serves_all_organisations=serves is None
            )
            tickets.save_desk_configuration(obj, actor=admin)
            tickets.set_team_members(obj, members=members, actor=admin)
            if serves is not None:
                tickets.set_team_organisations(obj, organisations=serves, actor=admin)

        team("Bench service desk", "L1", agents["L1"][:9], None)
        team("Bench key accounts", "L1", agents["L1"][9:], orgs[:8])
        # Five L2 teams of three agents, each serving an overlapping third of the clients.
        for k, name in enumerate(L2_TEAMS):
            serves = [org for i, org in enumerate(orgs) if (i + k) % 3 == 0 or i % 5 == k]
            team(f"Bench L2 {name}", "L2", agents["L2"][3 * k : 3 * k + 3], serves)
        team("Bench L3 experts", "L3", agents["L3"], None)
        team("Bench L4 vendor", "L4", agents["L4"], None)
    log(f"world: seeded through the services in {time.perf_counter() - started:.1f} s")


class World:
    """What the generator needs, read back from the database (works for any seeded world)."""

    def __init__(self) -> None:
        self.lines = {line.code: line.pk for line in SupportLine.objects.all()}
        self.levels = {line.pk: line.level for line in SupportLine.objects.all()}
        orgs = list(Organisation.objects.filter(is_provider=False, is_active=True).order_by("pk"))
        contacts: dict[int, list[int]] = {}
        for pk, org_id in User.objects.filter(role=Role.CUSTOMER, is_active=True).values_list(
            "pk", "organisation_id"
        ):
            contacts.setdefault(org_id, []).append(pk)
        self.orgs = [o.pk for o in orgs if contacts.get(o.pk)]
        self.contacts = contacts
        self.teams: list[tuple[int, int, bool, set[int], list[int]]] = []
        for t in Team.objects.filter(is_active=True).prefetch_related("members", "organisations"):
            members = [m.pk for m in t.members.all()]
            if members:
                self.teams.append(
                    (
                        t.pk,
                        t.line_id,
                        t.serves_all_organisations,
                        {o.pk for o in t.organisations.all()},
                        members,
                    )
                )
        self.agents_by_line: dict[int, list[int]] = {}
        for _pk, line_id, _all, _orgs, members in self.teams:
            self.agents_by_line.setdefault(line_id, []).extend(members)
        self.categories = list(Category.objects.filter(is_active=True).values_list("pk", flat=True))
        self.matrix = {(m.impact, m.urgency): m.priority for m in PriorityMatrixEntry.objects.all()}
        self.admin = User.objects.filter(role=Role.ADMIN).order_by("pk").first()
        self._teams_for: dict[tuple[int, int], list[tuple[int, list[int]]]] = {}

    def teams_for(self, org: int, line: int) -> list[tuple[int, list[int]]]:
        key = (org, line)
        if key not in self._teams_for:
            self._teams_for[key] = [
                (pk, members)
                for pk, line_id, serves_all, orgs, members in self.teams
                if line_id == line and (serves_all or org in orgs)
            ]
        return self._teams_for[key]


# --- Row generation --------------------------------------------------------------------------


class Generator:
    """Yields (ticket row, [entry rows]) as dicts keyed by model attnames; values are plain
    Python (epoch floats for datetimes), converted per database by the writers."""

    def __init__(
        self, world: World, rng: random.Random, n: int, first_id: int, first_entry_id: int, now: float
    ) -> None:
        self.w = world
        self.rng = rng
        self.n = n
        self.next_id = first_id
        self.next_entry_id = first_entry_id
        self.now = now
        self.start = now - 730 * DAY
        org_weights = [1 / (i + 1) ** 0.8 for i in range(len(world.orgs))]
        self.pick_org = Weighted(world.orgs, org_weights, rng)
        self.pick_object = Weighted(OBJECTS, [1 / (i + 1) ** 1.1 for i in range(len(OBJECTS))], rng)
        self.pick_line = Weighted([world.lines[c] for c in LINE_WEIGHTS], list(LINE_WEIGHTS.values()), rng)
        self.pick_type = Weighted(list(TYPE_WEIGHTS), list(TYPE_WEIGHTS.values()), rng)
        self.pick_channel = Weighted(list(CHANNEL_WEIGHTS), list(CHANNEL_WEIGHTS.values()), rng)
        self.pick_iu = Weighted(list(IMPACT_URGENCY_WEIGHTS), list(IMPACT_URGENCY_WEIGHTS.values()), rng)
        self.status_pickers = [
            (limit, Weighted(list(mix), list(mix.values()), rng)) for limit, mix in STATUS_BY_AGE
        ]
        self.l1_agents = world.agents_by_line.get(world.lines["L1"], [])

    def timestamps(self) -> list[float]:
        """Creation times over two years, growing volume, weekdays and office hours, sorted."""
        rng = self.rng
        out = []
        for _ in range(self.n):
            while True:
                # Volume grows ~2x over the period: density proportional to (1 + x).
                x = math.sqrt(1 + 3 * rng.random()) - 1
                day = math.floor(x * 730)
                weekday = dt.datetime.fromtimestamp(self.start + day * DAY, UTC).weekday()
                if weekday < 5 or rng.random() < 0.15:
                    break
            hour = min(23.99, max(0.0, rng.gauss(12.5, 3.2)))
            out.append(self.start + day * DAY + hour * 3600 + rng.random() * 60)
        out = [min(t, self.now - 60) for t in out]
        out.sort()
        return out

    def subject(self, ticket_type: str) -> str:
        rng = self.rng
        obj = self.pick_object()
        if ticket_type == "request":
            text = rng.choice(REQUESTS).format(o=obj if obj[1:].lower() != obj[1:] else obj.lower())
        elif ticket_type == "question":
            text = rng.choice(QUESTIONS).format(o=obj)
        else:
            text = f"{obj} {rng.choice(PROBLEMS)} {rng.choice(CONTEXTS)}".strip()
        if rng.random() < 0.1:
            text += f" (PC-{rng.randrange(10000):04d})"
        return text

    def rows(self, created: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        rng = self.rng
        w = self.w
        age = (self.now - created) / DAY
        status = next(p for limit, p in self.status_pickers if age < limit)()
        org = self.pick_org()
        requester = rng.choice(w.contacts[org])
        if status == "new" and rng.random() < 0.1:
            line = w.lines.get("L0", self.pick_line())
        else:
            line = self.pick_line()
        level = w.levels[line]
        teams = w.teams_for(org, line)
        team, members = rng.choice(teams) if teams else (None, [])
        if status == "new" and rng.random() < 0.3:
            team, members = None, []
        staffed = status in ("assigned", "in_progress")
        if members and (
            staffed
            or (status not in ("new", "cancelled") and rng.random() < 0.85)
            or (status == "cancelled" and rng.random() < 0.5)
        ):
            assignee = rng.choice(members)
        else:
            assignee = None
        if staffed and assignee is None:  # a line with no team: leave it in the queue instead
            status = "new"
        ticket_type = self.pick_type()
        channel = self.pick_channel()
        impact, urgency = self.pick_iu(), self.pick_iu()
        priority = w.matrix.get((impact, urgency), 3)
        escalations = max(0, level - 1) + (1 if rng.random() < 0.03 else 0)
        reopens = 1 if status in ("resolved", "closed") and rng.random() < 0.04 else 0
        agent = assignee or (rng.choice(self.l1_agents) if self.l1_agents else None)
        first_response = None if status == "new" else created + rng.uniform(300, 4 * 3600)
        resolved = closed = fcr = None
        if status in ("resolved", "closed"):
            resolved = created + min(age * DAY * 0.9, rng.lognormvariate(math.log(6 * 3600), 1.3))
            resolved = max(resolved, (first_response or created) + 60)
            fcr = level == 1 and escalations == 0 and reopens == 0
            if status == "closed":
                closed = resolved + 7 * DAY
        end = closed or resolved or (first_response or created) + rng.uniform(60, 3600)
        end = min(end, self.now - 1)
        ticket_id = self.next_id
        self.next_id += 1
        ticket = {
            "id": ticket_id,
            "type": ticket_type,
            "organisation_id": org,
            "requester_id": requester,
            "channel": channel,
            "category_id": rng.choice(w.categories) if w.categories and rng.random() < 0.85 else None,
            "subject": self.subject(ticket_type),
            "description": " ".join(rng.sample(SENTENCES, rng.randint(1, 3))),
            "impact": impact,
            "urgency": urgency,
            "priority": priority,
            "status": status,
            "current_line_id": line,
            "team_id": team,
            "assignee_id": assignee,
            "created_by_id": requester
            if channel in ("email", "portal", "web_form") or agent is None
            else agent,
            "created_at": created,
            "updated_at": end,
            "first_response_at": first_response,
            "resolved_at": resolved,
            "closed_at": closed,
            "escalation_count": escalations,
            "reopen_count": reopens,
            "first_contact_resolution": fcr,
            "version": 2 + escalations + reopens + rng.randrange(6),
        }
        t_reply = min(first_response or created + 600, self.now - 3)
        t_note = min(t_reply + rng.uniform(60, 7200), self.now - 2)
        t_event = max(t_note + 1, min(end, self.now - 1))
        ids = range(self.next_entry_id, self.next_entry_id + 3)
        self.next_entry_id += 3
        if status == "new":  # nobody answered yet: the customer's follow-up, an edit event
            reply = {"author_id": requester, "body": rng.choice(SENTENCES), "channel": channel}
            event = {"event": "ticket.updated", "data": json.dumps({"fields": ["description"]})}
        else:
            reply = {
                "author_id": agent or requester,
                "body": rng.choice(REPLIES),
                "channel": "email" if channel == "email" else "portal",
            }
            event = {"event": "ticket.status_changed", "data": json.dumps({"from": "new", "to": status})}
        entries = [
            {
                "id": ids[0],
                "ticket_id": ticket_id,
                "kind": "public",
                "event": "",
                "data": None,
                "created_at": t_reply,
                **reply,
            },
            {
                "id": ids[1],
                "ticket_id": ticket_id,
                "kind": "internal",
                "author_id": agent,
                "body": rng.choice(NOTES),
                "channel": "",
                "event": "",
                "data": None,
                "created_at": t_note,
            },
            {
                "id": ids[2],
                "ticket_id": ticket_id,
                "kind": "event",
                "author_id": agent,
                "body": "",
                "channel": "",
                "created_at": t_event,
                **event,
            },
        ]
        return ticket, entries


# --- Writers ---------------------------------------------------------------------------------

DATETIME_COLUMNS: set[str] = set()


def columns_for(model: type[Any], generated: set[str]) -> tuple[list[str], list[str], list[Any]]:
    """All concrete columns of ``model``: the ones we generate and, for any other column (added
    by someone since this script was written), its model default, prepared for the database."""
    names, attnames, defaults = [], [], []
    for field in model._meta.concrete_fields:
        names.append(field.column)
        attnames.append(field.attname)
        if field.get_internal_type() == "DateTimeField":
            DATETIME_COLUMNS.add(f"{model._meta.db_table}.{field.attname}")
        if field.attname in generated:
            defaults.append(None)
        else:
            value = field.get_default()
            defaults.append(None if value is None else field.get_db_prep_save(value, connection))
    return names, attnames, defaults


def make_converter(model: type[Any], attnames: list[str], defaults: list[Any], vendor: str):
    table = model._meta.db_table
    is_dt = [f"{table}.{a}" in DATETIME_COLUMNS for a in attnames]
    fromts = dt.datetime.fromtimestamp
    if vendor == "postgresql":

        def fmt(ts: float) -> str:
            return fromts(ts, UTC).isoformat(timespec="microseconds")
    else:
        epoch = dt.datetime(1970, 1, 1)  # noqa: DTZ001 - SQLite stores naive UTC

        def fmt(ts: float) -> str:
            return (epoch + dt.timedelta(seconds=ts)).isoformat(sep=" ", timespec="microseconds")

    plan = list(zip(attnames, is_dt, defaults, strict=True))

    def convert(row: dict[str, Any]) -> tuple[Any, ...]:
        out = []
        for attname, datetime_col, default in plan:
            if attname in row:
                value = row[attname]
                if datetime_col and value is not None:
                    value = fmt(value)
                elif vendor == "sqlite" and isinstance(value, bool):
                    value = int(value)
                out.append(value)
            else:
                out.append(default)
        return tuple(out)

    return convert


class PostgresIndexes:
    """Drop secondary indexes and foreign keys of the loaded tables, recreate them afterwards."""

    def __init__(self, tables: list[str]) -> None:
        self.tables = tables
        self.indexes: list[tuple[str, str]] = []
        self.fkeys: list[tuple[str, str, str]] = []

    def drop(self) -> None:
        with connection.cursor() as cur:
            cur.execute(
                """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
                   FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
                   WHERE t.relname = ANY(%s)
                     AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""",
                [self.tables],
            )
            self.indexes = cur.fetchall()
            cur.execute(
                """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
                   WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)""",
                [self.tables],
            )
            self.fkeys = cur.fetchall()
            for table, name, _definition in self.fkeys:
                cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            for name, _definition in self.indexes:
                cur.execute(f"DROP INDEX {name}")
        log(f"postgres: dropped {len(self.indexes)} secondary indexes and {len(self.fkeys)} foreign keys")

    def restore(self) -> None:
        started = time.perf_counter()
        with connection.cursor() as cur:
            cur.execute("SET maintenance_work_mem = '1GB'")
            cur.execute("SET max_parallel_maintenance_workers = 1")
            for name, definition in self.indexes:
                t0 = time.perf_counter()
                cur.execute(definition)
                log(f"  index {name}: {time.perf_counter() - t0:.1f} s")
            for table, name, definition in self.fkeys:
                cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        log(f"postgres: rebuilt indexes and foreign keys in {time.perf_counter() - started:.1f} s")


def load(gen: Generator, chunk: int) -> tuple[int, int]:
    vendor = connection.vendor
    t_names, t_attnames, t_defaults = columns_for(
        Ticket,
        {
            "id",
            "type",
            "organisation_id",
            "requester_id",
            "channel",
            "category_id",
            "subject",
            "description",
            "impact",
            "urgency",
            "priority",
            "status",
            "current_line_id",
            "team_id",
            "assignee_id",
            "created_by_id",
            "created_at",
            "updated_at",
            "first_response_at",
            "resolved_at",
            "closed_at",
            "escalation_count",
            "reopen_count",
            "first_contact_resolution",
            "version",
        },
    )
    e_names, e_attnames, e_defaults = columns_for(
        TicketEntry,
        {"id", "ticket_id", "kind", "author_id", "body", "channel", "event", "data", "created_at"},
    )
    t_conv = make_converter(Ticket, t_attnames, t_defaults, vendor)
    e_conv = make_converter(TicketEntry, e_attnames, e_defaults, vendor)
    t_table, e_table = Ticket._meta.db_table, TicketEntry._meta.db_table

    started = time.perf_counter()
    times = gen.timestamps()
    log(f"generated {len(times):,} creation times in {time.perf_counter() - started:.1f} s")
    n_tickets = n_entries = 0
    started = time.perf_counter()
    connection.ensure_connection()
    raw = connection.connection
    for offset in range(0, len(times), chunk):
        batch = times[offset : offset + chunk]
        t_rows, e_rows = [], []
        for created in batch:
            ticket, entries = gen.rows(created)
            t_rows.append(t_conv(ticket))
            e_rows.extend(e_conv(e) for e in entries)
        with transaction.atomic():
            if vendor == "postgresql":
                with raw.cursor() as cur:
                    cols = ", ".join(f'"{c}"' for c in t_names)
                    with cur.copy(f"COPY {t_table} ({cols}) FROM STDIN") as copy:
                        for row in t_rows:
                            copy.write_row(row)
                    cols = ", ".join(f'"{c}"' for c in e_names)
                    with cur.copy(f"COPY {e_table} ({cols}) FROM STDIN") as copy:
                        for row in e_rows:
                            copy.write_row(row)
            else:
                cur = raw.cursor()
                marks = ", ".join("?" * len(t_names))
                cols = ", ".join(f'"{c}"' for c in t_names)
                # Table and column names come from the models, values are parameters.
                cur.executemany(f"INSERT INTO {t_table} ({cols}) VALUES ({marks})", t_rows)  # noqa: S608
                marks = ", ".join("?" * len(e_names))
                cols = ", ".join(f'"{c}"' for c in e_names)
                cur.executemany(f"INSERT INTO {e_table} ({cols}) VALUES ({marks})", e_rows)  # noqa: S608
                cur.close()
        n_tickets += len(t_rows)
        n_entries += len(e_rows)
        elapsed = time.perf_counter() - started
        log(
            f"  {n_tickets:>9,} tickets {n_entries:>10,} entries  {elapsed:6.1f} s  "
            f"{(n_tickets + n_entries) / elapsed:,.0f} rows/s"
        )
    return n_tickets, n_entries


BENCH_PASSWORD = "bench-password-not-secret"  # noqa: S105 - a local benchmark database


def write_tokens(path: Path, rng: random.Random) -> None:
    """API tokens for the bench users and the facts http_bench.py needs."""
    admin = User.objects.filter(role=Role.ADMIN).order_by("pk").first()
    l2 = User.objects.filter(username=BENCH_L2_AGENT).first()
    l1 = User.objects.filter(username=BENCH_L1_AGENT).first()
    assert admin and l2 and l1, "seed the world first"
    # The L1 agent files tickets for contacts of the organisations his team serves (all).
    contacts = list(
        User.objects.filter(role=Role.CUSTOMER, is_active=True, organisation__is_active=True).values_list(
            "organisation_id", "pk"
        )
    )
    bounds = Ticket.objects.order_by("pk").values_list("pk", flat=True)
    # The HTML pages need a signed-in session: the bench users get a known password.
    for user in (admin, l2):
        user.set_password(BENCH_PASSWORD)
        user.save(update_fields=["password"])
    facts = {
        "password": BENCH_PASSWORD,
        "tokens": {
            "admin": create_api_token(admin, actor=None, name="bench admin")[1],
            "l2": create_api_token(l2, actor=None, name="bench L2 agent")[1],
            "l1": create_api_token(l1, actor=None, name="bench L1 agent")[1],
        },
        "users": {"admin": admin.username, "l2": l2.username, "l1": l1.username},
        "ticket_ids": [bounds.first(), bounds.last()],
        "tickets": Ticket.objects.count(),
        "contacts": rng.sample(contacts, min(500, len(contacts))),
        "queue": {"line": "L2", "status": ["new", "assigned"]},
        "words": WORD_PROBES,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(facts, indent=1))
    path.chmod(0o600)
    log(f"tokens and facts written to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=50_000, help="tickets per transaction")
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--tokens-out", type=Path, help="write API tokens and facts for http_bench.py here")
    parser.add_argument("--keep-indexes", action="store_true", help="PostgreSQL: load with indexes in place")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    vendor = connection.vendor
    db = connection.settings_dict["NAME"]
    log(f"database: {vendor} {db}")
    total_started = time.perf_counter()
    seed_world(rng)
    world = World()
    log(
        f"world: {len(world.orgs)} client organisations, "
        f"{sum(len(c) for c in world.contacts.values())} contacts, {len(world.teams)} teams"
    )

    first_id = (Ticket.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    first_entry = (TicketEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    now = time.time()
    gen = Generator(world, rng, args.tickets, first_id, first_entry, now)

    load_started = time.perf_counter()
    indexes = None
    if vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SET synchronous_commit = off")
        if not args.keep_indexes:
            indexes = PostgresIndexes([Ticket._meta.db_table, TicketEntry._meta.db_table])
            indexes.drop()
    elif vendor == "sqlite":
        with connection.cursor() as cur:
            cur.execute("PRAGMA cache_size = -200000")
    try:
        n_tickets, n_entries = load(gen, args.chunk)
    finally:
        if indexes is not None:
            indexes.restore()
    copy_seconds = time.perf_counter() - load_started

    started = time.perf_counter()
    if vendor == "postgresql":
        from django.core.management.color import no_style

        with connection.cursor() as cur:
            for sql in connection.ops.sequence_reset_sql(no_style(), [Ticket, TicketEntry]):
                cur.execute(sql)
        with connection.cursor() as cur:
            for model in (Ticket, TicketEntry):
                cur.execute(f"VACUUM (ANALYZE) {model._meta.db_table}")
            cur.execute("ANALYZE")
    else:
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
    analyze_seconds = time.perf_counter() - started
    total = time.perf_counter() - total_started
    log(
        f"loaded {n_tickets:,} tickets and {n_entries:,} entries in {copy_seconds:.1f} s "
        f"({(n_tickets + n_entries) / copy_seconds:,.0f} rows/s, indexes included); "
        f"{'VACUUM ANALYZE' if vendor == 'postgresql' else 'ANALYZE'} {analyze_seconds:.1f} s; "
        f"total {total:.1f} s"
    )
    summary = {
        "vendor": vendor,
        "tickets": n_tickets,
        "entries": n_entries,
        "load_seconds": round(copy_seconds, 1),
        "analyze_seconds": round(analyze_seconds, 1),
        "total_seconds": round(total, 1),
        "rows_per_second": round((n_tickets + n_entries) / copy_seconds),
    }
    log("LOAD_SUMMARY " + json.dumps(summary))
    if args.tokens_out:
        write_tokens(args.tokens_out, rng)


if __name__ == "__main__":
    main()
