"""Articles' Markdown: CommonMark with tables and strikethrough, ``[[wiki links]]`` and
``attachment:`` targets, rendered to HTML that is safe to show to anyone.

Two layers keep it safe. markdown-it-py runs with raw HTML off (``<script>`` in the text stays
text) and refuses ``javascript:``/``vbscript:``/``data:`` link targets; its output then goes
through nh3 (the Rust ammonia sanitiser) with a short list of tags and attributes and only
http(s)/mailto or relative URLs, so a bug in either layer alone does not open a hole.

Links are relative to the article's page (``/desk/kb/<id>/`` or ``/portal/kb/<id>/``), so the
same stored ``body_html`` works in the workspace and the portal:

* ``[[Title]]`` and ``[[Title|shown text]]`` become ``../wiki/<Title>/`` (the page that finds an
  article by title); while no article has that title the link carries the class
  ``wikilink-missing`` so authors see it;
* ``attachment:name.png`` (in ``![alt](attachment:name.png)`` or ``[file](attachment:name.pdf)``)
  becomes ``files/<attachment id>/`` of the same article.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from tierdesk.kb.models import link_key

# A wiki link's title is at most an article title long; the brackets may not nest or span lines.
WIKI_TITLE_MAX_CHARS = 200
ATTACHMENT_SCHEME = "attachment:"

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5",
        "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table",
        "tbody", "td", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title", "class"},
    "img": {"src", "alt", "title"},
    "code": {"class"},  # language-xxx of fenced code
    "ol": {"start"},
    "th": {"style"},  # text-align of table columns, and nothing else (filter_style_properties)
    "td": {"style"},
}
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})


def _wikilink_rule(state: StateInline, silent: bool) -> bool:
    """``[[Title]]`` / ``[[Title|text]]`` as one ``wikilink`` token (before the link rule, so
    it is not read as a reference link)."""
    src, pos = state.src, state.pos
    if not src.startswith("[[", pos):
        return False
    end = src.find("]]", pos + 2)
    if end < 0:
        return False
    inner = src[pos + 2 : end]
    if not inner.strip() or "\n" in inner or "[" in inner or "]" in inner:
        return False
    title, _bar, shown = inner.partition("|")
    title = " ".join(title.split())
    if not title or len(link_key(title)) > WIKI_TITLE_MAX_CHARS:  # no article could have it
        return False
    if not silent:
        token = state.push("wikilink", "", 0)
        token.meta = {"title": title, "text": " ".join(shown.split()) or title}
    state.pos = end + 2
    return True


def _render_wikilink(self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    meta = tokens[idx].meta
    title, text = meta["title"], meta["text"]
    exists = link_key(title) in env.get("links", ())
    classes = "wikilink" if exists else "wikilink wikilink-missing"
    href = "../wiki/" + quote(title, safe="") + "/"
    return f'<a class="{classes}" href="{escapeHtml(href)}">{escapeHtml(text)}</a>'


def _attachment_targets(state: StateCore) -> None:
    """Point ``attachment:name`` links and images at the article's file of that name."""
    files: Mapping[str, int] = state.env.get("attachments", {})

    def resolve(token: Token, attr: str) -> None:
        target = str(token.attrGet(attr) or "")
        if not target.lower().startswith(ATTACHMENT_SCHEME):
            return
        name = unquote(target[len(ATTACHMENT_SCHEME) :])
        file_id = files.get(name)
        if file_id is None:
            token.attrs.pop(attr, None)  # no such file (yet): nothing to follow
            token.attrSet("class", "attachment-missing")
        else:
            token.attrSet(attr, f"files/{file_id}/")

    for block in state.tokens:
        for token in block.children or ():
            if token.type == "link_open":
                resolve(token, "href")
            elif token.type == "image":
                resolve(token, "src")


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.inline.ruler.before("link", "wikilink", _wikilink_rule)
    md.core.ruler.push("attachment_targets", _attachment_targets)
    md.add_render_rule("wikilink", _render_wikilink)
    return md


def render_markdown(
    text: str, *, links: Collection[str] = (), attachments: Mapping[str, int] | None = None
) -> str:
    """``text`` as sanitised HTML. ``links`` holds the ``link_key`` of every article that
    exists (a wiki link to any other key is marked missing); ``attachments`` maps the
    article's file names to their ids."""
    env: dict[str, Any] = {"links": links, "attachments": attachments or {}}
    html = _parser().render(text or "", env)
    return sanitise_html(html)


def sanitise_html(html: str) -> str:
    """Keep only the tags, attributes and URL schemes an article may use; links get
    ``rel="noopener noreferrer"``."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=set(ALLOWED_URL_SCHEMES),
        link_rel="noopener noreferrer",
        filter_style_properties={"text-align"},
        strip_comments=True,
    )


def extract_wiki_links(text: str) -> list[tuple[str, str]]:
    """The ``(link_key, title)`` of each distinct ``[[wiki link]]`` in ``text``, in order of
    first appearance; links inside code are not links."""
    found: dict[str, str] = {}
    for block in _parser().parse(text or "", {"links": (), "attachments": {}}):
        for token in block.children or ():
            if token.type == "wikilink":
                title = token.meta["title"]
                found.setdefault(link_key(title), title)
    return list(found.items())
