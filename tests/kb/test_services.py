"""The knowledge base's write path: articles, moderation, versions, wiki links, files, readers'
votes, links to tickets and avoided requests; each change audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404
from django.utils import timezone

from tests.factories import World
from tierdesk.audit.models import AuditEvent
from tierdesk.common.errors import Conflict, DomainError, NotPermitted
from tierdesk.kb import services as kb
from tierdesk.kb.choices import REVIEW_PERIOD_DAYS, ArticleKind, ArticleStatus
from tierdesk.kb.models import Article, ArticleLink, ArticleVersion, Deflection, Feedback, TicketArticle
from tierdesk.tickets.choices import EntryKind
from tierdesk.tickets.models import TicketEntry
from tierdesk.tickets.services import TooLarge

pytestmark = pytest.mark.django_db


def events(article: Article | Any, event_type: str) -> list[Any]:
    return list(
        AuditEvent.objects.filter(target_id=article.pk, event_type=event_type)
        .filter(target_type__model=type(article)._meta.model_name)
        .order_by("id")
    )


# --- Creating and editing -------------------------------------------------------------------


def test_create_article_writes_version_one_link_key_html_and_audit(world: World) -> None:
    article = kb.create_article(
        actor=world.l2,
        kind=ArticleKind.SETUP,
        title="  Connect  the VPN ",
        body="1. Open **Settings**",
        language="ru",
        tags=["VPN", " vpn ", "Remote work"],
        note="first draft",
    )
    article.refresh_from_db()
    assert (article.title, article.link_key, article.status) == (
        "Connect the VPN",
        "connect the vpn",
        "draft",
    )
    assert article.version == 1 and article.owner == world.l2 and article.created_by == world.l2
    assert "<strong>Settings</strong>" in article.body_html
    assert sorted(article.tags.values_list("name", flat=True)) == ["remote work", "vpn"]
    version = ArticleVersion.objects.get(article=article)
    assert (version.number, version.title, version.tags, version.author, version.note) == (
        1,
        "Connect the VPN",
        ["vpn", "remote work"],
        world.l2,
        "first draft",
    )
    [event] = events(article, "article.created")
    assert event.actor == world.l2 and event.new["title"] == "Connect the VPN"
    assert event.new["tags"] == ["remote work", "vpn"] and "body" not in event.new


@pytest.mark.parametrize("title", ["Reset password", "reset   PASSWORD", " Reset password "])
def test_a_title_taken_by_another_article_is_refused_naming_title(world: World, title: str) -> None:
    first = world.article(title="Reset password")
    with pytest.raises(DomainError) as err:
        world.article(title=title)
    assert err.value.field == "title" and first.number in err.value.message
    other = world.article(title="Something else")
    with pytest.raises(DomainError) as err:
        kb.update_article(other, actor=world.l2, title=title)
    assert err.value.field == "title"
    assert Article.objects.count() == 2


def test_customers_never_write(world: World) -> None:
    with pytest.raises(NotPermitted):
        kb.create_article(actor=world.manager_a, kind="known_problem", title="Mine")
    article = world.article(publish=True, visibility="customers")
    with pytest.raises((NotPermitted, Http404)):
        kb.update_article(article, actor=world.customer_a, body="hacked")
    with pytest.raises(NotPermitted):
        kb.change_article_status(article, actor=world.customer_a, to="archived")
    assert Article.objects.get(pk=article.pk).body == "Restart the **printer**."


def test_body_over_the_limit_is_refused_clearly(world: World) -> None:
    with pytest.raises(DomainError) as err:
        world.article(body="x" * (kb.ARTICLE_BODY_MAX_CHARS + 1))
    assert err.value.field == "body" and err.value.code == "too_long"
    assert "200000" in err.value.message
    assert not Article.objects.exists()


def test_organisations_required_for_chosen_organisations_and_dropped_otherwise(world: World) -> None:
    with pytest.raises(DomainError) as err:
        world.article(visibility="organisations")
    assert err.value.field == "organisations"
    article = world.article(visibility="organisations", organisations=[world.org_a])
    assert list(article.organisations.all()) == [world.org_a]
    kb.update_article(article, actor=world.l2, visibility="customers")
    assert not article.organisations.exists()


def test_is_limited_follows_lines_and_teams_of_internal_articles_only(world: World) -> None:
    article = world.article(lines=[world.lines["L2"]])
    assert article.is_limited
    kb.update_article(article, actor=world.l2, lines=[], teams=[world.teams["L2"]])
    article.refresh_from_db()
    assert article.is_limited and not article.audience_lines.exists()
    kb.update_article(article, actor=world.l2, visibility="customers")
    article.refresh_from_db()
    assert not article.is_limited and not article.audience_teams.exists()


def test_update_adds_a_version_and_a_stale_version_is_a_conflict(world: World) -> None:
    article = world.article(body="one")
    kb.update_article(article, actor=world.l1, expected_version=1, body="two", note="typo")
    assert article.version == 2
    with pytest.raises(Conflict) as err:
        kb.update_article(article, actor=world.l3, expected_version=1, body="three")
    assert err.value.code == "stale_version"
    article.refresh_from_db()
    assert (article.body, article.version) == ("two", 2)
    assert list(article.versions.values_list("number", "body", "author__username", "note")) == [
        (2, "two", "l1", "typo"),
        (1, "one", "l2", ""),
    ]
    [event] = events(article, "article.updated")
    assert event.old == {"version": 1, "body_length": 3} and event.new == {"version": 2, "body_length": 3}


def test_an_edit_that_changes_nothing_changes_nothing(world: World) -> None:
    article = world.article(body="same", tags=["a"])
    kb.update_article(article, actor=world.l2, body="same", tags=["A"])
    assert article.version == 1 and article.versions.count() == 1
    assert not events(article, "article.updated")


def test_unknown_fields_are_refused(world: World) -> None:
    article = world.article()
    with pytest.raises(DomainError):
        kb.update_article(article, actor=world.l2, status="published")
    with pytest.raises(DomainError):
        kb.update_article(article, actor=world.l2, view_count=5)


def test_an_agent_outside_a_limited_articles_audience_cannot_edit_it(world: World) -> None:
    article = world.article(lines=[world.lines["L2"]])
    with pytest.raises(Http404):
        kb.update_article(article, actor=world.l1, body="mine now")
    assert Article.objects.get(pk=article.pk).version == 1


def test_the_owner_must_be_staff(world: World) -> None:
    with pytest.raises(DomainError) as err:
        world.article(owner=world.customer_a)
    assert err.value.field == "owner"
    article = world.article(owner=world.l3)
    assert article.owner == world.l3 and article.created_by == world.l2


def test_the_source_ticket_must_be_one_the_author_sees(world: World) -> None:
    ticket = world.ticket(world.customer_a)
    article = kb.create_article(
        actor=world.l1, kind="known_problem", title="From a ticket", source_ticket=ticket
    )
    assert article.source_ticket == ticket
    with pytest.raises(Http404):
        kb.create_article(actor=world.l1_b_only, kind="known_problem", title="Other", source_ticket=ticket)


# --- Moderation -----------------------------------------------------------------------------


def test_the_author_cannot_publish_a_setup_article_another_agent_can(world: World) -> None:
    article = world.article(kind=ArticleKind.SETUP)
    kb.change_article_status(article, actor=world.l2, to="review")
    with pytest.raises(NotPermitted) as err:
        kb.change_article_status(article, actor=world.l2, to="published")
    assert err.value.code == "reviewer_is_author"
    assert Article.objects.get(pk=article.pk).status == "review"
    kb.change_article_status(article, actor=world.l1, to="published", note="checked on a laptop")
    article.refresh_from_db()
    today = timezone.localdate()
    assert article.status == "published" and article.reviewer == world.l1
    assert article.published_at is not None
    assert article.review_due_on == today + dt.timedelta(days=REVIEW_PERIOD_DAYS[ArticleKind.SETUP])
    [_review, published] = events(article, "article.status_changed")
    assert published.old["status"] == "review" and published.new["status"] == "published"
    assert published.new["reviewer"] == world.l1.pk and published.message == "checked on a laptop"


def test_whoever_wrote_the_current_version_cannot_publish_a_standard_either(world: World) -> None:
    article = world.article(kind=ArticleKind.STANDARD)
    kb.update_article(article, actor=world.l1, body="Passwords have 12 characters.")
    with pytest.raises(NotPermitted):
        kb.change_article_status(article, actor=world.l1, to="published")
    kb.change_article_status(article, actor=world.l3, to="published")
    assert article.status == "published"


def test_a_known_problem_is_published_by_its_author(world: World) -> None:
    article = world.article(kind=ArticleKind.KNOWN_PROBLEM)
    kb.change_article_status(article, actor=world.l2, to="published")
    assert article.status == "published" and article.reviewer == world.l2


def test_a_review_date_set_by_the_editor_is_kept(world: World) -> None:
    due = timezone.localdate() + dt.timedelta(days=30)
    article = world.article(review_due_on=due)
    kb.change_article_status(article, actor=world.l2, to="published")
    assert article.review_due_on == due


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        (["published"], "review"),
        (["archived"], "published"),
        (["archived"], "review"),
        ([], "draft"),
    ],
)
def test_illegal_transitions_are_refused(world: World, path: list[str], refused: str) -> None:
    article = world.article()
    for status in path:
        kb.change_article_status(article, actor=world.l2, to=status)
    with pytest.raises(Conflict) as err:
        kb.change_article_status(article, actor=world.l2, to=refused)
    assert err.value.code == "transition_not_allowed" and err.value.field == "status"
    with pytest.raises(DomainError):
        kb.change_article_status(article, actor=world.l2, to="gone")


def test_archive_and_bring_back(world: World) -> None:
    article = world.article(publish=True)
    kb.change_article_status(article, actor=world.l1, to="archived")
    kb.change_article_status(article, actor=world.l1, to="draft")
    assert article.status == "draft"
    assert [e.new["status"] for e in events(article, "article.status_changed")] == [
        "published",
        "archived",
        "draft",
    ]


def test_editing_a_published_setup_article_sends_it_back_to_review(world: World) -> None:
    article = world.article(kind=ArticleKind.SETUP, publish=True, visibility="customers")
    assert Article.objects.restrict(world.customer_a).filter(pk=article.pk).exists()
    kb.update_article(article, actor=world.l1, tags=["vpn"])  # not the text: stays published
    assert article.status == "published"
    kb.update_article(article, actor=world.l1, body="Step 1: new")
    article.refresh_from_db()
    assert article.status == "review" and article.reviewer is None
    assert not Article.objects.restrict(world.customer_a).filter(pk=article.pk).exists()
    [event] = [e for e in events(article, "article.updated") if "status" in e.new]
    assert event.old["status"] == "published" and event.new["status"] == "review"


def test_editing_a_published_known_problem_keeps_it_published(world: World) -> None:
    article = world.article(publish=True, visibility="customers")
    kb.update_article(article, actor=world.l1, body="Turn it off and on.")
    article.refresh_from_db()
    assert article.status == "published" and article.body == "Turn it off and on."


def test_mark_reviewed_by_the_owner_or_an_admin_moves_the_date(world: World) -> None:
    article = world.article(publish=True)
    kb.update_article(article, actor=world.l2, review_due_on=timezone.localdate() - dt.timedelta(days=3))
    with pytest.raises(NotPermitted):
        kb.mark_article_reviewed(article, actor=world.l1)
    kb.mark_article_reviewed(article, actor=world.l2)
    expected = timezone.localdate() + dt.timedelta(days=REVIEW_PERIOD_DAYS[ArticleKind.KNOWN_PROBLEM])
    assert Article.objects.get(pk=article.pk).review_due_on == expected
    kb.mark_article_reviewed(article, actor=world.admin)
    [first, _second] = events(article, "article.reviewed")
    assert first.new == {"review_due_on": expected.isoformat()}
    draft = world.article()
    with pytest.raises(Conflict):
        kb.mark_article_reviewed(draft, actor=world.l2)


# --- Versions -------------------------------------------------------------------------------


def test_restore_adds_a_version_with_the_old_text(world: World) -> None:
    article = world.article(title="Printers", body="old text", tags=["printer"])
    kb.update_article(article, actor=world.l1, title="Printers 2", body="new text", tags=["laser"])
    kb.restore_article_version(article, actor=world.l3, number=1)
    article.refresh_from_db()
    assert (article.title, article.body, article.version) == ("Printers", "old text", 3)
    assert list(article.tags.values_list("name", flat=True)) == ["printer"]
    latest = article.versions.get(number=3)
    assert (latest.author, latest.body, latest.note) == (world.l3, "old text", "Restored version 1")
    assert article.versions.count() == 3
    [event] = events(article, "article.restored")
    assert event.new["restored"] == 1 and event.new["title"] == "Printers"
    with pytest.raises(DomainError) as err:
        kb.restore_article_version(article, actor=world.l3, number=9)
    assert err.value.field == "number"


def test_restoring_a_title_someone_else_took_is_refused(world: World) -> None:
    article = world.article(title="Wi-Fi")
    kb.update_article(article, actor=world.l2, title="Wireless")
    world.article(title="wi-fi")
    with pytest.raises(DomainError) as err:
        kb.restore_article_version(article, actor=world.l2, number=1)
    assert err.value.field == "title"


# --- Wiki links -----------------------------------------------------------------------------


def test_wiki_links_resolve_when_the_page_is_created_and_break_when_it_is_renamed(world: World) -> None:
    rules = world.article(kind=ArticleKind.STANDARD, title="Password rules", body="See [[VPN policy]].")
    link = ArticleLink.objects.get(source=rules)
    assert (link.target_key, link.target_title, link.target) == ("vpn policy", "VPN policy", None)
    assert "wikilink-missing" in rules.body_html

    policy = world.article(kind=ArticleKind.STANDARD, title="vpn  Policy", body="Back to [[password rules]].")
    link.refresh_from_db()
    rules.refresh_from_db()
    assert link.target == policy
    assert "wikilink-missing" not in rules.body_html and 'href="../wiki/VPN%20policy/"' in rules.body_html
    assert ArticleLink.objects.get(source=policy).target == rules  # a link to an existing page

    kb.update_article(policy, actor=world.l2, title="Remote access policy")
    link.refresh_from_db()
    rules.refresh_from_db()
    assert link.target is None and "wikilink-missing" in rules.body_html
    assert rules.version == 1  # re-rendered, not edited

    kb.update_article(policy, actor=world.l2, title="VPN policy")
    link.refresh_from_db()
    assert link.target == policy


def test_editing_the_text_rewrites_the_outgoing_links(world: World) -> None:
    world.article(title="Alpha")
    article = world.article(body="[[Alpha]] [[Beta]]")
    assert set(article.outgoing_links.values_list("target_key", flat=True)) == {"alpha", "beta"}
    kb.update_article(article, actor=world.l2, body="[[Gamma|g]]")
    assert list(article.outgoing_links.values_list("target_key", "target_title")) == [("gamma", "Gamma")]


# --- Files ----------------------------------------------------------------------------------


def test_attachment_is_stored_by_hash_with_a_safe_name_and_the_text_points_at_it(world: World) -> None:
    article = world.article(body="![map](attachment:net.png)")
    assert "attachment-missing" not in article.body_html  # an image without a file has no src
    assert 'src="' not in article.body_html
    upload = SimpleUploadedFile("../../etc/net.png", b"\x89PNG data", content_type="image/png")
    attachment = kb.add_article_attachment(article, actor=world.l1, upload=upload)
    assert attachment.filename == "net.png" and attachment.content_type == "image/png"
    assert (
        attachment.file.name
        == f"attachments/{attachment.sha256[:2]}/{attachment.sha256[2:4]}/{attachment.sha256}"
    )
    assert attachment.file.read() == b"\x89PNG data"
    article.refresh_from_db()
    assert f'<img src="files/{attachment.pk}/" alt="map">' in article.body_html
    [event] = events(article, "article.attachment_added")
    assert event.new["filename"] == "net.png" and event.new["size"] == 9


def test_attachment_limits(world: World, settings: Any) -> None:
    settings.TIERDESK_MAX_ATTACHMENT_BYTES = 10
    article = world.article()
    with pytest.raises(TooLarge) as err:
        kb.add_article_attachment(article, actor=world.l2, upload=SimpleUploadedFile("a.txt", b"x" * 11))
    assert err.value.status_code == 413 and err.value.field == "file"
    with pytest.raises(DomainError):
        kb.add_article_attachment(article, actor=world.l2, upload=SimpleUploadedFile("a.txt", b""))
    with pytest.raises(NotPermitted):
        kb.add_article_attachment(article, actor=world.customer_a, upload=SimpleUploadedFile("a.txt", b"x"))
    assert not article.attachments.exists()


# --- Readers --------------------------------------------------------------------------------


def test_views_are_counted_without_audit(world: World) -> None:
    article = world.article(publish=True, visibility="customers")
    before = AuditEvent.objects.count()
    kb.record_article_view(article, actor=world.customer_a)
    kb.record_article_view(article, actor=world.l1)
    assert Article.objects.get(pk=article.pk).view_count == 2
    assert AuditEvent.objects.count() == before


def test_feedback_is_one_per_reader_and_the_counters_follow_a_new_vote(world: World) -> None:
    article = world.article(publish=True, visibility="customers")
    kb.give_article_feedback(article, actor=world.customer_a, helpful=True)
    kb.give_article_feedback(article, actor=world.customer_b, helpful=True)
    kb.give_article_feedback(article, actor=world.l1, helpful=False, comment="Step 3 is wrong")
    kb.give_article_feedback(article, actor=world.customer_a, helpful=False, comment="Did not work")
    kb.give_article_feedback(article, actor=world.customer_a, helpful=False, comment="Still not")
    article.refresh_from_db()
    assert (article.helpful_count, article.not_helpful_count) == (1, 2)
    assert Feedback.objects.filter(article=article).count() == 3
    mine = Feedback.objects.get(article=article, user=world.customer_a)
    assert (mine.helpful, mine.comment) == (False, "Still not")
    feedback_events = events(article, "article.feedback")
    assert len(feedback_events) == 5
    assert feedback_events[3].old == {"helpful": True, "comment": ""}
    assert feedback_events[3].organisation_id == world.org_a.pk
    with pytest.raises(DomainError):
        kb.give_article_feedback(article, actor=world.l1, helpful=True, comment="x" * 2001)


def test_feedback_on_an_article_the_reader_cannot_see_is_a_404(world: World) -> None:
    article = world.article(publish=True, visibility="organisations", organisations=[world.org_a])
    with pytest.raises(Http404):
        kb.give_article_feedback(article, actor=world.customer_b, helpful=False)
    article.refresh_from_db()
    assert article.not_helpful_count == 0 and not Feedback.objects.exists()


# --- Tickets --------------------------------------------------------------------------------


def test_linking_articles_to_a_ticket_keeps_the_counts_and_shows_in_the_conversation(world: World) -> None:
    article = world.article(publish=True)
    first, second = world.ticket(world.customer_a), world.ticket(world.customer_b)
    kb.link_article_to_ticket(first, article, actor=world.l1)
    kb.link_article_to_ticket(first, article, actor=world.l1)  # again: nothing new
    kb.link_article_to_ticket(second, article, actor=world.l1, solved=True)
    article.refresh_from_db()
    assert (article.ticket_count, article.solved_count) == (2, 1)
    kb.link_article_to_ticket(first, article, actor=world.l1, solved=True)
    article.refresh_from_db()
    assert (article.ticket_count, article.solved_count) == (2, 2)
    entries = TicketEntry.objects.filter(ticket=first, kind=EntryKind.EVENT, event="article.linked")
    assert [(e.data or {}).get("solved") for e in entries.order_by("id")] == [False, True]
    assert article.title in entries.first().body  # type: ignore[union-attr]
    assert len(events(first, "article.linked")) == 2
    assert events(first, "article.linked")[0].organisation_id == world.org_a.pk

    kb.unlink_article_from_ticket(first, article, actor=world.l1)
    kb.unlink_article_from_ticket(first, article, actor=world.l1)  # again: nothing happens
    article.refresh_from_db()
    assert (article.ticket_count, article.solved_count) == (1, 1)
    assert not TicketArticle.objects.filter(ticket=first).exists()
    assert len(events(first, "article.unlinked")) == 1
    assert TicketEntry.objects.filter(ticket=first, event="article.unlinked").count() == 1


def test_linking_needs_staff_who_see_both(world: World) -> None:
    article = world.article(publish=True, visibility="customers")
    ticket_a = world.ticket(world.customer_a)
    with pytest.raises(NotPermitted):
        kb.link_article_to_ticket(ticket_a, article, actor=world.customer_a)
    with pytest.raises(Http404):
        kb.link_article_to_ticket(ticket_a, article, actor=world.l1_b_only)  # not his organisation
    limited = world.article(lines=[world.lines["L2"]])
    with pytest.raises(Http404):
        kb.link_article_to_ticket(ticket_a, limited, actor=world.l1)
    assert not TicketArticle.objects.exists()


def test_a_deflection_counts_for_a_customer_who_sees_the_article(world: World) -> None:
    article = world.article(publish=True, visibility="organisations", organisations=[world.org_a])
    deflection = kb.record_deflection(article, actor=world.customer_a, subject="Printer jams")
    assert (deflection.organisation, deflection.subject) == (world.org_a, "Printer jams")
    assert Article.objects.get(pk=article.pk).deflection_count == 1
    [event] = events(article, "article.deflected")
    assert event.organisation_id == world.org_a.pk and event.actor == world.customer_a


def test_a_deflection_on_an_article_the_customer_cannot_see_is_refused_and_counts_nothing(
    world: World,
) -> None:
    org_a_only = world.article(publish=True, visibility="organisations", organisations=[world.org_a])
    internal = world.article(publish=True)
    draft = world.article(visibility="customers")
    for article in (org_a_only, internal, draft):
        with pytest.raises(Http404):
            kb.record_deflection(article, actor=world.customer_b, subject="x")
    with pytest.raises(NotPermitted):
        kb.record_deflection(org_a_only, actor=world.l1, subject="x")
    assert not Deflection.objects.exists()
    assert not Article.objects.filter(deflection_count__gt=0).exists()
    assert not AuditEvent.objects.filter(event_type="article.deflected").exists()


def test_status_names_every_change_in_the_audit_trail(world: World) -> None:
    """One event per change, of the article.* kinds, each with its actor."""
    article = world.article(kind=ArticleKind.SETUP)
    kb.update_article(article, actor=world.l2, body="v2")
    kb.change_article_status(article, actor=world.l1, to=ArticleStatus.PUBLISHED)
    kb.restore_article_version(article, actor=world.l1, number=1)
    kinds = list(
        AuditEvent.objects.filter(target_id=article.pk, event_type__startswith="article.")
        .order_by("id")
        .values_list("event_type", "actor__username")
    )
    assert kinds == [
        ("article.created", "l2"),
        ("article.updated", "l2"),
        ("article.status_changed", "l1"),
        ("article.restored", "l1"),
    ]


# --- The admin ------------------------------------------------------------------------------


@pytest.fixture
def admin_client(world: World) -> Any:
    from django.test import Client

    from tests.factories import PASSWORD

    client = Client()
    assert client.login(username="admin", password=PASSWORD)
    return client


def _admin_form(article: Article, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": article.kind,
        "title": article.title,
        "body": article.body,
        "language": article.language,
        "visibility": article.visibility,
        "organisations": [o.pk for o in article.organisations.all()],
        "audience_lines": [line.pk for line in article.audience_lines.all()],
        "audience_teams": [t.pk for t in article.audience_teams.all()],
        "service": article.service,
        "owner": article.owner_id,
        "review_due_on": article.review_due_on.isoformat() if article.review_due_on else "",
        "tag_names": ", ".join(article.tags.values_list("name", flat=True)),
    }
    data.update(changes)
    return data


def test_admin_edits_go_through_the_service(world: World, admin_client: Any) -> None:
    article = world.article(kind=ArticleKind.SETUP, publish=True, tags=["vpn"])
    assert admin_client.get("/admin/kb/article/").status_code == 200
    assert admin_client.get("/admin/kb/tag/").status_code == 200
    url = f"/admin/kb/article/{article.pk}/change/"
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, _admin_form(article, body="New steps", tag_names="vpn, remote"))
    assert response.status_code == 302, response.content
    article.refresh_from_db()
    assert (article.body, article.version, article.status) == ("New steps", 2, "review")
    assert sorted(article.tags.values_list("name", flat=True)) == ["remote", "vpn"]
    [event] = events(article, "article.updated")
    assert event.actor == world.admin and event.message == "Edited in the admin"


def test_admin_shows_the_services_refusal_as_a_form_error(world: World, admin_client: Any) -> None:
    world.article(title="Taken")
    article = world.article(title="Mine")
    url = f"/admin/kb/article/{article.pk}/change/"
    response = admin_client.post(url, _admin_form(article, title="taken"))
    assert response.status_code == 200 and "already has this title" in response.content.decode()
    response = admin_client.post(url, _admin_form(article, visibility="organisations"))
    assert response.status_code == 200 and "Choose at least one organisation" in response.content.decode()
    assert Article.objects.get(pk=article.pk).version == 1


def test_admin_publish_action_keeps_the_moderation_rules(world: World, admin_client: Any) -> None:
    by_admin = kb.create_article(actor=world.admin, kind=ArticleKind.SETUP, title="By the admin")
    by_agent = world.article(kind=ArticleKind.SETUP, title="By an agent")
    response = admin_client.post(
        "/admin/kb/article/",
        {"action": "publish", "_selected_action": [by_admin.pk, by_agent.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert Article.objects.get(pk=by_agent.pk).status == "published"
    assert Article.objects.get(pk=by_admin.pk).status == "draft"
    assert "second person" in response.content.decode()


def test_a_title_whose_link_key_outgrows_the_column_is_refused(world: World) -> None:
    with pytest.raises(DomainError) as err:
        world.article(title="ß" * 150)  # 150 characters, a 300-character key
    assert err.value.field == "title" and err.value.code == "too_long"
    assert world.article(title="ß" * 100).link_key == "ss" * 100


def test_review_date_as_text_from_a_form_or_the_api(world: World) -> None:
    article = world.article(review_due_on="2031-05-01")
    assert article.review_due_on == dt.date(2031, 5, 1)
    with pytest.raises(DomainError) as err:
        kb.update_article(article, actor=world.l2, review_due_on="next year")
    assert err.value.field == "review_due_on"


def test_the_search_index_follows_every_save(world: World) -> None:
    from tierdesk.kb.search import search_articles

    def found(query: str) -> list[str]:
        return [hit.article.title for hit in search_articles(world.l1, query).hits]

    article = world.article(title="Toner cartridge", body="Replace the drum unit.", tags=["laser"])
    assert found("drum") == ["Toner cartridge"] and found("laser") == ["Toner cartridge"]
    kb.update_article(article, actor=world.l2, title="Paper jam", body="Open tray two.", tags=["inkjet"])
    assert found("drum") == [] and found("laser") == [] and found("tray") == ["Paper jam"]
    kb.update_article(article, actor=world.l2, service="Print server")
    assert found("server") == ["Paper jam"]
    kb.restore_article_version(article, actor=world.l2, number=1)
    assert found("drum") == ["Toner cartridge"] and found("tray") == []
