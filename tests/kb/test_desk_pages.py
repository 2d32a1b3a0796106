"""The knowledge base in the agent workspace (/desk/kb/): who reaches which page, search and
browse, the article page (rendering, links, tickets, feedback, moderation and its refusals),
the editor (preview, files, version conflicts), versions and restore, reviews and the report."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import World
from tierdesk.kb import services as kb
from tierdesk.kb.models import Article, ArticleAttachment, ArticleVersion, Feedback

pytestmark = pytest.mark.django_db


def url(name: str, *args: Any) -> str:
    return reverse(f"kb:{name}", args=args)


def html_of(response: Any) -> str:
    return response.content.decode()


def follow(client: Client, path: str, data: dict[str, Any]) -> str:
    response = client.post(path, data, follow=True)
    assert response.status_code == 200
    return html_of(response)


def form_data(article: Article | None = None, **values: Any) -> dict[str, Any]:
    """What the editor posts: the article's current values (or a new known problem), changed."""
    data: dict[str, Any] = {
        "kind": "known_problem",
        "title": "New article",
        "language": "en",
        "body": "Some *text*.",
        "visibility": "internal",
        "tags": "",
        "service": "",
        "owner": "",
        "review_due_on": "",
        "note": "",
    }
    if article is not None:
        data |= {
            "version": article.version,
            "kind": article.kind,
            "title": article.title,
            "language": article.language,
            "body": article.body,
            "visibility": article.visibility,
            "organisations": [o.pk for o in article.organisations.all()],
            "tags": ", ".join(t.name for t in article.tags.all()),
            "owner": article.owner_id,
        }
    data |= values
    return data


# --- Access ---------------------------------------------------------------------------------


def test_customers_and_strangers_never_reach_the_desk_knowledge_base(world: World, client: Client) -> None:
    public = world.article(publish=True, title="Reset your password", visibility="customers")
    attachment = kb.add_article_attachment(
        public, actor=world.l2, upload=SimpleUploadedFile("guide.pdf", b"%PDF-1.4")
    )
    ticket = world.ticket(subject="Password reset")
    gets = [
        url("list"),
        url("list") + "?q=password",
        url("new"),
        url("reviews"),
        url("report"),
        url("article", public.pk),
        url("edit", public.pk),
        url("versions", public.pk),
        url("file", public.pk, attachment.pk),
        url("wiki", "Reset your password"),
        url("ticket_panel", ticket.number),
        url("ticket_insert", ticket.number, public.pk) + "?what=link",
    ]
    posts = [
        url("preview"),
        url("status", public.pk),
        url("reviewed", public.pk),
        url("feedback", public.pk),
        url("restore", public.pk, 1),
        url("ticket_link", ticket.number),
        url("ticket_unlink", ticket.number),
    ]
    for path in gets + posts:
        response = (
            client.get(path) if path in gets else client.post(path, {"helpful": "yes", "to": "archived"})
        )
        assert response.status_code == 302 and response["Location"].startswith("/login/"), path
    for customer in (world.customer_a, world.manager_a):
        client.force_login(customer)
        for path in gets:
            assert client.get(path).status_code == 404, path
        for path in posts:
            assert client.post(path, {"helpful": "yes", "to": "archived", "body": "x"}).status_code == 404, (
                path
            )
    public.refresh_from_db()
    assert public.status == "published" and public.helpful_count == 0 and public.view_count == 0


@pytest.mark.parametrize("who", ["admin", "l1"])
def test_every_page_opens_for_admins_and_agents(world: World, client: Client, who: str) -> None:
    item = world.article(publish=True, title="VPN drops every hour", body="Renew the lease.")
    kb.update_article(item, actor=world.l2, body="Renew the DHCP lease.")
    client.force_login(getattr(world, who))
    for path in (
        url("list"),
        url("new"),
        url("reviews"),
        url("article", item.pk),
        url("edit", item.pk),
        url("versions", item.pk),
        url("versions", item.pk) + "?a=1&b=2",
    ):
        assert client.get(path).status_code == 200, path
    assert client.get(url("report")).status_code == (200 if who == "admin" else 404)
    html = client.get(reverse("workspace:queue")).content.decode()
    assert f'href="{url("list")}"' in html  # the workspace navigation leads here


def test_an_l1_agent_cannot_open_an_internal_article_limited_to_l2(world: World, client: Client) -> None:
    secret = world.article(publish=True, title="Core switch passwords", lines=[world.lines["L2"]])
    attachment = kb.add_article_attachment(
        secret, actor=world.l2, upload=SimpleUploadedFile("dump.txt", b"secret")
    )
    client.force_login(world.l1)
    for path in (
        url("article", secret.pk),
        url("edit", secret.pk),
        url("versions", secret.pk),
        url("file", secret.pk, attachment.pk),
    ):
        assert client.get(path).status_code == 404, path
    assert client.post(url("status", secret.pk), {"to": "archived"}).status_code == 404
    assert client.post(url("edit", secret.pk), form_data(secret, title="Hacked")).status_code == 404
    assert "Core switch" not in html_of(client.get(url("list")))
    # The wiki link of a title he may not read leads to a new article, not to it.
    response = client.get(url("wiki", "Core switch passwords"))
    assert response.status_code == 302 and response["Location"].startswith(url("new"))
    client.force_login(world.l2)
    assert client.get(url("article", secret.pk)).status_code == 200
    assert "Core switch" in html_of(client.get(url("list")))


# --- Search and browse ----------------------------------------------------------------------


def test_browsing_lists_recent_articles_with_filters_and_pages(
    world: World, client: Client, django_assert_max_num_queries: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tierdesk.kb import views

    older = world.article(title="Old printer notes", tags=["printer"])
    newer = world.article(publish=True, title="New scanner notes", tags=["scanner"], visibility="customers")
    setup = world.article(kind="setup", title="Set up the VPN client", language="ru")
    client.force_login(world.l1)
    html = html_of(client.get(url("list")))
    assert (
        html.index("Set up the VPN client")
        < html.index("New scanner notes")
        < html.index("Old printer notes")
    )
    html = html_of(client.get(url("list"), {"status": "published"}))
    assert "New scanner notes" in html and "Old printer notes" not in html
    html = html_of(client.get(url("list"), {"kind": "setup"}))
    assert "Set up the VPN client" in html and "New scanner notes" not in html
    html = html_of(client.get(url("list"), {"tag": "printer"}))
    assert "Old printer notes" in html and "New scanner notes" not in html
    html = html_of(client.get(url("list"), {"visibility": "customers"}))
    assert "New scanner notes" in html and "Old printer notes" not in html
    html = html_of(client.get(url("list"), {"language": "ru"}))
    assert "Set up the VPN client" in html and "Old printer notes" not in html
    # Pages: two per page here, the third article on the next one.
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    first = client.get(url("list"))
    assert first.context["next_query"] and [a.pk for a in first.context["articles"]] == [setup.pk, newer.pk]
    second = client.get(url("list") + "?" + first.context["next_query"])
    assert [a.pk for a in second.context["articles"]] == [older.pk]
    assert second.context["next_query"] == ""
    bad = client.get(url("list"), {"cursor": "bm9uc2Vuc2U"})
    assert bad.status_code == 200 and "not valid" in html_of(bad)
    # Session, user, my reviews due, the page, its tags.
    with django_assert_max_num_queries(5) as few:
        client.get(url("list"))
    for n in range(5):
        world.article(title=f"More notes {n}", tags=["printer", f"t{n}"])
    monkeypatch.setattr(views, "PAGE_SIZE", 30)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(url("list"))
    assert "More notes 4" in html_of(response)


def test_search_ranks_highlights_and_filters(
    world: World, client: Client, django_assert_max_num_queries: Any
) -> None:
    world.article(publish=True, title="Printer shows offline", body="Turn the printer off and on.")
    world.article(title="Scanner jams", body="Nothing about the other device.")
    world.article(kind="setup", title="Connect a printer", body="Add the printer by its address.")
    world.article(title="<script>alert(1)</script> printer", body="Hostile title.")
    client.force_login(world.l1)
    response = client.get(url("list"), {"q": "printers"})
    html = html_of(response)
    assert response.status_code == 200
    assert "<mark>Printer</mark> shows offline" in html  # stemmed: "printers" finds "printer"
    assert "Scanner jams" not in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    html = html_of(client.get(url("list"), {"q": "printer", "kind": "setup"}))
    assert "Connect a" in html and "shows offline" not in html
    html = html_of(client.get(url("list"), {"q": "printer", "status": "published"}))
    assert "shows offline" in html and "Connect a" not in html
    html = html_of(client.get(url("list"), {"q": "zebra"}))
    assert "Nothing found" in html and f"{url('new')}?title=zebra" in html
    # Session, user, my reviews due, the ranked ids, the articles, their tags (and on
    # PostgreSQL the highlights, by ts_headline).
    with django_assert_max_num_queries(7) as few:
        client.get(url("list"), {"q": "printer"})
    for n in range(4):
        world.article(title=f"Printer note {n}", tags=["printer"])
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert "Printer</mark> note 3" in html_of(client.get(url("list"), {"q": "printer"}))


def test_the_list_counts_my_reviews_due(world: World, client: Client) -> None:
    soon = timezone.localdate() + dt.timedelta(days=3)
    item = world.article(title="Due soon")
    kb.update_article(item, actor=world.l2, review_due_on=soon)
    kb.change_article_status(item, actor=world.admin, to="published")
    client.force_login(world.l2)
    response = client.get(url("list"))
    assert response.context["reviews_due"] == 1 and 'id="reviews-due"' in html_of(response)
    client.force_login(world.l1)
    assert client.get(url("list")).context["reviews_due"] == 0


# --- The article page -----------------------------------------------------------------------


def test_article_page_shows_the_article_and_everything_about_it(
    world: World, client: Client, django_assert_max_num_queries: Any
) -> None:
    target = world.article(publish=True, title="Printer drivers", visibility="customers", tags=["Drivers"])
    source = world.article(
        publish=True,
        title="Printer offline",
        body="See [[Printer drivers]] and [[Toner codes]].\n\n<script>alert(1)</script>",
    )
    ticket = world.ticket(subject="My printer is offline")
    kb.link_article_to_ticket(ticket, source, actor=world.l1, solved=True)
    hidden_ticket = world.ticket(requester=world.customer_b, subject="Beta printer")
    kb.link_article_to_ticket(hidden_ticket, source, actor=world.l1)
    client.force_login(world.l1_b_only)  # serves org B only: sees one of the two tickets
    html = html_of(client.get(url("article", source.pk)))
    assert '<a class="wikilink" href="../wiki/Printer%20drivers/"' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "Links to pages that do not exist" in html
    assert f"{url('new')}?title=Toner%20codes" in html
    assert hidden_ticket.number in html and ticket.number not in html
    assert "Linked to 2 tickets, solved 1." in html
    client.force_login(world.l1)
    html = html_of(client.get(url("article", target.pk)))
    assert "Pages linking here" in html and url("article", source.pk) in html
    assert "drivers" in html and "All customers" in html and "Links to pages that do not exist" not in html
    # Opening it counted views, and the page's queries do not grow with its links and tickets.
    target.refresh_from_db()
    assert target.view_count == 1
    # Session, user, the article and its rows (tags, organisations, lines, teams, files), the
    # view counter, backlinks, missing links, linked tickets, the reader's own verdict.
    with django_assert_max_num_queries(13) as few:
        client.get(url("article", source.pk))
    for n in range(4):
        world.article(title=f"Linking {n}", body="[[Printer offline]]")
        kb.link_article_to_ticket(world.ticket(), source, actor=world.l1)
        kb.add_article_attachment(source, actor=world.l2, upload=SimpleUploadedFile(f"f{n}.txt", b"x%d" % n))
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = html_of(client.get(url("article", source.pk)))
    assert "Linking 3" in html and "f3.txt" in html


def test_review_date_is_highlighted_when_overdue(world: World, client: Client) -> None:
    item = world.article(publish=True, title="Aging article")
    Article.objects.filter(pk=item.pk).update(review_due_on=timezone.localdate() - dt.timedelta(days=1))
    client.force_login(world.l1)
    html = html_of(client.get(url("article", item.pk)))
    assert 'class="overdue"' in html and '<span class="badge overdue">overdue</span>' in html


def test_wiki_links_lead_to_the_article_or_to_a_new_one(world: World, client: Client) -> None:
    item = world.article(title="TCP/IP basics")
    client.force_login(world.l1)
    response = client.get("/desk/kb/wiki/tcp%2Fip%20%20BASICS/")
    assert response.status_code == 302 and response["Location"] == url("article", item.pk)
    response = client.get("/desk/kb/wiki/Toner%20codes/")
    assert response.status_code == 302 and response["Location"] == f"{url('new')}?title=Toner+codes"
    html = html_of(client.get(response["Location"]))
    assert 'value="Toner codes"' in html


def test_files_are_served_safely(world: World, client: Client) -> None:
    item = world.article(title="With files")
    page = kb.add_article_attachment(
        item, actor=world.l2, upload=SimpleUploadedFile("evil.html", b"<script>alert(1)</script>")
    )
    image = kb.add_article_attachment(
        item, actor=world.l2, upload=SimpleUploadedFile("shot.png", b"\x89PNG..")
    )
    other = world.article(title="Other")
    client.force_login(world.l1)
    response = client.get(url("file", item.pk, page.pk))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(cast(Any, response).streaming_content) == b"<script>alert(1)</script>"
    response = client.get(url("file", item.pk, image.pk))
    assert response["Content-Disposition"].startswith("inline") and response["Content-Type"] == "image/png"
    # A file is reached only under its own article.
    assert client.get(url("file", other.pk, page.pk)).status_code == 404


def test_feedback_is_counted_and_can_be_changed(world: World, client: Client) -> None:
    item = world.article(publish=True, title="Helpful?")
    client.force_login(world.l1)
    html = follow(client, url("feedback", item.pk), {"helpful": "yes", "comment": "Saved my day"})
    assert "Thank you for your feedback." in html and "Helpful: 1 · Not helpful: 0" in html
    html = follow(client, url("feedback", item.pk), {"helpful": "no"})
    assert "Helpful: 0 · Not helpful: 1" in html
    assert Feedback.objects.get(article=item, user=world.l1).helpful is False
    assert "You found this article not helpful." in html
    client.force_login(world.l2)  # his own page shows no verdict of someone else's
    assert 'id="my-feedback"' not in html_of(client.get(url("article", item.pk)))
    client.force_login(world.l1)
    response = client.post(url("feedback", item.pk), {"helpful": "maybe"})
    assert response.status_code == 400 and Feedback.objects.count() == 1


# --- Moderation -----------------------------------------------------------------------------


def test_moderation_buttons_follow_the_status_and_refusals_are_explained(
    world: World, client: Client
) -> None:
    item = world.article(kind="setup", title="Set up the VPN client")  # written by L2
    client.force_login(world.l2)

    def buttons() -> list[str]:
        response = client.get(url("article", item.pk))
        return [move["label"] for move in response.context["moves"]]

    assert buttons() == ["Submit for review", "Publish", "Archive"]
    html = follow(client, url("status", item.pk), {"to": "review", "note": "Please check"})
    assert "The article is now “In review”." in html
    assert buttons() == ["Publish", "Back to draft", "Archive"]
    # The author may not publish his own setup article: the service refuses, the page says why.
    html = follow(client, url("status", item.pk), {"to": "published"})
    assert "are published by a second person" in html
    item.refresh_from_db()
    assert item.status == "review"
    client.force_login(world.l1)
    html = follow(client, url("status", item.pk), {"to": "published"})
    assert "The article is now “Published”." in html
    item.refresh_from_db()
    assert item.status == "published" and item.reviewer == world.l1
    assert buttons() == ["Back to draft", "Archive"]
    # A move the table does not allow is refused with its reason.
    html = follow(client, url("status", item.pk), {"to": "review"})
    assert "cannot go from" in html
    # A status that does not exist is a clear error too.
    html = follow(client, url("status", item.pk), {"to": "gone"})
    assert "Choose a status the article can move to." in html


def test_still_correct_moves_the_review_on_for_the_owner(world: World, client: Client) -> None:
    item = world.article(publish=True, title="Reviewed yearly", kind="standard")
    Article.objects.filter(pk=item.pk).update(review_due_on=timezone.localdate() - dt.timedelta(days=5))
    client.force_login(world.l1)  # not the owner: no button, and the service refuses
    assert not client.get(url("article", item.pk)).context["may_confirm_review"]
    html = follow(client, url("reviewed", item.pk), {})
    assert "Only the article&#x27;s owner or an administrator" in html
    client.force_login(world.l2)
    assert client.get(url("article", item.pk)).context["may_confirm_review"]
    html = follow(client, url("reviewed", item.pk), {})
    item.refresh_from_db()
    assert item.review_due_on == timezone.localdate() + dt.timedelta(days=365)
    assert "the next review is due on" in html


# --- Writing --------------------------------------------------------------------------------


def test_new_article_with_a_file_and_its_audience(world: World, client: Client) -> None:
    client.force_login(world.l2)
    response = client.get(url("new"))
    assert response.context["form"].initial["owner"] == world.l2.pk
    response = client.post(
        url("new"),
        form_data(
            title="Alpha printers",
            body="![map](attachment:map.png)",
            visibility="organisations",
            organisations=[world.org_a.pk],
            tags="Printer, printer , Alpha",
            owner=world.l1.pk,
            review_due_on="2031-01-31",
            note="First draft",
            attachments=[SimpleUploadedFile("map.png", b"\x89PNG..")],
        ),
    )
    item = Article.objects.get(title="Alpha printers")
    assert response.status_code == 302 and response["Location"] == url("article", item.pk)
    assert item.status == "draft" and item.owner == world.l1 and item.created_by == world.l2
    assert list(item.organisations.all()) == [world.org_a]
    assert sorted(t.name for t in item.tags.all()) == ["alpha", "printer"]
    assert item.review_due_on == dt.date(2031, 1, 31)
    attachment = ArticleAttachment.objects.get(article=item)
    item.refresh_from_db()
    assert f'src="files/{attachment.pk}/"' in item.body_html
    assert ArticleVersion.objects.get(article=item).note == "First draft"


def test_new_article_errors_keep_the_input(world: World, client: Client) -> None:
    world.article(title="Taken title")
    client.force_login(world.l2)
    response = client.post(url("new"), form_data(title="taken   TITLE", owner=world.l2.pk, body="kept text"))
    assert response.status_code == 400
    html = html_of(response)
    assert "already has this title" in html and "kept text" in html
    response = client.post(url("new"), form_data(title="Orgs", owner=world.l2.pk, visibility="organisations"))
    assert response.status_code == 400 and "Choose the organisations" in html_of(response)
    response = client.post(
        url("new"),
        form_data(title="Lines", owner=world.l2.pk, visibility="customers", lines=[world.lines["L2"].pk]),
    )
    assert response.status_code == 400 and "Only an internal article" in html_of(response)
    assert Article.objects.count() == 1


def test_editing_with_a_stale_version_keeps_the_text_and_says_who_won(world: World, client: Client) -> None:
    item = world.article(title="Shared page", body="Original")
    client.force_login(world.l1)
    opened = form_data(item)  # L1 opens the editor at version 1 ...
    kb.update_article(item, actor=world.l2, body="L2's change")  # ... L2 saves first
    response = client.post(url("edit", item.pk), opened | {"body": "L1's change"})
    assert response.status_code == 409
    html = html_of(response)
    assert "changed by someone else" in html and "L1&#x27;s change" in html
    item.refresh_from_db()
    assert item.body == "L2's change" and item.version == 2
    # The form now carries the current version: saving again replaces the other change, knowingly.
    assert response.context["form"]["version"].value() == "2"
    response = client.post(url("edit", item.pk), opened | {"body": "L1's change", "version": 2})
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.body == "L1's change" and item.version == 3


def test_editing_saves_a_version_and_files(world: World, client: Client) -> None:
    item = world.article(title="Editable", body="v1")
    client.force_login(world.l1)
    response = client.post(
        url("edit", item.pk),
        form_data(
            item,
            body="v2 ![x](attachment:x.png)",
            note="Clarified",
            attachments=[SimpleUploadedFile("x.png", b"png")],
        ),
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.version == 2 and item.body.startswith("v2")
    assert ArticleVersion.objects.get(article=item, number=2).note == "Clarified"
    assert "files/" in item.body_html and item.attachments.count() == 1
    assert client.post(url("edit", item.pk), form_data(item) | {"version": ""}).status_code == 400


def test_preview_renders_safely_with_absolute_links(world: World, client: Client) -> None:
    world.article(title="Existing page")
    limited = world.article(title="Secret page", lines=[world.lines["L2"]])
    item = world.article(title="With image")
    image = kb.add_article_attachment(item, actor=world.l2, upload=SimpleUploadedFile("a.png", b"png"))
    client.force_login(world.l1)
    body = (
        "**bold** [[Existing page]] [[Missing page]] [[Secret page]] <script>x</script> "
        "![i](attachment:a.png)"
    )
    html = html_of(client.post(url("preview") + f"?article={item.pk}", {"body": body}))
    assert "<strong>bold</strong>" in html and "<script>" not in html
    assert '<a class="wikilink" href="/desk/kb/wiki/Existing%20page/"' in html
    assert '<a class="wikilink wikilink-missing" href="/desk/kb/wiki/Missing%20page/"' in html
    # A page the agent may not read looks missing: the preview does not reveal it.
    assert '<a class="wikilink wikilink-missing" href="/desk/kb/wiki/Secret%20page/"' in html
    assert f'src="/desk/kb/{item.pk}/files/{image.pk}/"' in html
    assert limited.pk
    assert client.post(url("preview") + f"?article={limited.pk}", {"body": "x"}).status_code == 404
    assert client.get(url("preview")).status_code == 405


# --- Versions -------------------------------------------------------------------------------


def test_versions_are_listed_compared_and_restored(
    world: World, client: Client, django_assert_max_num_queries: Any
) -> None:
    item = world.article(title="Versioned", body="line one\nline two", tags=["a"])
    kb.update_article(item, actor=world.l1, body="line one\nline 2\nline three", tags=["a", "b"], note="Fix")
    client.force_login(world.l1)
    response = client.get(url("versions", item.pk))
    assert response.context["form"].initial == {"a": 1, "b": 2}
    response = client.get(url("versions", item.pk), {"a": 2, "b": 1})
    html = html_of(response)
    assert '<tr class="delete">' in html and '<tr class="insert">' in html
    ops = [(line.op, line.text) for line in response.context["comparison"].lines]
    assert ops == [
        ("equal", "line one"),
        ("delete", "line two"),
        ("insert", "line 2"),
        ("insert", "line three"),
    ]
    assert "+ b" in html and "Fix" in html
    assert client.get(url("versions", item.pk), {"a": 1, "b": 9}).status_code == 404
    assert client.get(url("versions", item.pk) + "?a=x&b=1").status_code == 400
    html = follow(client, url("restore", item.pk, 1), {})
    assert "Version 1 was restored as version 3." in html
    item.refresh_from_db()
    assert item.version == 3 and item.body == "line one\nline two"
    assert [t.name for t in item.tags.all()] == ["a"]
    html = follow(client, url("restore", item.pk, 7), {})
    assert "has no version 7" in html
    # Session, user, the article and its rows (tags, organisations, lines, teams, files), the
    # versions, the two compared.
    with django_assert_max_num_queries(10) as few:
        client.get(url("versions", item.pk), {"a": 1, "b": 3})
    for n in range(5):
        kb.update_article(item, actor=world.l1, body=f"text {n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(url("versions", item.pk), {"a": 1, "b": 3})


# --- Reviews and the report -----------------------------------------------------------------


def test_review_queue_for_owners_and_the_overdue_list_for_admins(world: World, client: Client) -> None:
    today = timezone.localdate()
    mine = world.article(publish=True, title="Mine overdue")
    theirs = world.article(world.l1, publish=True, title="L1 overdue")
    fresh = world.article(publish=True, title="Fresh one")
    for item, days in ((mine, -3), (theirs, -10), (fresh, 200)):
        Article.objects.filter(pk=item.pk).update(review_due_on=today + dt.timedelta(days=days))
    client.force_login(world.l2)
    response = client.get(url("reviews"))
    html = html_of(response)
    assert [a.pk for a in response.context["mine"]] == [mine.pk]
    assert "Mine overdue" in html and "L1 overdue" not in html and "All overdue reviews" not in html
    client.force_login(world.admin)
    response = client.get(url("reviews"))
    html = html_of(response)
    assert {a.pk for a in response.context["overdue"]} == {mine.pk, theirs.pk}
    assert "All overdue reviews, by owner" in html and "L1 overdue" in html and "Fresh one" not in html


def test_report_for_admins(world: World, client: Client, django_assert_max_num_queries: Any) -> None:
    used = world.article(publish=True, title="Much used", visibility="customers")
    for _ in range(3):
        kb.record_article_view(used, actor=world.l1)
    kb.link_article_to_ticket(world.ticket(), used, actor=world.l1, solved=True)
    kb.record_deflection(used, actor=world.customer_a, subject="password")
    client.force_login(world.admin)
    response = client.get(url("report"))
    html = html_of(response)
    assert [a.pk for a in response.context["report"].most_used] == [used.pk]
    assert "Much used" in html and response.context["report"].totals["deflections"] == 1
    assert client.get(url("report"), {"period": "30"}).context["period"] == "30"
    assert client.get(url("report"), {"period": "7000"}).context["period"] == ""
    # Session, user, most used, least helpful, stale, articles by status, the sums.
    with django_assert_max_num_queries(7):
        client.get(url("report"))
