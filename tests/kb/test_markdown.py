"""Articles' Markdown: CommonMark with tables, wiki links and files, and nothing unsafe."""

from __future__ import annotations

import re

import pytest

from tierdesk.kb.markdown import extract_wiki_links, render_markdown, sanitise_html


def test_commonmark_tables_and_strikethrough() -> None:
    html = render_markdown("# Title\n\n| a | b |\n|--:|---|\n| 1 | ~~2~~ |\n\n*em* **strong** `code`")
    assert "<h1>Title</h1>" in html
    assert '<th style="text-align:right">a</th>' in html
    assert "<s>2</s>" in html
    assert "<em>em</em> <strong>strong</strong> <code>code</code>" in html


def test_fenced_code_keeps_its_language_class_and_escapes_its_content() -> None:
    html = render_markdown("```python\nif a < b: print('<b>')\n```")
    assert '<code class="language-python">' in html
    assert "&lt;b&gt;" in html and "<b>" not in html


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)">x</a>',
        "<iframe src='https://evil.test'></iframe>",
        "<b onclick='alert(1)'>bold</b>",
        "<style>body{display:none}</style>",
    ],
)
def test_raw_html_is_text_not_markup(source: str) -> None:
    html = render_markdown(source)
    for markup in ("<script", "<img", "<a ", "<iframe", "<b ", "<style"):
        assert markup not in html
    assert "&lt;" in html  # shown as the text it is


@pytest.mark.parametrize(
    "source",
    [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](vbscript:msgbox(1))",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "![x](javascript:alert(1))",
        "[x](java\tscript:alert(1))",
        "<javascript:alert(1)>",
    ],
)
def test_dangerous_link_targets_are_not_links(source: str) -> None:
    html = render_markdown(source)
    targets = re.findall(r'(?:href|src)="([^"]*)"', html)
    assert not [
        t for t in targets if t.lower().lstrip().startswith(("javascript", "vbscript", "data", "java"))
    ]
    assert "<a" not in html and "<img" not in html  # left as the text it was


def test_links_get_noopener_and_safe_schemes_survive() -> None:
    html = render_markdown("[site](https://example.com/a?b=1) [mail](mailto:help@example.com) [rel](../x/)")
    assert '<a href="https://example.com/a?b=1" rel="noopener noreferrer">site</a>' in html
    assert 'href="mailto:help@example.com"' in html
    assert 'href="../x/"' in html


def test_the_sanitiser_strips_what_the_parser_would_never_make() -> None:
    """Defence in depth: even HTML handed to the sanitiser directly loses scripts, handlers,
    styles other than text-align and non-http schemes."""
    html = sanitise_html(
        '<p onclick="x()">a<script>b()</script><a href="javascript:c()">d</a>'
        '<td style="position:fixed;text-align:center">e</td><img src="x" onerror="f()"></p>'
    )
    assert "onclick" not in html and "onerror" not in html
    assert "<script" not in html and "b()" not in html
    assert "javascript" not in html
    assert "position" not in html


def test_wiki_links_point_at_the_wiki_page_and_mark_missing_titles() -> None:
    html = render_markdown("See [[VPN  setup]] and [[Printer rules|the rules]].", links={"vpn setup"})
    assert '<a class="wikilink" href="../wiki/VPN%20setup/" rel="noopener noreferrer">VPN setup</a>' in html
    assert (
        '<a class="wikilink wikilink-missing" href="../wiki/Printer%20rules/" rel="noopener noreferrer">'
        "the rules</a>"
    ) in html


def test_wiki_link_text_and_title_are_escaped() -> None:
    html = render_markdown('[[<img src=x onerror=alert(1)>|"><script>x</script>]]')
    assert "<img" not in html and "<script" not in html
    assert "../wiki/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E/" in html


def test_wiki_link_title_with_a_slash_stays_one_path_segment() -> None:
    assert 'href="../wiki/TCP%2FIP%20settings/"' in render_markdown("[[TCP/IP settings]]")


def test_attachment_targets_resolve_to_the_articles_files() -> None:
    html = render_markdown(
        "![scheme](attachment:net%20map.png) [manual](attachment:manual.pdf) [gone](attachment:none.txt)",
        attachments={"net map.png": 7, "manual.pdf": 9},
    )
    assert '<img src="files/7/" alt="scheme">' in html
    assert 'href="files/9/"' in html
    assert '<a class="attachment-missing" rel="noopener noreferrer">gone</a>' in html
    assert "attachment:" not in html


def test_extract_wiki_links_keys_titles_once_in_order_and_not_from_code() -> None:
    text = "[[B page]] [[a  Page|x]] [[b PAGE]]\n\n`[[in code]]`\n\n    [[indented code]]\n\n[[]] [[x\ny]]"
    assert extract_wiki_links(text) == [("b page", "B page"), ("a page", "a Page")]
