"""Fixtures of the knowledge base tests: a set of articles of every audience over the
two-organisation world."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.factories import World
from tierdesk.kb import services as kb
from tierdesk.kb.models import Article


@dataclass
class Library:
    """One article per audience rule, all published unless their name says otherwise."""

    internal: Article  # every agent
    internal_l2: Article  # agents on L2 only
    internal_team_l3: Article  # members of the L3 team only
    customers: Article  # every customer
    org_a: Article  # customers of org A only
    draft_customers: Article  # meant for customers, not published yet
    archived_customers: Article  # was for customers, archived


@pytest.fixture
def library(world: World) -> Library:
    w = world
    archived = w.article(publish=True, title="Old VPN client", visibility="customers")
    kb.change_article_status(archived, actor=w.admin, to="archived")
    return Library(
        internal=w.article(publish=True, title="Internal runbook"),
        internal_l2=w.article(publish=True, title="L2 only", lines=[w.lines["L2"]]),
        internal_team_l3=w.article(publish=True, title="L3 team only", teams=[w.teams["L3"]]),
        customers=w.article(publish=True, title="Reset your password", visibility="customers"),
        org_a=w.article(
            publish=True, title="Alpha printers", visibility="organisations", organisations=[w.org_a]
        ),
        draft_customers=w.article(title="Draft for customers", visibility="customers"),
        archived_customers=archived,
    )
