"""Knowledge-base search (``tierdesk.kb.search``) on the database of the run: SQLite FTS5 by
default, PostgreSQL full-text search under ``DATABASE_URL=postgres://...``. The same tests hold
for both; what differs is said where it does."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.management import call_command
from django.db import connection

from tests.factories import World
from tierdesk.common.errors import DomainError
from tierdesk.kb import search
from tierdesk.kb import services as kb
from tierdesk.kb.models import Article
from tierdesk.kb.search import text


def article(world: World, **kwargs: Any) -> Article:
    """An article through the services, with no text unless given (the factory's default
    text mentions a printer)."""
    kwargs.setdefault("body", "")
    return world.article(**kwargs)


def found(user: Any, query: str, **filters: Any) -> list[str]:
    """Titles found for ``query``, best first."""
    return [hit.article.title for hit in search.search_articles(user, query, **filters).hits]


def suggested(user: Any, typed: str, limit: int = 10) -> list[str]:
    return [hit.article.title for hit in search.suggest_articles(user, typed, limit=limit)]


# --- Language -------------------------------------------------------------------------------


def test_russian_forms_find_each_other(world: World) -> None:
    article(world, title="Принтеры в бухгалтерии не печатают", language="ru")
    article(
        world, title="Замена картриджа", body="Откройте крышку принтера и достаньте картридж.", language="ru"
    )
    article(world, title="Принтер сломался", language="ru")
    article(world, title="Сканер не видит сеть", body="Перезагрузите сканер.", language="ru")

    for query in ("принтер", "принтеры", "принтера", "ПРИНТЕРУ"):
        assert sorted(found(world.l1, query)) == sorted(
            ["Принтеры в бухгалтерии не печатают", "Замена картриджа", "Принтер сломался"]
        ), query


def test_english_stemming_and_mixed_text(world: World) -> None:
    article(world, title="Printer jams on the second floor")
    article(
        world, title="Настройка VPN", body="Установите клиент printers-helper и перезапустите.", language="ru"
    )
    article(world, title="Monitor flickers")

    assert sorted(found(world.l1, "printers")) == ["Printer jams on the second floor", "Настройка VPN"]
    assert found(world.l1, "jamming printers") == ["Printer jams on the second floor"]
    assert found(world.l1, "vpn") == ["Настройка VPN"]


def test_yo_is_e(world: World) -> None:
    article(world, title="Ёмкость картриджа", language="ru")
    assert found(world.l1, "емкость") == ["Ёмкость картриджа"]
    assert found(world.l1, "ёмкости") == ["Ёмкость картриджа"]


def test_stop_words_are_not_required(world: World) -> None:
    article(world, title="Как настроить VPN на ноутбуке", language="ru")
    article(world, title="How to connect to the VPN")
    assert found(world.l1, "как настроить vpn") == ["Как настроить VPN на ноутбуке"]
    assert found(world.l1, "how do I connect the vpn") == ["How to connect to the VPN"]


def test_tags_and_service_are_searched(world: World) -> None:
    article(world, title="Alpha", tags=["wireless"], kind="operational", service="Core switch")
    article(world, title="Beta")
    assert found(world.l1, "wireless") == ["Alpha"]
    assert found(world.l1, "switch") == ["Alpha"]


# --- Ranking, phrases, exclusion -----------------------------------------------------------


def test_title_match_ranks_first(world: World) -> None:
    article(world, title="Office move checklist", body="The printer goes last. " + "Boxes and cables. " * 5)
    article(world, title="Printer drivers", body="Download them from the vendor.")
    article(world, title="Network basics", body="A printer, a printer and another printer on the network.")
    titles = found(world.l1, "printer")
    assert titles[0] == "Printer drivers"
    assert set(titles) == {"Office move checklist", "Printer drivers", "Network basics"}
    ranks = [hit.rank for hit in search.search_articles(world.l1, "printer").hits]
    assert ranks == sorted(ranks, reverse=True) and ranks[0] > ranks[-1]


def test_all_words_required_phrase_and_exclusion(world: World) -> None:
    article(world, title="Printer cartridge empty")
    article(world, title="Printer offline", body="Check the cable. The cartridge is fine.")
    article(world, title="Cartridge recycling")

    assert sorted(found(world.l1, "printer cartridge")) == ["Printer cartridge empty", "Printer offline"]
    assert found(world.l1, '"printer cartridge"') == ["Printer cartridge empty"]
    assert sorted(found(world.l1, "cartridge -offline")) == ["Cartridge recycling", "Printer cartridge empty"]
    assert sorted(found(world.l1, "offline or recycling")) == ["Cartridge recycling", "Printer offline"]


# --- Highlighting ---------------------------------------------------------------------------


def test_title_and_snippet_are_escaped_and_marked(world: World) -> None:
    article(
        world,
        title='<script>alert("printer")</script> & printers',
        body="Intro. <b>Printers</b> & <img src=x onerror=alert(1)> jam when the **printer** is cold.",
    )
    hit = search.search_articles(world.l1, "printer").hits[0]
    assert hit.title_html == (
        "&lt;script&gt;alert(&quot;<mark>printer</mark>&quot;)&lt;/script&gt; &amp; <mark>printers</mark>"
    )
    snippet = str(hit.snippet_html)
    assert "<script" not in snippet and "<img" not in snippet and "<b>" not in snippet
    assert "&lt;b&gt;<mark>Printers</mark>&lt;/b&gt;" in snippet
    assert "<mark>printer</mark> is cold" in snippet  # the Markdown's ** are gone
    assert snippet.replace("<mark>", "").replace("</mark>", "").count("<") == 0


def test_a_user_cannot_forge_marks(world: World) -> None:
    title = f"Printer {text.MARK_START}fake{text.MARK_STOP} <mark>x</mark>"
    article(world, title=title, body=f"{text.MARK_START}body{text.MARK_STOP} printer")
    hit = search.search_articles(world.l1, "printer").hits[0]
    assert hit.title_html == "<mark>Printer</mark> fake &lt;mark&gt;x&lt;/mark&gt;"
    assert str(hit.snippet_html).count("<mark>") == 1


def test_snippet_is_a_window_around_the_match(world: World) -> None:
    body = " ".join(f"filler{i}" for i in range(200)) + " the router reboots at night " + "tail " * 100
    article(world, title="Night problems", body=body)
    snippet = str(search.search_articles(world.l1, "router").hits[0].snippet_html)
    assert "<mark>router</mark> reboots" in snippet
    assert snippet.startswith("…") and snippet.endswith("…")
    assert "filler0 " not in snippet and len(snippet) < 400


# --- Who finds what -------------------------------------------------------------------------


@pytest.fixture
def zebras(world: World) -> dict[str, Article]:
    """Articles of every audience, all about zebras."""
    w = world
    archived = article(w, publish=True, title="Zebra archived", visibility="customers")
    kb.change_article_status(archived, actor=w.admin, to="archived")
    return {
        "internal": article(w, publish=True, title="Zebra internal"),
        "internal_l2": article(w, publish=True, title="Zebra for L2", lines=[w.lines["L2"]]),
        "customers": article(w, publish=True, title="Zebra for customers", visibility="customers"),
        "org_a": article(
            w, publish=True, title="Zebra for Alpha", visibility="organisations", organisations=[w.org_a]
        ),
        "org_b": article(
            w, publish=True, title="Zebra for Beta", visibility="organisations", organisations=[w.org_b]
        ),
        "draft": article(w, title="Zebra draft", visibility="customers"),
        "archived": archived,
    }


def titles_of(zebras: dict[str, Article], *names: str) -> list[str]:
    return sorted(zebras[name].title for name in names)


def test_search_finds_only_what_the_user_may_read(world: World, zebras: dict[str, Article]) -> None:
    every = list(zebras)
    expected = {
        world.customer_a: ["customers", "org_a"],
        world.manager_a: ["customers", "org_a"],
        world.customer_b: ["customers", "org_b"],
        world.l1: [name for name in every if name != "internal_l2"],
        world.l1_b_only: [name for name in every if name != "internal_l2"],
        world.l2: every,
        world.admin: every,
    }
    for user, names in expected.items():
        assert sorted(found(user, "zebra")) == titles_of(zebras, *names), user
        # Readable articles are what restrict() lets through, never more.
        readable = set(Article.objects.restrict(user).values_list("title", flat=True))
        assert set(found(user, "zebra", limit=100)) <= readable
    assert found(None, "zebra") == []
    assert found(AnonymousUser(), "zebra") == []


def test_filters_never_widen_what_a_customer_reads(world: World, zebras: dict[str, Article]) -> None:
    assert found(world.customer_a, "zebra", visibility="internal") == []
    assert found(world.customer_a, "zebra", visibility="organisations") == ["Zebra for Alpha"]
    assert found(world.customer_b, "zebra", visibility="organisations") == ["Zebra for Beta"]


def test_suggestions_are_published_and_readable_only(world: World, zebras: dict[str, Article]) -> None:
    expected = {
        world.customer_a: ["customers", "org_a"],
        world.customer_b: ["customers", "org_b"],
        world.l1: ["internal", "customers", "org_a", "org_b"],  # no draft, archived, L2-only
        world.l2: ["internal", "internal_l2", "customers", "org_a", "org_b"],
        world.admin: ["internal", "internal_l2", "customers", "org_a", "org_b"],
    }
    for user, names in expected.items():
        assert sorted(suggested(user, "Zebra ")) == titles_of(zebras, *names), user
        assert sorted(suggested(user, "my zeb")) == titles_of(zebras, *names), user
    assert suggested(None, "zebra") == []


def test_a_user_who_may_read_a_few_of_many_matches_gets_them(world: World) -> None:
    """The bounded candidates of the PostgreSQL backend are taken among readable articles: a
    customer finds his one article however many internal ones match before it."""
    for i in range(12):
        article(world, title=f"Quokka internal note {i}")
    mine = article(
        world, publish=True, title="Quokka for Alpha", visibility="organisations", organisations=[world.org_a]
    )
    from tierdesk.kb.search import postgres

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(postgres, "CANDIDATES", 3)
        mp.setattr(postgres, "SUGGEST_CANDIDATES", 3)
        assert found(world.customer_a, "quokka") == [mine.title]
        assert suggested(world.customer_a, "quokk") == [mine.title]
        assert found(world.customer_b, "quokka") == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the candidate bound is PostgreSQL's")
def test_broad_queries_keep_title_matches_among_candidates(world: World) -> None:
    for i in range(8):
        article(world, title=f"Notes {i}", body="The walrus was mentioned here once.")
    best = article(world, title="Walrus handbook", body="Everything else.")
    from tierdesk.kb.search import postgres

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(postgres, "CANDIDATES", 3)
        titles = found(world.l1, "walrus")
    assert titles[0] == best.title
    assert len(titles) <= 6  # three title matches at most, three others at most


# --- Suggestions ----------------------------------------------------------------------------


def test_suggestions_rank_more_typed_words_first_and_mark_them(world: World) -> None:
    for title in ("Принтер не печатает", "Принтер в переговорной", "Почта не отправляется"):
        article(world, publish=True, title=title, visibility="customers", language="ru")
    article(world, publish=True, title="Outlook", body="Принтер не печатает", visibility="customers")

    hits = search.suggest_articles(world.customer_a, "не печатает принт", limit=5)
    assert [h.article.title for h in hits][:2] == ["Принтер не печатает", "Принтер в переговорной"]
    assert "Outlook" not in [h.article.title for h in hits]  # the text is not searched
    assert hits[0].title_html == "<mark>Принтер</mark> не <mark>печатает</mark>"
    assert hits[0].snippet_html == ""
    # A short unfinished word does not count yet; a finished one does.
    assert suggested(world.customer_a, "пр") == []
    assert suggested(world.customer_a, "почта ") == ["Почта не отправляется"]
    assert suggested(world.customer_a, "   ") == []


# --- Hostile input --------------------------------------------------------------------------

HOSTILE = [
    'NEAR(a b)', '"', '""', "*", "printer*", "'", "''", "-", "--", "- -printer", "OR", "AND NOT",
    "a:b", "{title}: x", "title:printer", "^printer", "(((", ")", "\\", "\\'", "' OR 1=1 --",
    "!@#$%^&*()", "🖨️ не печатает", "\x00printer", "printer\x00", "<script>", "&amp;", "@@",
    "to_tsquery('x')", "a & b | !c", "printer <-> cartridge", "printer:*", "ё", "Ё:*",
    '"unclosed phrase', "-only -negations", "or or or", '"-"', "x" * 200, "ǅ̸̛̖", "\u202e\u200b",
]  # fmt: skip


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_answer_cleanly(world: World, query: str) -> None:
    article(world, title="Printer cartridge", publish=True, visibility="customers")
    for user in (world.admin, world.customer_a):
        page = search.search_articles(user, query)
        assert isinstance(page, search.SearchPage)
        search.suggest_articles(user, query)
        search.suggest_articles(user, query + " ")


def test_limits_of_a_query(world: World) -> None:
    article(world, title="Printer")
    assert search.search_articles(world.l1, "").hits == []
    assert search.search_articles(world.l1, "   \n\t").hits == []
    assert search.search_articles(world.l1, "the and of").hits == []  # stop words only
    assert search.search_articles(world.l1, "-printer").hits == []  # nothing wanted
    with pytest.raises(DomainError) as error:
        search.search_articles(world.l1, "p" * (search.QUERY_MAX_CHARS + 1))
    assert error.value.code == "too_long" and error.value.field == "q"
    for bad in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"offset": 1001}, {"kinds": ["nope"]}):
        with pytest.raises(DomainError):
            search.search_articles(world.l1, "printer", **bad)
    with pytest.raises(DomainError):
        search.search_articles(world.l1, "printer", visibility="everyone")
    with pytest.raises(DomainError):
        search.search_articles(world.l1, "printer", language="de")
    # A long subject is cut, never refused.
    assert suggested(world.l1, "printer " * 1000) == []  # the article is a draft
    kb.change_article_status(Article.objects.get(title="Printer"), actor=world.admin, to="published")
    assert suggested(world.l1, "printer " * 1000) == ["Printer"]


# --- Filters and pages ----------------------------------------------------------------------


def test_filters(world: World) -> None:
    article(world, title="Backup policy", kind="standard")
    article(world, title="Backup restore", kind="setup", language="ru")
    article(world, title="Backup failed", visibility="customers")
    assert found(world.l1, "backup", kinds=["standard"]) == ["Backup policy"]
    assert sorted(found(world.l1, "backup", kinds=["standard", "setup"])) == [
        "Backup policy",
        "Backup restore",
    ]
    assert found(world.l1, "backup", language="ru") == ["Backup restore"]
    assert found(world.l1, "backup", visibility="customers") == ["Backup failed"]
    assert found(world.l1, "backup", kinds=["operational"]) == []


def test_status_and_tag_filters_are_part_of_the_search_not_of_its_page(world: World) -> None:
    for i in range(3):  # drafts that would fill a page of two ahead of the published one
        article(world, title=f"Router reboot draft {i}", tags=["Network"])
    article(world, publish=True, title="Router reboot", body="router router", tags=["network", "wifi"])
    article(world, publish=True, title="Router firmware", tags=["firmware"])
    published = found(world.l1, "router", statuses=["published"], limit=2)
    assert sorted(published) == ["Router firmware", "Router reboot"]
    assert sorted(found(world.l1, "router", tag="NETWORK ")) == [
        "Router reboot",
        "Router reboot draft 0",
        "Router reboot draft 1",
        "Router reboot draft 2",
    ]
    assert found(world.l1, "router", tag="network", statuses=["published"]) == ["Router reboot"]
    assert found(world.l1, "router", tag="printers") == []
    # A customer's filters never widen what he may read.
    assert found(world.customer_a, "router", statuses=["draft"]) == []
    with pytest.raises(DomainError):
        search.search_articles(world.l1, "router", statuses=["lost"])


def test_pages(world: World) -> None:
    for i in range(5):
        article(world, title=f"Scanner tip {i}")
    first = search.search_articles(world.l1, "scanner", limit=2)
    second = search.search_articles(world.l1, "scanner", limit=2, offset=2)
    third = search.search_articles(world.l1, "scanner", limit=2, offset=4)
    assert (first.has_more, second.has_more, third.has_more) == (True, True, False)
    assert first.next_offset == 2 and third.next_offset is None
    titles = [h.article.title for page in (first, second, third) for h in page.hits]
    assert sorted(titles) == [f"Scanner tip {i}" for i in range(5)]


def test_query_counts(world: World, django_assert_max_num_queries: Any) -> None:
    for i in range(15):
        article(world, publish=True, title=f"Router {i}", tags=["net", f"t{i}"], visibility="customers")
    for user in (world.admin, world.l1, world.customer_a):
        search.search_articles(user, "router")  # the agent's scope is read once per process
        with django_assert_max_num_queries(4):  # match+rank, articles, tags, headlines (PostgreSQL)
            page = search.search_articles(user, "router", limit=10)
            for hit in page.hits:
                [t.name for t in hit.article.tags.all()]
                _ = (hit.article.title, hit.article.kind, hit.article.updated_at, hit.title_html)
        assert len(page.hits) == 10
        with django_assert_max_num_queries(3):  # match+rank+titles, articles, tags
            assert len(search.suggest_articles(user, "rout", limit=5)) == 5


# --- The index follows the articles ---------------------------------------------------------


def test_index_follows_updates_and_deletions(world: World) -> None:
    sticky = article(world, publish=True, title="Keyboard sticky", visibility="customers", tags=["hardware"])
    assert found(world.customer_a, "keyboard") == ["Keyboard sticky"]

    kb.update_article(
        sticky, actor=world.l2, title="Mouse sticky", body="Clean the wheel.", tags=["peripherals"]
    )
    assert found(world.customer_a, "keyboard") == []
    assert found(world.customer_a, "hardware") == []
    assert found(world.customer_a, "wheel") == ["Mouse sticky"]
    assert found(world.customer_a, "peripherals") == ["Mouse sticky"]

    kb.change_article_status(sticky, actor=world.l2, to="archived")
    assert found(world.customer_a, "mouse") == []
    assert found(world.l1, "mouse") == ["Mouse sticky"]

    search.unindex_article(sticky.pk)
    assert found(world.l1, "mouse") == []
    search.index_article(sticky)
    assert found(world.l1, "mouse") == ["Mouse sticky"]

    article_id = sticky.pk
    Article.objects.filter(pk=article_id).delete()  # the entry goes with the row
    assert found(world.admin, "mouse") == []
    assert _entries() == 0


def _entries() -> int:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT count(*) FROM kb_article WHERE search_document IS NOT NULL")
        else:
            cursor.execute("SELECT count(*) FROM kb_article_fts")
        return int(cursor.fetchone()[0])


def test_a_rolled_back_save_leaves_the_index_as_it_was(world: World) -> None:
    projector = article(world, title="Projector")
    with pytest.raises(DomainError):
        kb.update_article(projector, actor=world.l2, title="Beamer", kind="nonsense")
    assert found(world.l1, "projector") == ["Projector"]
    assert found(world.l1, "beamer") == []


def test_kb_reindex_rebuilds_the_index(world: World) -> None:
    for title in ("Webcam black", "Webcam upside down", "Headset crackles"):
        article(world, title=title)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("UPDATE kb_article SET search_head = NULL, search_document = NULL")
        else:
            cursor.execute("DELETE FROM kb_article_fts")
            cursor.execute(
                "INSERT INTO kb_article_fts (rowid, title, tags, body) VALUES (999999, 'webcam', '', '')"
            )
    assert found(world.l1, "webcam") == []

    out = StringIO()
    call_command("kb_reindex", "--batch", "2", stdout=out)
    assert "Indexed 3 articles" in out.getvalue()
    assert sorted(found(world.l1, "webcam")) == ["Webcam black", "Webcam upside down"]
    assert _entries() == 3  # the orphan row is gone


# --- Text helpers ---------------------------------------------------------------------------


def test_plain_text_of_markdown() -> None:
    md = (
        "# Title\n\nSome **bold** and _it_ `code` ~~old~~.\n\n"
        "- [link text](https://example.com/x) and ![alt text](attachment:a.png)\n"
        "> quoted [[Wiki Page]] and [[Other|shown]]\n\n```python\nprint(1)\n```\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n[ref]: https://example.com\n<b>raw</b>"
    )
    plain = text.plain_text(md)
    for piece in (
        "Title",
        "Some bold and _it_ code old.",
        "link text",
        "alt text",
        "quoted Wiki Page and shown",
    ):
        assert piece in plain, piece
    assert "print(1)" in plain and "<b>raw</b>" in plain
    for gone in ("**", "https://", "attachment:", "[[", "```", "---", "#"):
        assert gone not in plain, gone


def test_parse_query() -> None:
    parsed = text.parse_query('Принтеры "не печатает картридж" -сканер or plotter NEAR( *')
    assert parsed.groups == [[("принтер",)], [("печата", "картридж"), ("plotter",)], [("near",)]]
    assert parsed.excluded == [("сканер",)]
    assert parsed.stems == {"принтер", "печата", "картридж", "plotter", "near"}
    assert not text.parse_query('" - or * (')


def test_match_expression_quotes_every_term() -> None:
    from tierdesk.kb.search.sqlite import match_expression

    expression = match_expression(text.parse_query('NEAR printer "a b" -c* or d'))
    assert expression == '(("near") AND ("printer") AND ("b" OR "d")) NOT "c"'
