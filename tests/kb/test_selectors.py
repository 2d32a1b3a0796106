"""The knowledge base's read path: who reads what (two organisations, limited internal
articles, drafts), lists, versions, wiki links, reviews, tickets and the report."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404
from django.utils import timezone

from tests.factories import World
from tests.kb.conftest import Library
from tierdesk.kb import selectors
from tierdesk.kb import services as kb
from tierdesk.kb.models import Article
from tierdesk.tickets import services as tickets

pytestmark = pytest.mark.django_db


def visible(user: Any) -> set[str]:
    return set(Article.objects.restrict(user).values_list("title", flat=True))


# --- Who reads what -------------------------------------------------------------------------


def test_admin_reads_everything(world: World, library: Library) -> None:
    assert len(visible(world.admin)) == 7


def test_agents_read_every_status_but_only_limited_articles_of_their_lines_and_teams(
    world: World, library: Library
) -> None:
    everyone = {
        "Internal runbook",
        "Reset your password",
        "Alpha printers",
        "Draft for customers",
        "Old VPN client",
    }
    assert visible(world.l1) == everyone
    assert visible(world.l1_b_only) == everyone
    assert visible(world.l2) == everyone | {"L2 only"}
    assert visible(world.l3) == everyone | {"L3 team only"}


def test_customers_read_published_articles_for_all_customers_or_their_organisation(
    world: World, library: Library
) -> None:
    assert visible(world.customer_a) == {"Reset your password", "Alpha printers"}
    assert visible(world.manager_a) == {"Reset your password", "Alpha printers"}
    assert visible(world.customer_b) == {"Reset your password"}
    assert visible(world.manager_b) == {"Reset your password"}


def test_customers_change_nothing_and_anonymous_visitors_read_nothing(world: World, library: Library) -> None:
    assert not Article.objects.restrict(world.customer_a, "change").exists()
    assert visible(AnonymousUser()) == set()
    assert visible(None) == set()


def test_article_for_is_a_404_for_what_the_user_may_not_read(world: World, library: Library) -> None:
    assert selectors.article_for(world.customer_a, library.org_a.pk) == library.org_a
    cases: list[tuple[Any, Article]] = [
        (world.customer_b, library.org_a),
        (world.customer_a, library.internal),
        (world.customer_a, library.draft_customers),
        (world.customer_a, library.archived_customers),
        (world.l1, library.internal_l2),
        (AnonymousUser(), library.customers),
    ]
    for user, article in cases:
        with pytest.raises(Http404):
            selectors.article_for(user, article.pk)
    for bad in ("abc", "99999999999999999999999", -1):
        with pytest.raises(Http404):
            selectors.article_for(world.admin, bad)


def test_article_for_reads_the_page_in_a_fixed_number_of_queries(
    world: World, library: Library, django_assert_max_num_queries: Any
) -> None:
    article = library.org_a
    kb.update_article(article, actor=world.l2, tags=["printer", "alpha"])
    with django_assert_max_num_queries(7):
        found = selectors.article_for(world.customer_a, article.pk)
        assert [t.name for t in found.tags.all()] == ["alpha", "printer"]
        assert found.owner.username == "l2" and found.reviewer.username == "admin"  # type: ignore[union-attr]
        assert list(found.organisations.all()) == [world.org_a]
        assert list(found.attachments.all()) == []


def test_article_by_title_finds_regardless_of_case_and_spacing(world: World, library: Library) -> None:
    assert selectors.article_by_title(world.customer_a, "reset  YOUR password") == library.customers
    with pytest.raises(Http404):
        selectors.article_by_title(world.customer_b, "Alpha printers")


def test_article_attachment_only_for_readers_of_the_article(world: World, library: Library) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    file = kb.add_article_attachment(
        library.org_a, actor=world.l2, upload=SimpleUploadedFile("map.png", b"png")
    )
    assert selectors.article_attachment(world.customer_a, library.org_a.pk, file.pk) == file
    with pytest.raises(Http404):
        selectors.article_attachment(world.customer_b, library.org_a.pk, file.pk)
    with pytest.raises(Http404):
        selectors.article_attachment(world.customer_a, library.customers.pk, file.pk)


# --- Lists ----------------------------------------------------------------------------------


def test_visible_articles_filters(world: World, library: Library) -> None:
    kb.update_article(library.customers, actor=world.l2, tags=["Password"])

    def titles(user: Any, **filters: Any) -> set[str]:
        return {a.title for a in selectors.visible_articles(user, **filters)}

    assert titles(world.customer_b, tag="password") == {"Reset your password"}
    assert titles(world.customer_a, kind="known_problem") == {"Reset your password", "Alpha printers"}
    assert titles(world.customer_a, kind="setup") == set()
    assert titles(world.l1, status="draft") == {"Draft for customers"}
    assert titles(world.l1, visibility="organisations") == {"Alpha printers"}
    assert titles(world.customer_a, visibility="internal") == set()
    assert len(titles(world.admin, owner=world.l2)) == 7
    assert titles(world.admin, owner=world.l1) == set()


def test_a_list_page_costs_the_same_for_two_articles_or_twenty(
    world: World, django_assert_max_num_queries: Any
) -> None:
    for number in range(20):
        world.article(publish=True, visibility="customers", tags=[f"t{number}", "common"])
    with django_assert_max_num_queries(3):
        page = selectors.article_page(world.customer_a, limit=10)
        rows = [(a.title, a.owner.username, [t.name for t in a.tags.all()]) for a in page.items]
    assert len(rows) == 10 and page.next_cursor
    assert all("common" in tags for _t, _o, tags in rows)
    second = selectors.article_page(world.customer_a, limit=10, cursor=page.next_cursor)
    assert len(second.items) == 10 and second.next_cursor is None
    assert not {a.pk for a in page.items} & {a.pk for a in second.items}


# --- Versions -------------------------------------------------------------------------------


def test_compare_versions_gives_line_rows_a_template_can_show(world: World) -> None:
    article = world.article(title="VPN", body="one\ntwo\nthree", tags=["a", "b"])
    kb.update_article(article, actor=world.l1, title="VPN setup", body="one\n2\nthree\nfour", tags=["b", "c"])
    versions = list(selectors.article_versions(article))
    assert [v.number for v in versions] == [2, 1] and versions[0].author == world.l1
    result = selectors.compare_versions(article, 2, 1)
    assert (result.old.number, result.new.number) == (1, 2)
    assert result.title_changed and result.changed
    assert (result.tags_removed, result.tags_added) == (["a"], ["c"])
    assert [(r.op, r.old_number, r.new_number, r.text) for r in result.lines] == [
        ("equal", 1, 1, "one"),
        ("delete", 2, None, "two"),
        ("insert", None, 2, "2"),
        ("equal", 3, 3, "three"),
        ("insert", None, 4, "four"),
    ]
    same = selectors.compare_versions(article, 1, 1)
    assert not same.changed
    with pytest.raises(Http404):
        selectors.compare_versions(article, 1, 5)


# --- Wiki links -----------------------------------------------------------------------------


def test_backlinks_are_restricted_and_missing_links_listed(world: World) -> None:
    target = world.article(publish=True, title="Password rules", visibility="customers")
    world.article(
        publish=True, title="From customers page", visibility="customers", body="[[password rules]]"
    )
    world.article(
        title="From an internal page", body="[[Password rules]] and [[Nowhere]] and [[Nowhere too]]"
    )
    assert [a.title for a in selectors.backlinks(target, world.l1)] == [
        "From an internal page",
        "From customers page",
    ]
    assert [a.title for a in selectors.backlinks(target, world.customer_b)] == ["From customers page"]
    internal = Article.objects.get(title="From an internal page")
    assert [link.target_title for link in selectors.missing_links(internal)] == ["Nowhere", "Nowhere too"]
    assert next((link.target_title, link.target) for link in selectors.outgoing_links(internal)) == (
        "Nowhere",
        None,
    )


# --- Reviews --------------------------------------------------------------------------------


def _due(world: World, article: Article, days: int) -> None:
    kb.update_article(
        article, actor=world.admin, review_due_on=timezone.localdate() + dt.timedelta(days=days)
    )


def test_review_queue_and_overdue_reviews(world: World) -> None:
    overdue = world.article(publish=True, title="Overdue")
    soon = world.article(publish=True, title="Soon")
    later = world.article(publish=True, title="Later")
    others = world.article(publish=True, title="Someone else's", owner=world.l1)
    draft = world.article(title="Draft", review_due_on=timezone.localdate() - dt.timedelta(days=9))
    _due(world, overdue, -3)
    _due(world, soon, 10)
    _due(world, later, 200)
    _due(world, others, -1)
    assert [a.title for a in selectors.review_queue(world.l2)] == ["Overdue", "Soon"]
    assert [a.title for a in selectors.review_queue(world.l2, within_days=365)] == [
        "Overdue",
        "Soon",
        "Later",
    ]
    assert [a.title for a in selectors.overdue_reviews()] == ["Overdue", "Someone else's"]
    assert draft not in selectors.overdue_reviews()
    limited = world.article(publish=True, title="Limited", lines=[world.lines["L2"]])
    _due(world, limited, -2)
    assert "Limited" not in {a.title for a in selectors.overdue_reviews(world.l1)}
    assert "Limited" in {a.title for a in selectors.overdue_reviews(world.l2)}


# --- Articles and tickets -------------------------------------------------------------------


def test_articles_for_ticket_and_tickets_for_article_are_restricted_both_ways(
    world: World, library: Library, django_assert_max_num_queries: Any
) -> None:
    ticket_a = world.ticket(world.customer_a)
    ticket_b = world.ticket(world.customer_b)
    kb.link_article_to_ticket(ticket_a, library.customers, actor=world.admin, solved=True)
    kb.link_article_to_ticket(ticket_a, library.internal, actor=world.admin)
    kb.link_article_to_ticket(ticket_a, library.internal_l2, actor=world.admin)
    kb.link_article_to_ticket(ticket_b, library.customers, actor=world.admin)

    def titles(user: Any) -> list[str]:
        return [link.article.title for link in selectors.articles_for_ticket(ticket_a, user)]

    with django_assert_max_num_queries(3):
        assert titles(world.l2) == ["Reset your password", "Internal runbook", "L2 only"]
    assert titles(world.l1) == ["Reset your password", "Internal runbook"]
    assert titles(world.customer_a) == ["Reset your password"]
    assert selectors.articles_for_ticket(ticket_a, world.customer_a)[0].solved

    with django_assert_max_num_queries(4):
        assert {link.ticket for link in selectors.tickets_for_article(library.customers, world.l1)} == {
            ticket_a,
            ticket_b,
        }
    assert [link.ticket for link in selectors.tickets_for_article(library.customers, world.l1_b_only)] == [
        ticket_b
    ]
    assert [link.ticket for link in selectors.tickets_for_article(library.customers, world.customer_a)] == [
        ticket_a
    ]


def test_prefill_from_a_resolved_ticket(world: World) -> None:
    ticket = world.ticket(world.customer_a, subject="Printer shows E05", description="It blinks red.")
    tickets.add_public_reply(ticket, actor=world.l1, body="Please open tray 2.")
    tickets.add_public_reply(ticket, actor=world.customer_a, body="Done, still red.")
    tickets.add_public_reply(ticket, actor=world.l1, body="Replace the toner cartridge.")
    fields = selectors.prefill_from_ticket(ticket)
    assert fields["kind"] == "known_problem" and fields["title"] == "Printer shows E05"
    assert fields["source_ticket"] == ticket
    assert fields["body"] == ("## Problem\n\nIt blinks red.\n\n## Solution\n\nReplace the toner cartridge.\n")
    tickets.transition_ticket(
        ticket, to_status="resolved", actor=world.l1, comment="Toner replaced; E05 gone."
    )
    ticket.refresh_from_db()
    assert selectors.prefill_from_ticket(ticket)["body"].endswith(
        "## Solution\n\nToner replaced; E05 gone.\n"
    )
    article = kb.create_article(actor=world.l1, **selectors.prefill_from_ticket(ticket))
    assert article.source_ticket == ticket and article.kind == "known_problem"


def test_prefill_without_a_reply_leaves_a_placeholder(world: World) -> None:
    ticket = world.ticket(world.customer_a, subject="VPN drops", description="")
    assert selectors.prefill_from_ticket(ticket)["body"] == "## Problem\n\n…\n\n## Solution\n\n…\n"


# --- The report -----------------------------------------------------------------------------


def test_article_report(world: World, library: Library) -> None:
    ticket = world.ticket(world.customer_a)
    kb.link_article_to_ticket(ticket, library.internal, actor=world.l1, solved=True)
    for _ in range(3):
        kb.record_article_view(library.customers, actor=world.customer_a)
    voters = [world.customer_a, world.customer_a2, world.manager_a, world.customer_b, world.manager_b]
    for number, voter in enumerate(voters):
        kb.give_article_feedback(library.customers, actor=voter, helpful=number == 0)
    for voter in voters[:4]:
        kb.give_article_feedback(
            library.org_a if voter.organisation == world.org_a else library.customers,
            actor=voter,
            helpful=False,
        )
    kb.record_deflection(library.customers, actor=world.customer_b, subject="pwd")
    kb.update_article(
        library.internal, actor=world.l2, review_due_on=timezone.localdate() - dt.timedelta(days=1)
    )

    report = selectors.article_report()
    assert [a.title for a in report.most_used[:2]] == ["Reset your password", "Internal runbook"]
    assert [a.title for a in report.least_helpful] == ["Reset your password"]  # org_a has only 3 votes
    assert [a.title for a in report.stale] == ["Internal runbook"]
    assert report.totals["published"] == 5 and report.totals["draft"] == 1 and report.totals["archived"] == 1
    assert report.totals["articles"] == 7
    assert (report.totals["views"], report.totals["tickets"], report.totals["solved"]) == (3, 1, 1)
    assert report.totals["deflections"] == 1

    later = selectors.article_report(since=timezone.now() + dt.timedelta(minutes=1))
    assert (later.totals["tickets"], later.totals["deflections"]) == (0, 0)
