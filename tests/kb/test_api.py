"""The knowledge base's HTTP API (/api/v1/kb): who reads, finds and downloads what, writing and
moderating articles, versions, feedback, search, ticket links and files — over two organisations.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from tests.api.helpers import assert_error, assert_validation_error
from tests.factories import World
from tests.kb.conftest import Library
from tests.test_api_fuzz import keep_test_connection  # noqa: F401 - a fixture used below
from tierdesk.kb import services as kb
from tierdesk.kb.models import Article, ArticleVersion, Feedback, TicketArticle

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def ids(response: Any) -> set[int]:
    assert response.status_code == 200, response.content[:500]
    return {item["id"] for item in response.json()["items"]}


def content_of(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def upload(client: Any, article: Article, name: str, content: bytes) -> Any:
    return client.post(
        f"kb/articles/{article.pk}/files",
        {"file": SimpleUploadedFile(name, content, content_type="application/octet-stream")},
        multipart=True,
    )


def delete(client: Any, path: str) -> Any:
    return client.client.delete(f"/api/v1/{path}", headers=client.headers)


def patch_if_match(client: Any, path: str, data: dict[str, Any], if_match: str) -> Any:
    return client.client.patch(
        f"/api/v1/{path}",
        data=data,
        content_type="application/json",
        headers={**client.headers, "If-Match": if_match},
    )


@pytest.fixture
def org_b_only(world: World) -> Article:
    return world.article(
        publish=True, title="Beta printers", visibility="organisations", organisations=[world.org_b]
    )


# --- Who reads what ---------------------------------------------------------------------------


def test_customers_list_only_published_articles_meant_for_them(
    world: World, api: Any, library: Library, org_b_only: Article
) -> None:
    assert ids(api(world.customer_a).get("kb/articles")) == {library.customers.pk, library.org_a.pk}
    assert ids(api(world.manager_a).get("kb/articles")) == {library.customers.pk, library.org_a.pk}
    assert ids(api(world.customer_b).get("kb/articles")) == {library.customers.pk, org_b_only.pk}
    # Filters cannot widen what a customer reads.
    for query in ("status=draft", "status=archived", "visibility=internal", "visibility=organisations"):
        assert ids(api(world.customer_a).get(f"kb/articles?{query}")) <= {library.org_a.pk}


def test_agents_list_by_audience_lines_and_teams(world: World, api: Any, library: Library) -> None:
    everything = set(Article.objects.values_list("pk", flat=True))
    limited = {library.internal_l2.pk, library.internal_team_l3.pk}
    assert ids(api(world.admin).get("kb/articles")) == everything
    assert ids(api(world.l1).get("kb/articles")) == everything - limited
    assert ids(api(world.l2).get("kb/articles")) == everything - {library.internal_team_l3.pk}
    assert ids(api(world.l3).get("kb/articles")) == everything - {library.internal_l2.pk}
    # Agents see drafts and archived articles (to finish and to restore them).
    assert library.draft_customers.pk in ids(api(world.l1).get("kb/articles?status=draft"))


def test_customer_gets_404_for_every_article_not_meant_for_him(
    world: World, api: Any, library: Library, org_b_only: Article
) -> None:
    client = api(world.customer_a)
    hidden = [
        library.internal,
        library.internal_l2,
        library.internal_team_l3,
        library.draft_customers,
        library.archived_customers,
        org_b_only,
    ]
    for article in hidden:
        for path in ("", "/versions", "/tickets", "/versions/1", "/versions/compare?from=1&to=1"):
            response = client.get(f"kb/articles/{article.pk}{path}")
            assert response.json() == {"detail": "Not found.", "code": "not_found"}, (article, path)
            assert response.status_code == 404
        assert_error(client.post(f"kb/articles/{article.pk}/feedback", {"helpful": True}), 404)
        assert_error(client.patch(f"kb/articles/{article.pk}", {"title": "Mine"}), 404)
        assert_error(client.post(f"kb/articles/{article.pk}/status", {"to": "archived"}), 404)
    assert not Feedback.objects.exists()
    # The ones meant for him he reads.
    for article in (library.customers, library.org_a):
        response = client.get(f"kb/articles/{article.pk}")
        assert response.status_code == 200
        assert response.json()["title"] == article.title
    assert_error(api(world.customer_b).get(f"kb/articles/{library.org_a.pk}"), 404)


def test_agent_outside_the_audience_gets_404(world: World, api: Any, library: Library) -> None:
    assert_error(api(world.l1).get(f"kb/articles/{library.internal_l2.pk}"), 404)
    assert_error(api(world.l1).get(f"kb/articles/{library.internal_team_l3.pk}"), 404)
    assert api(world.l2).get(f"kb/articles/{library.internal_l2.pk}").status_code == 200
    assert api(world.l3).get(f"kb/articles/{library.internal_team_l3.pk}").status_code == 200


def test_anonymous_gets_401(world: World, api: Any, library: Library) -> None:
    for path in ("kb/articles", f"kb/articles/{library.customers.pk}", "kb/search?q=password"):
        assert_error(api(None).get(path), 401, code="not_authenticated")


def test_customer_reads_no_other_organisation_names_and_no_source_ticket(world: World, api: Any) -> None:
    ticket = world.ticket()
    article = world.article(
        world.l1,  # the L1 agent sees the new ticket (the L2 one sees tickets on L2)
        publish=True,
        title="Shared printers",
        visibility="organisations",
        organisations=[world.org_a, world.org_b],
        source_ticket=ticket,
    )
    body = api(world.customer_a).get(f"kb/articles/{article.pk}").json()
    assert [org["short_name"] for org in body["organisations"]] == ["alpha"]
    assert body["source_ticket"] is None
    assert body["allowed_statuses"] == []
    body = api(world.l1).get(f"kb/articles/{article.pk}").json()
    assert sorted(org["short_name"] for org in body["organisations"]) == ["alpha", "beta"]
    assert body["source_ticket"] == ticket.number
    assert body["allowed_statuses"] == ["archived", "draft"]


def test_detail_has_html_backlinks_missing_links_and_counters(world: World, api: Any) -> None:
    target = world.article(publish=True, title="VPN policy", visibility="customers")
    world.article(publish=True, title="Laptops", body="See [[VPN policy]].", visibility="customers")
    world.article(publish=True, title="Internal note", body="Also [[VPN policy]].")
    source = world.article(
        publish=True, title="Remote work", body="Read [[vpn  POLICY]] and [[Nowhere page]].", tags=["VPN"]
    )
    body = api(world.l1).get(f"kb/articles/{source.pk}").json()
    assert body["number"] == f"KB-{source.pk:05d}"
    assert body["version"] == 1
    assert body["tags"] == ["vpn"]
    assert body["missing_links"] == ["Nowhere page"]
    assert "wikilink-missing" in body["body_html"]
    assert body["helpful_count"] == body["not_helpful_count"] == body["ticket_count"] == 0
    # Backlinks are the linking articles the reader may read: a customer not the internal ones.
    agent_view = api(world.l1).get(f"kb/articles/{target.pk}").json()
    assert [a["title"] for a in agent_view["backlinks"]] == ["Internal note", "Laptops", "Remote work"]
    customer_view = api(world.customer_a).get(f"kb/articles/{target.pk}").json()
    assert [a["title"] for a in customer_view["backlinks"]] == ["Laptops"]


def test_api_reads_do_not_count_views(world: World, api: Any, library: Library) -> None:
    for _ in range(3):
        assert api(world.customer_a).get(f"kb/articles/{library.customers.pk}").status_code == 200
    library.customers.refresh_from_db()
    assert library.customers.view_count == 0


def test_list_filters_and_keyset_pages(world: World, api: Any) -> None:
    articles = [
        world.article(
            kind="setup" if i % 2 else "known_problem",
            tags=["vpn"] if i % 3 == 0 else [],
            language="ru" if i == 4 else "en",
            owner=world.l1 if i == 5 else None,
        )
        for i in range(7)
    ]
    client = api(world.l2)
    assert ids(client.get("kb/articles?kind=setup")) == {a.pk for a in articles[1::2]}
    assert ids(client.get("kb/articles?tag=VPN")) == {articles[0].pk, articles[3].pk, articles[6].pk}
    assert ids(client.get("kb/articles?language=ru")) == {articles[4].pk}
    assert ids(client.get(f"kb/articles?owner={world.l1.pk}")) == {articles[5].pk}
    seen: list[int] = []
    cursor = ""
    while True:
        page = client.get(f"kb/articles?limit=3{cursor}").json()
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == sorted((a.pk for a in articles), reverse=True)  # newest change first, each once
    titles = [item["title"] for item in client.get("kb/articles?ordering=title").json()["items"]]
    assert titles == sorted(titles)
    assert_error(client.get("kb/articles?cursor=garbage!"), 400, field="cursor")
    assert_error(client.get("kb/articles?tag=a%00b"), 400)
    assert client.get("kb/articles?ordering=password").status_code == 422


# --- Writing --------------------------------------------------------------------------------


def test_agent_creates_an_article_naming_references_as_people_do(world: World, api: Any) -> None:
    ticket = world.ticket(subject="Printer jams")
    response = api(world.l1).post(
        "kb/articles",
        {
            "kind": "known_problem",
            "title": "Printer jams on tray 2",
            "body": "Open tray 2 and **remove** the paper. See [[Paper types]].",
            "language": "en",
            "visibility": "organisations",
            "organisations": [world.org_a.pk, "BETA", "alpha"],
            "tags": ["Printer", "paper"],
            "service": "Office printers",
            "owner_id": world.l2.pk,
            "review_due_on": "2031-01-31",
            "source_ticket": ticket.number,
            "note": "From the ticket",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "draft"
    assert body["version"] == 1
    assert sorted(org["short_name"] for org in body["organisations"]) == ["alpha", "beta"]
    assert body["tags"] == ["paper", "printer"]
    assert body["owner"]["id"] == world.l2.pk
    assert body["created_by"]["id"] == world.l1.pk
    assert body["review_due_on"] == "2031-01-31"
    assert body["source_ticket"] == ticket.number
    assert "<strong>remove</strong>" in body["body_html"]
    assert body["missing_links"] == ["Paper types"]
    article = Article.objects.get(pk=body["id"])
    assert article.source_ticket_id == ticket.pk
    assert ArticleVersion.objects.get(article=article).note == "From the ticket"


def test_internal_article_limited_to_lines_and_teams(world: World, api: Any) -> None:
    response = api(world.admin).post(
        "kb/articles",
        {
            "kind": "operational",
            "title": "Core switch",
            "lines": ["l2"],
            "teams": [world.teams["L3"].pk],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["lines"] == ["L2"]
    assert [team["id"] for team in body["teams"]] == [world.teams["L3"].pk]
    assert_error(api(world.l1).get(f"kb/articles/{body['id']}"), 404)
    assert api(world.l2).get(f"kb/articles/{body['id']}").status_code == 200


def test_a_write_answers_with_its_result_even_when_the_writer_can_no_longer_read_it(
    world: World, api: Any
) -> None:
    client = api(world.l1)
    response = client.post("kb/articles", {"kind": "operational", "title": "L2 runbook", "lines": ["L2"]})
    assert response.status_code == 201, response.content
    assert response.json()["lines"] == ["L2"]
    assert_error(client.get(f"kb/articles/{response.json()['id']}"), 404)
    mine = world.article(world.l1, title="Mine for now")
    response = client.patch(f"kb/articles/{mine.pk}", {"teams": [world.teams["L3"].pk]})
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2
    assert_error(client.get(f"kb/articles/{mine.pk}"), 404)


@pytest.mark.parametrize(
    ("field", "value", "who"),
    [
        ("organisations", [999_999], "l2"),
        ("organisations", ["no-such-org"], "l2"),
        ("organisations", ["alpha"], "l1_b_only"),  # he does not serve Alpha
        ("teams", [999_999], "l2"),
        ("owner_id", 999_999, "l2"),
        ("owner_id", "customer_a", "l2"),  # a customer cannot own knowledge
        ("source_ticket", "TD-999999", "l2"),
        ("source_ticket", "alpha-ticket", "l1_b_only"),  # a ticket he may not see
    ],
)
def test_unknown_references_are_400_naming_the_field(
    world: World, api: Any, field: str, value: Any, who: str
) -> None:
    if value == "customer_a":
        value = world.customer_a.pk
    if value == "alpha-ticket":
        value = world.ticket().number
    payload: dict[str, Any] = {
        "kind": "known_problem",
        "title": "Referenced",
        "visibility": "organisations",
        "organisations": [world.org_b.pk],
        field: value,
    }
    response = api(getattr(world, who)).post("kb/articles", payload)
    assert_error(response, 400, code="unknown_reference", field=field)
    assert not Article.objects.exists()


def test_unknown_line_is_400_and_bad_bodies_are_422(world: World, api: Any) -> None:
    client = api(world.l2)
    assert_error(
        client.post("kb/articles", {"kind": "setup", "title": "X", "lines": ["L9"]}),
        400,
        code="unknown_reference",
        field="lines",
    )
    assert_validation_error(client.post("kb/articles", {"kind": "poem", "title": "X"}), "kind")
    assert_validation_error(client.post("kb/articles", {"kind": "setup", "title": "x" * 201}), "title")
    assert_validation_error(
        client.post("kb/articles", {"kind": "setup", "title": "X", "author": 1}), "author"
    )
    assert not Article.objects.exists()


def test_title_taken_regardless_of_case_and_spacing(world: World, api: Any) -> None:
    world.article(title="VPN setup")
    response = api(world.l2).post("kb/articles", {"kind": "setup", "title": "  vpn   SETUP "})
    assert_error(response, 400, code="title_taken")


def test_customers_write_nothing(world: World, api: Any, library: Library) -> None:
    client = api(world.customer_a)
    before = (Article.objects.count(), ArticleVersion.objects.count())
    assert_error(
        client.post("kb/articles", {"kind": "known_problem", "title": "Mine"}), 403, code="not_permitted"
    )
    article = library.customers  # he may read it, so he hears "not permitted", not "not found"
    assert_error(client.patch(f"kb/articles/{article.pk}", {"title": "Mine"}), 403, code="not_permitted")
    assert_error(client.post(f"kb/articles/{article.pk}/status", {"to": "archived"}), 403)
    assert_error(client.post(f"kb/articles/{article.pk}/reviewed"), 403)
    assert_error(client.get(f"kb/articles/{article.pk}/versions"), 403)
    assert_error(client.post(f"kb/articles/{article.pk}/versions/1/restore"), 403)
    assert_error(upload(client, article, "a.png", PNG), 403)
    assert_error(client.get(f"kb/articles/{article.pk}/tickets"), 403)
    ticket = world.ticket()
    assert_error(client.post(f"kb/articles/{article.pk}/tickets/{ticket.number}", {"solved": True}), 403)
    assert (Article.objects.count(), ArticleVersion.objects.count()) == before
    assert not TicketArticle.objects.exists()


def test_patch_is_partial_and_versioned(world: World, api: Any) -> None:
    article = world.article(
        title="Mail quota", body="Old text", tags=["mail"], review_due_on=dt.date(2030, 1, 1)
    )
    client = api(world.l1)
    response = client.patch(
        f"kb/articles/{article.pk}", {"body": "New text", "expected_version": 1, "note": "clearer"}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["title"], body["body"], body["tags"], body["version"]) == (
        "Mail quota",
        "New text",
        ["mail"],
        2,
    )
    assert ArticleVersion.objects.get(article=article, number=2).note == "clearer"
    # null clears the review date; null elsewhere is refused.
    assert client.patch(f"kb/articles/{article.pk}", {"review_due_on": None}).json()["review_due_on"] is None
    assert_error(client.patch(f"kb/articles/{article.pk}", {"title": None}), 400, field="title")
    assert_error(
        client.patch(f"kb/articles/{article.pk}", {"owner_id": world.customer_a.pk}), 400, field="owner_id"
    )


def test_stale_version_is_a_409_by_body_or_if_match(world: World, api: Any) -> None:
    article = world.article(title="Printer drivers")
    first, second = api(world.l1), api(world.l2)
    read = first.get(f"kb/articles/{article.pk}")
    assert read["ETag"] == '"1"'
    assert second.patch(f"kb/articles/{article.pk}", {"body": "Theirs"}).status_code == 200
    assert_error(
        first.patch(f"kb/articles/{article.pk}", {"body": "Mine", "expected_version": 1}),
        409,
        code="stale_version",
    )
    path = f"kb/articles/{article.pk}"
    assert_error(patch_if_match(first, path, {"body": "Mine"}, '"1"'), 409, code="stale_version")
    assert Article.objects.get(pk=article.pk).body == "Theirs"
    ok = patch_if_match(first, path, {"body": "Mine"}, 'W/"2"')
    assert ok.status_code == 200, ok.content
    assert ok.json()["version"] == 3
    assert_error(patch_if_match(first, path, {"body": "x"}, "*"), 400, field="If-Match")
    assert_error(
        patch_if_match(first, path, {"body": "x", "expected_version": 2}, '"3"'), 400, field="If-Match"
    )


# --- Moderation -------------------------------------------------------------------------------


def test_setup_article_is_published_by_a_second_person(world: World, api: Any) -> None:
    article = world.article(world.l2, kind="setup", title="Connect to VPN", visibility="customers")
    author = api(world.l2)
    assert author.post(f"kb/articles/{article.pk}/status", {"to": "review"}).json()["status"] == "review"
    body = assert_error(
        author.post(f"kb/articles/{article.pk}/status", {"to": "published"}), 403, code="reviewer_is_author"
    )
    assert "second person" in body["detail"]
    assert_error(api(world.customer_a).get(f"kb/articles/{article.pk}"), 404)
    response = api(world.l1).post(f"kb/articles/{article.pk}/status", {"to": "published", "note": "checked"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "published"
    assert body["reviewer"]["id"] == world.l1.pk
    assert body["review_due_on"] == (timezone.localdate() + dt.timedelta(days=365)).isoformat()
    assert api(world.customer_a).get(f"kb/articles/{article.pk}").status_code == 200
    # Editing its text sends it back to review: customers no longer read it.
    edited = author.patch(f"kb/articles/{article.pk}", {"body": "Changed steps"}).json()
    assert edited["status"] == "review"
    assert_error(api(world.customer_a).get(f"kb/articles/{article.pk}"), 404)
    # The one who wrote the current version may not publish it either, though not its author.
    editor = world.article(world.l1, kind="setup", title="Printer setup")
    api(world.l2).patch(f"kb/articles/{editor.pk}", {"body": "L2's version"})
    assert_error(api(world.l2).post(f"kb/articles/{editor.pk}/status", {"to": "published"}), 403)
    assert api(world.l3).post(f"kb/articles/{editor.pk}/status", {"to": "published"}).status_code == 200


def test_transitions_outside_the_table_are_409(world: World, api: Any) -> None:
    article = world.article(publish=True)
    response = api(world.l1).post(f"kb/articles/{article.pk}/status", {"to": "review"})
    assert_error(response, 409, code="transition_not_allowed")
    assert_validation_error(api(world.l1).post(f"kb/articles/{article.pk}/status", {"to": "gone"}), "to")


def test_mark_reviewed_by_owner_moves_the_date(world: World, api: Any) -> None:
    article = world.article(world.l2, publish=True, kind="standard", review_due_on=dt.date(2020, 1, 1))
    assert_error(api(world.l1).post(f"kb/articles/{article.pk}/reviewed"), 403)
    response = api(world.l2).post(f"kb/articles/{article.pk}/reviewed")
    assert response.status_code == 200, response.content
    assert response.json()["review_due_on"] == (timezone.localdate() + dt.timedelta(days=365)).isoformat()
    draft = world.article(world.l2)
    assert_error(api(world.l2).post(f"kb/articles/{draft.pk}/reviewed"), 409, code="not_published")


# --- Versions ---------------------------------------------------------------------------------


def test_versions_compare_and_restore(world: World, api: Any) -> None:
    article = world.article(title="Backup", body="one\ntwo\nthree", tags=["backup"])
    client = api(world.l1)
    client.patch(f"kb/articles/{article.pk}", {"body": "one\n2\nthree\nfour", "note": "numbers"})
    client.patch(f"kb/articles/{article.pk}", {"title": "Backups", "tags": ["backup", "nas"]})
    listed = client.get(f"kb/articles/{article.pk}/versions").json()
    assert [v["number"] for v in listed] == [3, 2, 1]
    assert listed[1]["note"] == "numbers"
    assert listed[1]["author"]["id"] == world.l1.pk
    assert "body" not in listed[0]
    first = client.get(f"kb/articles/{article.pk}/versions/1").json()
    assert (first["title"], first["body"], first["tags"]) == ("Backup", "one\ntwo\nthree", ["backup"])
    assert_error(client.get(f"kb/articles/{article.pk}/versions/9"), 404)

    compared = client.get(f"kb/articles/{article.pk}/versions/compare?from=3&to=1").json()
    assert (compared["from_version"], compared["to_version"]) == (1, 3)
    assert compared["title_changed"] is True
    assert (compared["old_title"], compared["new_title"]) == ("Backup", "Backups")
    assert compared["tags_added"] == ["nas"]
    assert [(line["op"], line["text"]) for line in compared["lines"]] == [
        ("equal", "one"),
        ("delete", "two"),
        ("insert", "2"),
        ("equal", "three"),
        ("insert", "four"),
    ]
    assert_error(client.get(f"kb/articles/{article.pk}/versions/compare?from=1&to=7"), 404)
    assert client.get(f"kb/articles/{article.pk}/versions/compare?from=1").status_code == 422

    restored = client.post(f"kb/articles/{article.pk}/versions/1/restore")
    assert restored.status_code == 200, restored.content
    body = restored.json()
    assert (body["version"], body["title"], body["body"], body["tags"]) == (
        4,
        "Backup",
        "one\ntwo\nthree",
        ["backup"],
    )
    assert [v["number"] for v in client.get(f"kb/articles/{article.pk}/versions").json()] == [4, 3, 2, 1]
    assert_error(client.post(f"kb/articles/{article.pk}/versions/42/restore"), 400)


# --- Feedback ---------------------------------------------------------------------------------


def test_feedback_one_vote_per_reader_and_counters_follow(world: World, api: Any, library: Library) -> None:
    article = library.org_a
    alex, alice = api(world.customer_a), api(world.customer_a2)
    response = alex.post(f"kb/articles/{article.pk}/feedback", {"helpful": True})
    assert response.status_code == 200, response.content
    assert (response.json()["helpful_count"], response.json()["not_helpful_count"]) == (1, 0)
    response = alex.post(f"kb/articles/{article.pk}/feedback", {"helpful": False, "comment": "Tray 3?"})
    assert (response.json()["helpful_count"], response.json()["not_helpful_count"]) == (0, 1)
    assert response.json()["comment"] == "Tray 3?"
    response = alice.post(f"kb/articles/{article.pk}/feedback", {"helpful": False})
    assert (response.json()["helpful_count"], response.json()["not_helpful_count"]) == (0, 2)
    agent = api(world.l1).post(f"kb/articles/{article.pk}/feedback", {"helpful": True})
    assert (agent.json()["helpful_count"], agent.json()["not_helpful_count"]) == (1, 2)
    assert Feedback.objects.filter(article=article).count() == 3
    detail = alex.get(f"kb/articles/{article.pk}").json()
    assert (detail["helpful_count"], detail["not_helpful_count"]) == (1, 2)
    assert_validation_error(alex.post(f"kb/articles/{article.pk}/feedback", {"comment": "x"}), "helpful")
    assert_error(api(world.customer_b).post(f"kb/articles/{article.pk}/feedback", {"helpful": True}), 404)


# --- Search -----------------------------------------------------------------------------------


def test_search_finds_russian_word_forms_and_highlights(world: World, api: Any) -> None:
    found = world.article(
        publish=True,
        title="Принтеры не печатают",
        body="Если принтера нет в списке, перезапустите службу печати.",
        language="ru",
        visibility="customers",
    )
    world.article(publish=True, title="Сканер", body="Про сканеры.", language="ru", visibility="customers")
    response = api(world.customer_a).get("kb/search", {"q": "принтер"})
    assert response.status_code == 200, response.content
    hits = response.json()["items"]
    assert [hit["id"] for hit in hits] == [found.pk]
    hit = hits[0]
    assert hit["number"] == found.number
    assert hit["kind"] == "known_problem"
    assert "<mark>" in hit["title_html"] and "Принтеры" in hit["title_html"]
    assert "<mark>" in hit["snippet_html"]
    assert hit["rank"] > 0
    assert [h["id"] for h in api(world.customer_a).get("kb/search", {"q": "принтерами"}).json()["items"]] == [
        found.pk
    ]
    assert api(world.customer_a).get("kb/search", {"q": "принтер", "kind": "setup"}).json()["items"] == []
    assert [
        s["id"] for s in api(world.customer_a).get("kb/suggest", {"q": "не работает принтер"}).json()
    ] == [found.pk]


def test_search_and_suggest_never_show_a_customer_what_he_may_not_read(
    world: World, api: Any, library: Library, org_b_only: Article
) -> None:
    hidden = {
        library.internal.pk,
        library.internal_l2.pk,
        library.internal_team_l3.pk,
        library.draft_customers.pk,
        library.archived_customers.pk,
        org_b_only.pk,
    }
    client = api(world.customer_a)
    seen: set[int] = set()
    for article in Article.objects.all():
        for word in article.title.split():
            seen |= {hit["id"] for hit in client.get("kb/search", {"q": word}).json()["items"]}
            seen |= {s["id"] for s in client.get("kb/suggest", {"q": word}).json()}
    assert library.customers.pk in seen and library.org_a.pk in seen
    assert not seen & hidden
    # The L1 agent finds the internal runbook, but not the L2-only one.
    agent_hits = {hit["id"] for hit in api(world.l1).get("kb/search", {"q": "L2 only"}).json()["items"]}
    assert library.internal_l2.pk not in agent_hits
    assert library.internal.pk in {
        h["id"] for h in api(world.l1).get("kb/search", {"q": "runbook"}).json()["items"]
    }


def test_search_needs_a_query(world: World, api: Any) -> None:
    assert_validation_error(api(world.l1).get("kb/search"), "q")
    assert api(world.l1).get("kb/search", {"q": "x" * 201}).status_code == 422


# --- Tickets ----------------------------------------------------------------------------------


def test_link_articles_to_tickets_and_count_solved(world: World, api: Any, library: Library) -> None:
    article = library.customers
    ticket = world.ticket()
    other = world.ticket(requester=world.customer_b)
    agent = api(world.l1)
    response = agent.post(f"kb/articles/{article.pk}/tickets/{ticket.number}", {"solved": True})
    assert response.status_code == 200, response.content
    assert response.json()["number"] == ticket.number
    assert response.json()["solved"] is True
    assert agent.post(f"kb/articles/{article.pk}/tickets/{other.pk}", {}).status_code == 200
    detail = agent.get(f"kb/articles/{article.pk}").json()
    assert (detail["ticket_count"], detail["solved_count"]) == (2, 1)
    linked = agent.get(f"kb/articles/{article.pk}/tickets").json()
    assert [link["number"] for link in linked] == [other.number, ticket.number]
    # The B-only agent sees only the ticket of his organisation, and cannot link Alpha's.
    b_only = api(world.l1_b_only)
    assert [link["number"] for link in b_only.get(f"kb/articles/{article.pk}/tickets").json()] == [
        other.number
    ]
    assert_error(b_only.post(f"kb/articles/{article.pk}/tickets/{world.ticket().number}", {}), 404)
    assert_error(agent.post(f"kb/articles/{article.pk}/tickets/TD-999999", {}), 404)

    response = delete(agent, f"kb/articles/{article.pk}/tickets/{ticket.number}")
    assert response.status_code == 204, response.content
    detail = agent.get(f"kb/articles/{article.pk}").json()
    assert (detail["ticket_count"], detail["solved_count"]) == (1, 0)
    assert not TicketArticle.objects.filter(ticket=ticket).exists()


# --- Files ------------------------------------------------------------------------------------


def test_files_upload_and_download_only_for_readers(world: World, api: Any, org_b_only: Article) -> None:
    article = world.article(
        publish=True, title="Alpha VPN", visibility="organisations", organisations=[world.org_a],
        body="![diagram](attachment:diagram.png)",
    )  # fmt: skip
    agent = api(world.l2)
    response = upload(agent, article, "diagram.png", PNG)
    assert response.status_code == 201, response.content
    image = response.json()
    assert (image["filename"], image["content_type"], image["size"]) == ("diagram.png", "image/png", len(PNG))
    assert image["url"] == f"/api/v1/kb/articles/{article.pk}/files/{image['id']}"
    pdf = upload(agent, article, "guide.html", b"<script>alert(1)</script>").json()

    customer = api(world.customer_a)
    detail = customer.get(f"kb/articles/{article.pk}").json()
    assert {f["id"] for f in detail["attachments"]} == {image["id"], pdf["id"]}
    assert f"files/{image['id']}/" in detail["body_html"]
    shown = customer.get(image["url"])
    assert shown.status_code == 200
    assert content_of(shown) == PNG
    assert shown["Content-Type"] == "image/png"
    assert shown["Content-Disposition"].startswith("inline")
    assert shown["X-Content-Type-Options"] == "nosniff"
    downloaded = customer.get(pdf["url"])
    assert downloaded["Content-Disposition"].startswith("attachment;")
    assert 'filename="guide.html"' in downloaded["Content-Disposition"]
    assert "sandbox" in downloaded["Content-Security-Policy"]

    # Not readable, not downloadable — whichever article id the URL names.
    for outsider in (world.customer_b, world.manager_b):
        assert_error(api(outsider).get(image["url"]), 404)
    assert_error(customer.get(f"kb/articles/{org_b_only.pk}/files/{image['id']}"), 404)
    kb.change_article_status(article, actor=world.admin, to="archived")
    assert_error(customer.get(image["url"]), 404)
    assert agent.get(image["url"]).status_code == 200


def test_file_limits(world: World, api: Any, settings: Any) -> None:
    settings.TIERDESK_MAX_ATTACHMENT_BYTES = 100
    article = world.article()
    agent = api(world.l2)
    assert_error(upload(agent, article, "big.bin", b"x" * 101), 413, code="too_large", field="file")
    assert_error(upload(agent, article, "empty.txt", b""), 400, field="file")
    assert not article.attachments.exists()


# --- Query counts ---------------------------------------------------------------------------


def warmed(api: Any, user: Any) -> Any:
    """A client whose token bookkeeping (last use) and agent scope are already paid for."""
    client = api(user)
    assert client.get("me").status_code == 200
    assert client.get("kb/articles?limit=1").status_code == 200
    return client


def add_articles(world: World, count: int) -> None:
    for i in range(count):
        article = world.article(
            publish=True,
            visibility="organisations" if i % 2 else "customers",
            organisations=[world.org_a, world.org_b] if i % 2 else [],
            tags=["printer", f"t{i}"],
            owner=world.l1 if i % 3 else None,
        )
        if i % 4 == 0:
            kb.give_article_feedback(article, actor=world.customer_a, helpful=True)


# token -> user (1) + the page joined with its owners (1) + their tags (1).
LIST_QUERIES = {"l1": 3, "customer_a": 3, "admin": 3}
# token (1) + the article joined with owner, author, reviewer and source ticket (1) + tags,
# organisations, lines, teams, files (5) + backlinks (1) + missing links (1).
DETAIL_QUERIES = {"l1": 9, "customer_a": 9, "admin": 9}


@pytest.mark.parametrize("who", sorted(LIST_QUERIES))
def test_list_query_count_does_not_grow_with_the_number_of_articles(
    world: World, api: Any, django_assert_max_num_queries: Any, who: str
) -> None:
    client = warmed(api, getattr(world, who))
    created, sizes = 0, []
    for total in (3, 12, 30):
        add_articles(world, total - created)
        created = total
        with django_assert_max_num_queries(LIST_QUERIES[who]):
            response = client.get("kb/articles")
        items = response.json()["items"]
        sizes.append(len(items))
        assert all(item["owner"]["name"] and "printer" in item["tags"] for item in items)
    assert sizes[0] < sizes[-1]


@pytest.mark.parametrize("who", sorted(DETAIL_QUERIES))
def test_detail_query_count_does_not_grow_with_links_files_and_tags(
    world: World, api: Any, django_assert_max_num_queries: Any, who: str
) -> None:
    target = world.article(publish=True, title="Printer hub", visibility="customers", tags=["a"])
    client = warmed(api, getattr(world, who))
    for round_ in range(3):
        for i in range(4):
            world.article(
                publish=True,
                visibility="customers",
                body=f"See [[Printer hub]] and [[Missing {round_}-{i}]].",
            )
        upload(api(world.admin), target, f"file{round_}.png", PNG + bytes([round_]))
        kb.update_article(
            target,
            actor=world.admin,
            tags=[f"tag{n}" for n in range(round_ + 2)],
            body=f"[[Missing {round_}]]",
        )
        with django_assert_max_num_queries(DETAIL_QUERIES[who]):
            response = client.get(f"kb/articles/{target.pk}")
        assert response.status_code == 200
        body = response.json()
        assert len(body["backlinks"]) == 4 * (round_ + 1)
        assert len(body["attachments"]) == round_ + 1


# --- Generated requests -------------------------------------------------------------------------


@pytest.mark.usefixtures("keep_test_connection")
def test_kb_api_answers_every_generated_request_deliberately(world: World) -> None:
    """tests/test_api_fuzz.py over the /kb operations, with articles of every audience to hit
    (that test's world has none, so its requests to /kb end in 404s)."""
    import schemathesis
    from django.core.wsgi import get_wsgi_application
    from hypothesis import HealthCheck, given, settings

    article = world.article(publish=True, visibility="customers", title="Printer guide", body="[[Nope]]")
    kb.update_article(article, actor=world.l1, body="Second version")
    world.article(title="Internal draft")
    world.article(publish=True, visibility="organisations", organisations=[world.org_b], title="Beta")
    roles = [
        {"Authorization": f"Bearer {world.token(user)}"} for user in (world.admin, world.l3, world.customer_a)
    ]
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid schema raises here
        if not operation.path.startswith("/api/v1/kb/"):
            continue
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            for headers in roles:
                response = case.call(headers=headers)
                where = f"{case.method} {case.formatted_path}"
                if response.status_code >= 500:
                    failures.append(f"{where} -> {response.status_code}: {response.text[:300]}")
                elif response.status_code >= 400 and "detail" not in response.json():
                    failures.append(
                        f"{where} -> {response.status_code} without detail: {response.text[:300]}"
                    )

        check()
    assert operations == 18, "the knowledge base lost (or gained) operations"
    assert not failures, "\n".join(sorted(set(failures))[:20])
