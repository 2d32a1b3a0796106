"""Test data built through the real services, so tests exercise the same write path as users.

``build_world()`` seeds what every permission-sensitive test needs: a provider, **two** client
organisations, teams on L1, L2 and L3 and one agent on each, and per organisation a manager
and a plain customer. An extra agent serves only the second organisation.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from tierdesk.accounts.choices import Role
from tierdesk.accounts.models import User
from tierdesk.accounts.services import create_api_token, create_user
from tierdesk.kb import services as kb
from tierdesk.kb.models import Article
from tierdesk.orgs.models import Organisation
from tierdesk.orgs.services import create_contact, create_organisation
from tierdesk.tickets import services as tickets
from tierdesk.tickets.models import Category, SupportLine, Team, Ticket

PASSWORD = "correct-horse-battery-staple"
_seq = itertools.count(1)


@dataclass
class World:
    provider: Organisation
    org_a: Organisation
    org_b: Organisation
    admin: User
    l1: User  # L1 agent serving both organisations
    l2: User  # L2 agent serving both organisations
    l3: User  # L3 expert serving both (his line may not talk to customers)
    l1_b_only: User  # L1 agent serving only org_b
    manager_a: User
    customer_a: User
    customer_a2: User
    manager_b: User
    customer_b: User
    lines: dict[str, SupportLine]
    teams: dict[str, Team]
    category: Category

    def ticket(self, requester: User | None = None, actor: User | None = None, **kwargs: Any) -> Ticket:
        requester = requester or self.customer_a
        assert requester.organisation is not None
        kwargs.setdefault("subject", f"Printer problem {next(_seq)}")
        return tickets.create_ticket(
            actor=actor or requester, organisation=requester.organisation, requester=requester, **kwargs
        )

    def token(self, user: User) -> str:
        return create_api_token(user, actor=None, name="tests")[1]

    def article(self, actor: User | None = None, *, publish: bool = False, **kwargs: Any) -> Article:
        """A knowledge base article written by ``actor`` (the L2 agent by default), see
        ``make_article``; ``publish=True`` publishes it (setup articles and standards by the
        administrator, as they need a second person)."""
        return make_article(actor or self.l2, publisher=self.admin if publish else None, **kwargs)


def build_world() -> World:
    provider = create_organisation(actor=None, name="Provider", short_name="provider", is_provider=True)
    admin = create_user(
        actor=None,
        username="admin",
        organisation=provider,
        role=Role.ADMIN,
        password=PASSWORD,
        email="admin@provider.test",
    )
    org_a = create_organisation(
        actor=admin, name="Alpha Ltd", short_name="alpha", email_domains=["alpha.test"]
    )
    org_b = create_organisation(actor=admin, name="Beta LLC", short_name="beta", email_domains=["beta.test"])

    def agent(name: str) -> User:
        return create_user(
            actor=admin,
            username=name,
            organisation=provider,
            role=Role.AGENT,
            password=PASSWORD,
            email=f"{name}@provider.test",
            first_name=name.upper(),
        )

    lines = {line.code: line for line in SupportLine.objects.all()}
    l1, l2, l3, l1_b_only = agent("l1"), agent("l2"), agent("l3"), agent("l1b")
    teams = {}
    for code, members, orgs in [
        ("L1", [l1], [org_a, org_b]),
        ("L2", [l2], [org_a, org_b]),
        ("L3", [l3], [org_a, org_b]),
        ("L1-B", [l1_b_only], [org_b]),
    ]:
        team = Team(name=f"Team {code}", line=lines[code[:2]])
        tickets.save_desk_configuration(team, actor=admin)
        tickets.set_team_members(team, members=members, actor=admin)
        tickets.set_team_organisations(team, organisations=orgs, actor=admin)
        teams[code] = team
    category = Category(name="Hardware")
    tickets.save_desk_configuration(category, actor=admin)

    def contact(org: Organisation, name: str, manager: bool = False) -> User:
        return create_contact(
            org,
            actor=admin,
            email=f"{name}@{org.short_name}.test",
            first_name=name,
            is_org_manager=manager,
            password=PASSWORD,
        )

    return World(
        provider=provider,
        org_a=org_a,
        org_b=org_b,
        admin=admin,
        l1=l1,
        l2=l2,
        l3=l3,
        l1_b_only=l1_b_only,
        manager_a=contact(org_a, "anna", manager=True),
        customer_a=contact(org_a, "alex"),
        customer_a2=contact(org_a, "alice"),
        manager_b=contact(org_b, "bella", manager=True),
        customer_b=contact(org_b, "bob"),
        lines=lines,
        teams=teams,
        category=category,
    )


def make_article(actor: User, *, publisher: User | None = None, **kwargs: Any) -> Article:
    """An article through ``kb.services.create_article`` (a known problem titled "Article N",
    internal, unless ``kwargs`` say otherwise); published by ``publisher`` when given."""
    kwargs.setdefault("kind", "known_problem")
    kwargs.setdefault("title", f"Article {next(_seq)}")
    kwargs.setdefault("body", "Restart the **printer**.")
    article = kb.create_article(actor=actor, **kwargs)
    if publisher is not None:
        article = kb.change_article_status(article, actor=publisher, to="published")
    return article


# The data migrations' own functions: a transactional test's flush erases what they seeded.
SEEDS = [
    "tierdesk.tickets.migrations.0002_seed_lines_and_matrix",
    "tierdesk.sla.migrations.0002_seed_calendars",
    "tierdesk.sla.migrations.0004_seed_default_policy",
]


def reseed() -> None:
    """Seed again what the migrations seeded (lines, matrix, desk settings, calendars, the
    default service level), for tests that commit: each seed is idempotent."""
    import importlib

    from django.apps import apps
    from django.contrib.contenttypes.models import ContentType

    # An earlier flush recreated the content types under new ids; audit events point at them.
    ContentType.objects.clear_cache()
    for module in SEEDS:
        importlib.import_module(module).seed(apps, None)
