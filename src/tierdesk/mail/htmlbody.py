"""HTML bodies of received mail: sanitised with nh3 for display, turned into text with
inscriptis for the ticket.

Both libraries have costs that hostile mail can make explode (measured here):

* nh3's time grows with size times element depth: 1 MB of unclosed ``<div>`` took 143 s, the
  same megabyte 256 levels deep 0.4 s. Deeper documents are not given to it (`MAX_DEPTH`,
  also where lxml under inscriptis stops building the tree and silently drops the rest).
* inscriptis pads every table row to the widest cell and indents list items (and, in its
  default profile, divs) by their depth: 115 KB of table became 100 MB of text, 500 KB of
  200-deep lists 80 MB. The text is made from a copy of the sanitised HTML with tables
  turned into lines of cells and list nesting capped at `MAX_TEXT_LIST_DEPTH`, rendered with
  the browser-default profile; the HTML returned for display keeps its tables.
"""

from __future__ import annotations

import html as html_lib
import re

import nh3
from inscriptis import get_text  # type: ignore[import-untyped]
from inscriptis.css_profiles import CSS_PROFILES  # type: ignore[import-untyped]
from inscriptis.model.config import ParserConfig  # type: ignore[import-untyped]

from tierdesk.mail.decoding import clean_text

MAX_DEPTH = 256
MAX_TEXT_LIST_DEPTH = 6
# The browser-default profile: the "relaxed" one inscriptis uses by default indents every
# nested <div> by two more columns (another multiplier of the text's size).
_TEXT_CONFIG = ParserConfig(css=dict(CSS_PROFILES["strict"]))

_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)([^>]*)>")
_VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param"}
_VOID_TAGS |= {"source", "track", "wbr", "keygen"}
# Tags the HTML parser closes by itself when a sibling opens: they add no depth.
_SELF_CLOSING_TAGS = {"p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "rb", "rt", "rp"}
_SELF_CLOSING_TAGS |= {"tbody", "thead", "tfoot", "colgroup", "html", "head", "body"}

TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "center", "cite", "code", "col", "colgroup",
    "dd", "del", "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
    "img", "ins", "kbd", "li", "ol", "p", "pre", "q", "s", "small", "span", "strike", "strong",
    "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
ATTRIBUTES = {
    "*": {"title", "lang", "dir"},
    "a": {"href", "name"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "align", "valign"},
    "th": {"colspan", "rowspan", "align", "valign"},
    "col": {"span"},
    "ol": {"start", "type"},
    "font": {"color"},
    "table": {"border", "cellpadding", "cellspacing"},
}
# No data: (a data:text/html link runs script) and no javascript:; cid: for inline images.
# Remote images stay: the page that shows the HTML blocks them (its CSP), not the parser.
URL_SCHEMES = {"http", "https", "mailto", "tel", "cid"}

_TEXT_ROWS = {"table", "thead", "tbody", "tfoot", "tr", "caption"}
_TEXT_CELLS = {"td", "th"}
_TEXT_LISTS = {"ul", "ol", "dl"}


def depth(html: str) -> int:
    """How deep an HTML parser would nest the elements (over-estimated: stray end tags are
    ignored, tags inside comments and scripts count)."""
    level = deepest = 0
    for match in _TAG.finditer(html):
        name = match[2].lower()
        if name in _VOID_TAGS or name in _SELF_CLOSING_TAGS or match[3].endswith("/"):
            continue
        if match[1]:
            level = max(level - 1, 0)
        else:
            level += 1
            deepest = max(deepest, level)
    return deepest


def strip_tags(html: str) -> str:
    """The text of HTML no parser is given: script and style dropped, tags removed."""
    html = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", " ", html)
    return clean_text(html_lib.unescape(re.sub(r"<[^>]*>", " ", html)))


def _for_text(clean: str) -> str:
    """The sanitised HTML with tables as lines of space-separated cells and list nesting
    capped: what inscriptis renders in time and space linear in the input."""
    pieces: list[str] = []
    position = lists = 0
    for match in _TAG.finditer(clean):
        pieces.append(clean[position : match.start()])
        position = match.end()
        closing, name = match[1], match[2].lower()
        if name in _TEXT_ROWS:
            pieces.append(f"<{closing}div>")
        elif name in _TEXT_CELLS:
            pieces.append(" </span>" if closing else "<span>")
        elif name in _TEXT_LISTS:
            if closing:
                lists -= 1
                if lists < MAX_TEXT_LIST_DEPTH:
                    pieces.append(match[0])
            else:
                lists += 1
                if lists <= MAX_TEXT_LIST_DEPTH:
                    pieces.append(match[0])
        elif name not in ("col", "colgroup"):
            pieces.append(match[0])
    pieces.append(clean[position:])
    return "".join(pieces)


def sanitise(html: str) -> tuple[str, str]:
    """(sanitised HTML, its text); ("", the text with the tags stripped) for HTML nested too
    deeply to be given to nh3."""
    if depth(html) > MAX_DEPTH:
        return "", strip_tags(html)
    clean = nh3.clean(
        html,
        tags=TAGS,
        clean_content_tags={"script", "style", "title", "head"},
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    if not clean.strip():
        return "", ""
    try:
        text = get_text(_for_text(clean), _TEXT_CONFIG)
    except Exception:  # inscriptis/lxml on a document they cannot take: the tags stripped
        text = strip_tags(clean)
    return clean, clean_text(text)


def from_plain(text: str) -> str:
    """Plain text as HTML, for a body whose other parts are HTML."""
    return "<p>" + html_lib.escape(text).replace("\n", "<br>\n") + "</p>"
