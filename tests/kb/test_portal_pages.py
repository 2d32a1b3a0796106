"""The knowledge base in the customer portal: who reads what (search, suggestions, pages,
files, wiki links), feedback, and "This solved my problem" that creates no request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from tests.factories import World
from tests.kb.conftest import Library
from tierdesk.audit.choices import EventType
from tierdesk.audit.models import AuditEvent
from tierdesk.kb import services as kb
from tierdesk.kb.models import Article, ArticleAttachment, Deflection, Feedback
from tierdesk.tickets.models import Ticket

# Session, user, the page of articles, their tags.
BROWSE_QUERIES = 4
# Session, user, the ranked ids, those articles, their tags (and on PostgreSQL the
# highlighted titles and snippets, ts_headline).
SEARCH_QUERIES = 6
# Session, user, the article with its joined rows, its files, the reader's own verdict, the
# view counter.
ARTICLE_QUERIES = 6
# Session, user, the ranked ids with their titles, those articles, their tags.
SUGGEST_QUERIES = 5


@dataclass
class Shelf:
    """Articles about printers for every audience, so one word finds them all."""

    public: Article
    org_a: Article
    org_b: Article
    internal: Article
    draft: Article
    archived: Article


@pytest.fixture
def shelf(world: World) -> Shelf:
    w = world
    archived = w.article(publish=True, title="Printer archive notes", visibility="customers")
    kb.change_article_status(archived, actor=w.admin, to="archived")
    return Shelf(
        public=w.article(
            publish=True,
            title="Printer shows offline",
            visibility="customers",
            body="Turn the printer off and on. See [[Printer drivers for Beta]] and [[Printer queue]].",
        ),
        org_a=w.article(
            publish=True,
            title="Printer queue",
            visibility="organisations",
            organisations=[w.org_a],
            body="Alpha's printer queue is at print.alpha.test.",
        ),
        org_b=w.article(
            publish=True,
            title="Printer drivers for Beta",
            visibility="organisations",
            organisations=[w.org_b],
            body="Beta's secret printer driver share.",
        ),
        internal=w.article(publish=True, title="Printer firmware runbook", body="Internal printer notes."),
        draft=w.article(
            title="Printer toner draft", visibility="customers", body="Not reviewed printer text."
        ),
        archived=archived,
    )


def signed_in(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def hidden_from_a(shelf: Shelf) -> list[Article]:
    return [shelf.org_b, shelf.internal, shelf.draft, shelf.archived]


# --- Access ---------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in_and_agents_to_their_workspace(
    world: World, shelf: Shelf, client: Client
) -> None:
    urls = [
        reverse("kb_portal:search"),
        reverse("kb_portal:suggest") + "?q=printer",
        reverse("kb_portal:article", args=[shelf.public.pk]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    # The suggestions HTMX asks for after the session ended: nothing, not the sign-in page.
    quiet = client.get(reverse("kb_portal:suggest"), {"subject": "printer"}, HTTP_HX_REQUEST="true")
    assert quiet.status_code == 200 and quiet.content == b""
    client.force_login(world.l1)
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == "/"


# --- The permission matrix ------------------------------------------------------------------


@pytest.mark.parametrize("who", ["customer_a", "manager_a"])
def test_customer_opens_only_published_articles_meant_for_him(
    world: World, shelf: Shelf, client: Client, who: str
) -> None:
    signed_in(client, getattr(world, who))
    for visible in (shelf.public, shelf.org_a):
        response = client.get(reverse("kb_portal:article", args=[visible.pk]))
        assert response.status_code == 200
        assert visible.title in response.content.decode()
    for hidden in hidden_from_a(shelf):
        assert client.get(reverse("kb_portal:article", args=[hidden.pk])).status_code == 404
    assert client.get(reverse("kb_portal:article", args=[999_999])).status_code == 404


def test_the_other_organisation_sees_its_own_and_not_alphas(
    world: World, shelf: Shelf, client: Client
) -> None:
    signed_in(client, world.customer_b)
    assert client.get(reverse("kb_portal:article", args=[shelf.org_b.pk])).status_code == 200
    assert client.get(reverse("kb_portal:article", args=[shelf.public.pk])).status_code == 200
    assert client.get(reverse("kb_portal:article", args=[shelf.org_a.pk])).status_code == 404


def test_search_finds_only_what_the_customer_may_read(world: World, shelf: Shelf, client: Client) -> None:
    signed_in(client, world.customer_a)
    response = client.get(reverse("kb_portal:search"), {"q": "printer"})
    assert response.status_code == 200
    found = {hit.article.pk for hit in response.context["hits"]}
    assert found == {shelf.public.pk, shelf.org_a.pk}
    page = response.content.decode()
    for hidden in hidden_from_a(shelf):
        assert hidden.title not in page
    assert "<mark>" in page  # the match highlighted

    signed_in(client, world.customer_b)
    found_b = {
        hit.article.pk for hit in client.get(reverse("kb_portal:search"), {"q": "printer"}).context["hits"]
    }
    assert found_b == {shelf.public.pk, shelf.org_b.pk}


def test_search_filters_by_kind(world: World, shelf: Shelf, client: Client) -> None:
    setup = world.article(
        publish=True, kind="setup", title="Set up the printer at home", visibility="customers"
    )
    signed_in(client, world.customer_a)
    response = client.get(reverse("kb_portal:search"), {"q": "printer", "kind": "setup"})
    assert [hit.article.pk for hit in response.context["hits"]] == [setup.pk]
    browse = client.get(reverse("kb_portal:search"), {"kind": "setup"})
    assert [a.pk for a in browse.context["popular"]] == [setup.pk]
    assert client.get(reverse("kb_portal:search"), {"kind": "nonsense"}).status_code == 400


def test_browsing_lists_the_most_read_articles_the_customer_may_read(
    world: World, shelf: Shelf, client: Client
) -> None:
    for _ in range(3):
        kb.record_article_view(shelf.org_a, actor=world.customer_a)
    signed_in(client, world.customer_a)
    response = client.get(reverse("kb_portal:search"))
    assert response.status_code == 200
    assert [a.pk for a in response.context["popular"]] == [shelf.org_a.pk, shelf.public.pk]
    page = response.content.decode()
    assert "Popular articles" in page
    for hidden in hidden_from_a(shelf):
        assert hidden.title not in page


def test_suggestions_show_matching_published_articles_only(
    world: World, shelf: Shelf, client: Client
) -> None:
    signed_in(client, world.customer_a)
    response = client.get(reverse("kb_portal:suggest"), {"q": "my printer is offline"})
    assert response.status_code == 200
    page = response.content.decode()
    assert reverse("kb_portal:article", args=[shelf.public.pk]) in page
    assert reverse("kb_portal:solved", args=[shelf.public.pk]) in page
    assert "This solved my problem" in page
    for hidden in hidden_from_a(shelf):
        assert reverse("kb_portal:article", args=[hidden.pk]) not in page
        assert reverse("kb_portal:solved", args=[hidden.pk]) not in page
    # The subject field sends its own name; an empty or unmatched text suggests nothing.
    by_subject = client.get(reverse("kb_portal:suggest"), {"subject": "printer offline"}).content.decode()
    assert reverse("kb_portal:article", args=[shelf.public.pk]) in by_subject
    assert client.get(reverse("kb_portal:suggest"), {"q": "  "}).content.decode().strip() == ""
    assert (
        "This solved"
        not in client.get(reverse("kb_portal:suggest"), {"q": "zebra xylophone"}).content.decode()
    )


def test_suggestions_are_at_most_five(world: World, client: Client) -> None:
    for n in range(7):
        world.article(publish=True, title=f"Scanner problem {n}", visibility="customers")
    signed_in(client, world.customer_a)
    response = client.get(reverse("kb_portal:suggest"), {"q": "scanner"})
    assert len(response.context["hits"]) == 5
    assert response.content.decode().count("This solved my problem") == 5


def test_hostile_titles_are_escaped_in_search_and_suggestions(world: World, client: Client) -> None:
    world.article(publish=True, title="Printer <script>alert(1)</script>", visibility="customers")
    signed_in(client, world.customer_a)
    for url in (reverse("kb_portal:search"), reverse("kb_portal:suggest")):
        page = client.get(url, {"q": "printer"}).content.decode()
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;" in page
    nothing = client.get(reverse("kb_portal:search"), {"q": "<b>zebra</b>"}).content.decode()
    assert "Nothing found for" in nothing and "<b>zebra</b>" not in nothing and "&lt;b&gt;zebra" in nothing


# --- Files and wiki links -------------------------------------------------------------------


def attach(world: World, article: Article, name: str, content: bytes) -> ArticleAttachment:
    return kb.add_article_attachment(article, actor=world.l2, upload=SimpleUploadedFile(name, content))


def test_files_are_served_only_with_a_readable_article(world: World, shelf: Shelf, client: Client) -> None:
    image = attach(world, shelf.public, "screen.png", b"\x89PNG fake image")
    manual = attach(world, shelf.public, "manual.html", b"<script>alert(1)</script>")
    secret = attach(world, shelf.org_b, "beta.txt", b"beta secret")
    internal = attach(world, shelf.internal, "internal.txt", b"internal")
    signed_in(client, world.customer_a)

    shown = client.get(reverse("kb_portal:file", args=[shelf.public.pk, image.pk]))
    assert shown.status_code == 200 and shown["Content-Type"] == "image/png"
    assert not shown["Content-Disposition"].startswith("attachment")  # an <img> of the text
    assert b"".join(cast(Any, shown).streaming_content) == b"\x89PNG fake image"
    downloaded = client.get(reverse("kb_portal:file", args=[shelf.public.pk, manual.pk]))
    assert downloaded["Content-Disposition"].startswith("attachment")
    for response in (shown, downloaded):
        assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"
        assert response["X-Content-Type-Options"] == "nosniff"

    assert client.get(reverse("kb_portal:file", args=[shelf.org_b.pk, secret.pk])).status_code == 404
    assert client.get(reverse("kb_portal:file", args=[shelf.internal.pk, internal.pk])).status_code == 404
    # A readable article's address does not open another article's file.
    assert client.get(reverse("kb_portal:file", args=[shelf.public.pk, secret.pk])).status_code == 404


def test_article_page_lists_its_files_and_shows_images_of_the_text(
    world: World, shelf: Shelf, client: Client
) -> None:
    image = attach(world, shelf.public, "screen.png", b"\x89PNG")
    kb.update_article(shelf.public, actor=world.l2, body="Look:\n\n![the screen](attachment:screen.png)")
    signed_in(client, world.customer_a)
    page = client.get(reverse("kb_portal:article", args=[shelf.public.pk])).content.decode()
    assert f'src="files/{image.pk}/"' in page  # relative to /portal/kb/<id>/
    assert reverse("kb_portal:file", args=[shelf.public.pk, image.pk]) in page


def test_wiki_links_open_readable_articles_only(world: World, shelf: Shelf, client: Client) -> None:
    signed_in(client, world.customer_a)
    page = client.get(reverse("kb_portal:article", args=[shelf.public.pk])).content.decode()
    assert 'href="../wiki/Printer%20queue/"' in page
    response = client.get("/portal/kb/wiki/Printer%20queue/")
    assert response.status_code == 302
    assert response["Location"] == reverse("kb_portal:article", args=[shelf.org_a.pk])
    # Case and spacing do not matter, as in the links themselves.
    assert client.get("/portal/kb/wiki/printer%20%20QUEUE/").status_code == 302
    # Another organisation's, an internal or a missing article: 404 alike.
    for title in (
        "Printer drivers for Beta",
        "Printer firmware runbook",
        "Printer toner draft",
        "No such page",
    ):
        assert client.get(reverse("kb_portal:wiki", args=[title])).status_code == 404


def test_article_body_is_the_sanitised_rendering(world: World, client: Client) -> None:
    article = world.article(
        publish=True,
        title="Hostile",
        visibility="customers",
        body="<script>alert(1)</script> [x](javascript:alert(2)) **bold**",
    )
    signed_in(client, world.customer_a)
    page = client.get(reverse("kb_portal:article", args=[article.pk])).content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'href="javascript:' not in page  # the link stays text
    assert "<strong>bold</strong>" in page


# --- Views and feedback ---------------------------------------------------------------------


def test_opening_an_article_counts_a_view(world: World, shelf: Shelf, client: Client) -> None:
    signed_in(client, world.customer_a)
    client.get(reverse("kb_portal:article", args=[shelf.public.pk]))
    client.get(reverse("kb_portal:article", args=[shelf.public.pk]))
    client.get(reverse("kb_portal:article", args=[shelf.org_b.pk]))  # 404: not counted
    assert Article.objects.get(pk=shelf.public.pk).view_count == 2
    assert Article.objects.get(pk=shelf.org_b.pk).view_count == 0


def test_feedback_and_voting_again(world: World, shelf: Shelf, client: Client) -> None:
    signed_in(client, world.customer_a)
    url = reverse("kb_portal:feedback", args=[shelf.public.pk])
    response = client.post(url, {"helpful": "no", "comment": "Did not work on Windows"})
    assert response.status_code == 302
    assert response["Location"] == reverse("kb_portal:article", args=[shelf.public.pk])
    feedback = Feedback.objects.get(article=shelf.public, user=world.customer_a)
    assert (feedback.helpful, feedback.comment) == (False, "Did not work on Windows")
    article = Article.objects.get(pk=shelf.public.pk)
    assert (article.helpful_count, article.not_helpful_count) == (0, 1)

    # Voting again replaces the verdict; the counters follow.
    client.post(url, {"helpful": "yes"})
    feedback = Feedback.objects.get(article=shelf.public, user=world.customer_a)
    assert (feedback.helpful, feedback.comment) == (True, "")
    article = Article.objects.get(pk=shelf.public.pk)
    assert (article.helpful_count, article.not_helpful_count) == (1, 0)
    page = client.get(response["Location"]).content.decode()
    assert "Thank you for your feedback." in page
    assert "You found this article helpful." in page
    # Another reader's verdict is his own: it does not show on this customer's page.
    signed_in(client, world.customer_a2)
    assert 'id="my-feedback"' not in client.get(response["Location"]).content.decode()


def test_feedback_needs_a_verdict_and_a_readable_article(world: World, shelf: Shelf, client: Client) -> None:
    signed_in(client, world.customer_a)
    response = client.post(reverse("kb_portal:feedback", args=[shelf.public.pk]), {"helpful": "maybe"})
    assert response.status_code == 400
    too_long = client.post(
        reverse("kb_portal:feedback", args=[shelf.public.pk]), {"helpful": "yes", "comment": "x" * 2001}
    )
    assert too_long.status_code == 400
    for hidden in hidden_from_a(shelf):
        response = client.post(reverse("kb_portal:feedback", args=[hidden.pk]), {"helpful": "yes"})
        assert response.status_code == 404
    assert not Feedback.objects.exists()
    assert client.get(reverse("kb_portal:feedback", args=[shelf.public.pk])).status_code == 405


# --- Deflection -----------------------------------------------------------------------------


def test_this_solved_my_problem_creates_no_request_and_is_counted(
    world: World, shelf: Shelf, client: Client
) -> None:
    signed_in(client, world.customer_a)
    tickets_before = Ticket.objects.count()
    response = client.post(
        reverse("kb_portal:solved", args=[shelf.public.pk]), {"subject": "  My printer   is offline "}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("kb_portal:article", args=[shelf.public.pk])
    assert Ticket.objects.count() == tickets_before
    assert Article.objects.get(pk=shelf.public.pk).deflection_count == 1
    deflection = Deflection.objects.get()
    assert (deflection.article_id, deflection.user_id, deflection.organisation_id) == (
        shelf.public.pk,
        world.customer_a.pk,
        world.org_a.pk,
    )
    assert deflection.subject == "My printer is offline"
    assert AuditEvent.objects.filter(event_type=EventType.ARTICLE_DEFLECTED).count() == 1
    page = client.get(response["Location"]).content.decode()
    assert "Glad it helped — no request was created." in page


def test_this_solved_my_problem_from_htmx_redirects_the_browser(
    world: World, shelf: Shelf, client: Client
) -> None:
    signed_in(client, world.customer_a)
    response = client.post(
        reverse("kb_portal:solved", args=[shelf.org_a.pk]), {"subject": "queue"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("kb_portal:article", args=[shelf.org_a.pk])
    assert Article.objects.get(pk=shelf.org_a.pk).deflection_count == 1


def test_no_deflection_for_an_article_the_customer_may_not_read(
    world: World, shelf: Shelf, client: Client
) -> None:
    signed_in(client, world.customer_a)
    for hidden in hidden_from_a(shelf):
        response = client.post(reverse("kb_portal:solved", args=[hidden.pk]), {"subject": "printer"})
        assert response.status_code == 404
    assert not Deflection.objects.exists()
    assert client.get(reverse("kb_portal:solved", args=[shelf.public.pk])).status_code == 405
    # Without the CSRF token (a cross-site post) nothing is counted.
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(world.customer_a)
    assert (
        strict.post(reverse("kb_portal:solved", args=[shelf.public.pk]), {"subject": "x"}).status_code == 403
    )
    assert Article.objects.get(pk=shelf.public.pk).deflection_count == 0


# --- The new-request page -------------------------------------------------------------------


def test_new_request_page_asks_for_suggestions_and_still_creates_requests(
    world: World, shelf: Shelf, client: Client
) -> None:
    signed_in(client, world.customer_a)
    page = client.get(reverse("portal:new")).content.decode()
    assert f'hx-get="{reverse("kb_portal:suggest")}"' in page
    assert 'id="kb-suggestions"' in page
    assert "load" not in page.split('hx-trigger="', 1)[1].split('"', 1)[0]
    response = client.post(
        reverse("portal:new"), {"subject": "Printer offline", "description": "Since today"}
    )
    assert response.status_code == 302
    assert Ticket.objects.filter(subject="Printer offline").count() == 1
    # Sent back with an error, the form asks for the suggestions of its subject at once.
    page = client.post(reverse("portal:new"), {"subject": "Printer offline"}).content.decode()
    assert 'hx-trigger="input changed delay:300ms, load"' in page


def test_navigation_links_to_the_knowledge_base(world: World, client: Client) -> None:
    signed_in(client, world.customer_a)
    page = client.get(reverse("portal:home")).content.decode()
    assert f'href="{reverse("kb_portal:search")}"' in page
    current = client.get(reverse("kb_portal:search")).content.decode()
    assert f'<a href="{reverse("kb_portal:search")}" aria-current="page">' in current


# --- Query counts ---------------------------------------------------------------------------


def test_browse_and_search_queries_do_not_grow(
    world: World, shelf: Shelf, client: Client, django_assert_max_num_queries: Any
) -> None:
    signed_in(client, world.customer_a)
    with django_assert_max_num_queries(BROWSE_QUERIES):
        assert client.get(reverse("kb_portal:search")).status_code == 200
    with django_assert_max_num_queries(SEARCH_QUERIES):
        assert client.get(reverse("kb_portal:search"), {"q": "printer"}).status_code == 200
    for n in range(15):
        world.article(
            publish=True, title=f"Printer tip {n}", visibility="customers", tags=["printer", f"t{n}"]
        )
    with django_assert_max_num_queries(BROWSE_QUERIES):
        response = client.get(reverse("kb_portal:search"))
    assert len(response.context["popular"]) == 10
    with django_assert_max_num_queries(SEARCH_QUERIES):
        response = client.get(reverse("kb_portal:search"), {"q": "printer"})
    assert len(response.context["hits"]) == 17


def test_article_and_suggestion_queries_do_not_grow(
    world: World, shelf: Shelf, client: Client, django_assert_max_num_queries: Any
) -> None:
    signed_in(client, world.customer_a)
    with django_assert_max_num_queries(ARTICLE_QUERIES):
        assert client.get(reverse("kb_portal:article", args=[shelf.public.pk])).status_code == 200
    for n in range(6):
        attach(world, shelf.public, f"f{n}.txt", b"data")
    kb.update_article(shelf.public, actor=world.l2, tags=["a", "b", "c"])
    with django_assert_max_num_queries(ARTICLE_QUERIES):
        assert client.get(reverse("kb_portal:article", args=[shelf.public.pk])).status_code == 200
    for n in range(10):
        world.article(publish=True, title=f"Printer hint {n}", visibility="customers")
    with django_assert_max_num_queries(SUGGEST_QUERIES):
        response = client.get(reverse("kb_portal:suggest"), {"q": "printer"})
    assert len(response.context["hits"]) == 5


def test_library_fixture_agrees(world: World, library: Library, client: Client) -> None:
    """The shared library of audiences, through the portal page: customers of A read the
    article for all customers and A's, nothing else."""
    signed_in(client, world.customer_a)
    readable = {
        name
        for name in vars(library)
        if client.get(reverse("kb_portal:article", args=[getattr(library, name).pk])).status_code == 200
    }
    assert readable == {"customers", "org_a"}
