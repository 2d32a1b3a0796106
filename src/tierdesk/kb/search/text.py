"""Text shared by both search backends: words, stems, the plain text of Markdown, query parsing
and highlighted snippets.

Words are runs of letters and digits (``_`` and every other character separate them, as in
SQLite's ``unicode61`` tokenizer). A word is folded (case; ``ё`` read as its undotted letter)
and stemmed by the Snowball stemmer of its script, as PostgreSQL's ``russian`` configuration
does: a word with a Cyrillic letter by the Russian stemmer, any other by the English one,
digits not at all. The Snowball stop words of both languages are dropped, so "как настроить
VPN" needs neither "как" nor any other word without meaning, on SQLite as on PostgreSQL.

Everything shown to a reader is HTML-escaped first; only ``<mark>`` around matched words is
added afterwards (the text is written by users and may hold ``<script>``).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import Stemmer  # type: ignore[import-not-found]  # PyStemmer ships no type information
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# A word: letters and digits. "_" separates, like SQLite's unicode61 (and PostgreSQL's parser).
WORD_RE = re.compile(r"[^\W_]+")
_CYRILLIC_RE = re.compile("[\u0400-\u04ff]")
# Longer "words" are base64, hashes or garbage: nobody searches them, and PostgreSQL refuses
# lexemes over 2 KB. Both backends drop them.
MAX_WORD_CHARS = 100

# The Snowball stop lists PostgreSQL's russian_stem and english_stem dictionaries use.
STOP_WORDS: frozenset[str] = frozenset(
    """
    и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее
    мне было вот от меня еще нет о из ему теперь когда даже ну вдруг ли если уже или ни быть был
    него до вас нибудь опять уж вам ведь там потом себя ничего ей может они тут где есть надо
    ней для мы тебя их чем была сам чтоб без будто чего раз тоже себе под будет ж тогда кто этот
    того потому этого какой совсем ним здесь этом один почти мой тем чтобы нее сейчас были куда
    зачем всех никогда можно при наконец два об другой хоть после над больше тот через эти нас
    про всего них какая много разве три эту моя впрочем хорошо свою этой перед иногда лучше чуть
    том нельзя такой им более всегда конечно всю между i me my myself we our ours ourselves you
    your yours yourself yourselves he him his himself she her hers herself it its itself they
    them their theirs themselves what which who whom this that these those am is are was were be
    been being have has had having do does did doing a an the and but if or because as until
    while of at by for with about against between into through during before after above below
    to from up down in out on off over under again further then once here there when where why
    how all any both each few more most other some such no nor not only own same so than too
    very s t can will just don should now
    """.split()  # noqa: SIM905 - a word list reads best as words
)

# Markdown markup that is not text, each rule with a character it needs (a rule whose
# character is absent is skipped: most snippets and many texts have no links or tables).
# Order matters: images before links, wiki links first.
_MARKDOWN_RULES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("`~", re.compile(r"^[ \t]*(```|~~~).*$", re.MULTILINE), " "),  # code fences (the code stays)
    ("[", re.compile(r"^[ \t]*\[[^\]\n]+\]:[ \t]*\S+.*$", re.MULTILINE), " "),  # [ref]: url
    ("[", re.compile(r"\[\[([^\[\]|\n]+)\|([^\[\]\n]+)\]\]"), r"\2"),  # [[Title|text]]
    ("[", re.compile(r"\[\[([^\[\]\n]+)\]\]"), r"\1"),  # [[Title]]
    ("[", re.compile(r"!\[([^\]\n]*)\]\([^)\n]*\)"), r"\1"),  # ![alt](src)
    ("[", re.compile(r"\[([^\]\n]*)\]\([^)\n]*\)"), r"\1"),  # [text](url)
    ("[", re.compile(r"\[([^\]\n]*)\]\[[^\]\n]*\]"), r"\1"),  # [text][ref]
    ("<", re.compile(r"<((?:https?|mailto):[^>\s]+)>"), r"\1"),  # <https://autolink>
    ("#", re.compile(r"^[ \t]*#{1,6}[ \t]+", re.MULTILINE), ""),  # headings
    (">", re.compile(r"^[ \t]*>+[ \t]?", re.MULTILINE), ""),  # block quotes
    (
        "-",
        re.compile(r"^[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(\|[ \t]*:?-{3,}:?[ \t]*)*\|?[ \t]*$", re.MULTILINE),
        " ",
    ),
    ("-*_", re.compile(r"^[ \t]*([-*_][ \t]*){3,}$", re.MULTILINE), " "),  # thematic breaks
    ("*~`", re.compile(r"(\*{1,3}|~~|`+)"), ""),  # emphasis, strikethrough, code spans
    ("|", re.compile(r"\|"), " "),  # table cells
)
_SPACES_RE = re.compile(r"\s+")
# Private-use characters the PostgreSQL backend uses as ts_headline's start/stop markers; they
# are removed from every text it highlights, so a user cannot forge a mark. LESS_THAN stands
# for "<" in what PostgreSQL parses: its parser reads "<b>" as an HTML tag and skips the words
# of "<script>…</script>", while in an article it is text like any other.
MARK_START = "\ue000"
MARK_STOP = "\ue001"
LESS_THAN = "\ue002"
_MARKERS_RE = re.compile(f"[{MARK_START}{MARK_STOP}{LESS_THAN}]")
_MARKER_SPLIT_RE = re.compile(f"([{MARK_START}{MARK_STOP}])")


class Entry(NamedTuple):
    """What is indexed of an article: its title, its tags and service, the text of its body."""

    article_id: int
    title: str
    tags: str
    body: str


@dataclass(frozen=True)
class Found:
    """An article a backend found: its id, rank and, when the backend made them, its title and
    snippet as HTML (else they are made in Python from the article)."""

    article_id: int
    rank: float
    title_html: SafeString | None = None
    snippet_html: SafeString | None = None


class _Stemmers(threading.local):
    """PyStemmer objects keep state and must not be shared between threads."""

    def __init__(self) -> None:
        self.russian = Stemmer.Stemmer("russian")
        self.english = Stemmer.Stemmer("english")


_stemmers = _Stemmers()


def fold(word: str) -> str:
    """The form a word is compared in: case-folded, ``ё`` read as its undotted letter."""
    return word.casefold().replace("ё", "е")


def stem(folded: str) -> str:
    """The Snowball stem of a folded word, by the stemmer of its script."""
    if folded.isdigit():
        return folded
    if _CYRILLIC_RE.search(folded):
        return str(_stemmers.russian.stemWord(folded))
    return str(_stemmers.english.stemWord(folded))


def words(text: str) -> Iterator[re.Match[str]]:
    """The words of ``text`` (NFC-normalised by the caller) with their positions."""
    return WORD_RE.finditer(text)


def term(word: str) -> str | None:
    """The stem a word is indexed and searched under, or None for a stop word or an overlong one."""
    folded = fold(word)
    if folded in STOP_WORDS or len(folded) > MAX_WORD_CHARS:
        return None
    return stem(folded)


def normalise(text: str) -> str:
    """NFC (so that "й" typed as и + breve is one letter) without NUL characters."""
    return unicodedata.normalize("NFC", text.replace("\x00", " "))


def stemmed(text: str) -> str:
    """``text`` as the space-separated stems the SQLite index holds (stop words dropped)."""
    out = []
    for match in WORD_RE.finditer(normalise(text)):
        t = term(match.group())
        if t is not None:
            out.append(t)
    return " ".join(out)


def plain_text(markdown: str) -> str:
    """The text of an article's Markdown without its markup, on one line: what is indexed and
    what snippets quote. (Raw HTML is off in articles, so ``<b>`` is text and stays.)"""
    text = normalise(markdown)
    for needles, pattern, replacement in _MARKDOWN_RULES:
        if any(c in text for c in needles):
            text = pattern.sub(replacement, text)
    return _SPACES_RE.sub(" ", text).strip()


def without_markers(text: str) -> str:
    return _MARKERS_RE.sub("", text)


# --- Queries -------------------------------------------------------------------------------


@dataclass
class ParsedQuery:
    """A web-search style query: every word and "quoted phrase" must occur (unless joined by
    ``or``), a ``-word`` or ``-"phrase"`` must not. Terms are stems; stop words are gone.

    ``groups`` is a conjunction of disjunctions: each group is a list of alternatives, each
    alternative a phrase (a tuple of stems; one stem for a plain word).
    """

    groups: list[list[tuple[str, ...]]] = field(default_factory=list)
    excluded: list[tuple[str, ...]] = field(default_factory=list)
    # The same as ``groups`` with the words as typed (folded), for PostgreSQL to stem itself.
    word_groups: list[list[tuple[str, ...]]] = field(default_factory=list)

    @property
    def stems(self) -> frozenset[str]:
        """The stems to highlight: every wanted word (never an excluded one)."""
        return frozenset(s for group in self.groups for phrase in group for s in phrase)

    @property
    def has_phrase(self) -> bool:
        """Whether word order matters somewhere (a phrase of two words or more)."""
        return any(len(p) > 1 for group in self.groups for p in group) or any(
            len(p) > 1 for p in self.excluded
        )

    def all_words(self) -> str:
        """The wanted words without their order and without the exclusions, as a ``to_tsquery``
        text ("a & (b | c & d)"): true of every article the query finds, and more. The words
        are letters and digits only, so nothing in them is ``tsquery`` syntax."""
        return " & ".join(
            "(" + " | ".join("(" + " & ".join(words) + ")" for words in group) + ")"
            for group in self.word_groups
        )

    def __bool__(self) -> bool:
        return bool(self.groups)


# A quoted phrase, or a run of anything but spaces and quotes; either may carry a leading "-".
_QUERY_TOKEN_RE = re.compile(r'(-?)"([^"]*)"?|(-?)([^\s"]+)')


def parse_query(query: str) -> ParsedQuery:
    """Read ``query`` the way PostgreSQL's ``websearch_to_tsquery`` does, into stems.

    Any text is a valid query: characters that are not letters or digits only separate words,
    an unclosed quote runs to the end, a lone ``-`` or ``or`` is ignored.
    """
    parsed = ParsedQuery()
    pending_or = False
    for match in _QUERY_TOKEN_RE.finditer(normalise(query)):
        quoted = match.group(2) is not None
        negated = bool(match.group(1) if quoted else match.group(3))
        raw = match.group(2) if quoted else match.group(4)
        if not quoted and raw.casefold() == "or" and not negated:
            pending_or = bool(parsed.groups)
            continue
        pairs = [(t, fold(w.group())) for w in WORD_RE.finditer(raw) if (t := term(w.group())) is not None]
        if not pairs:
            continue
        phrase = tuple(t for t, _word in pairs)
        words = tuple(word for _t, word in pairs)
        if negated:
            parsed.excluded.append(phrase)
        elif pending_or:
            parsed.groups[-1].append(phrase)
            parsed.word_groups[-1].append(words)
        else:
            parsed.groups.append([phrase])
            parsed.word_groups.append([words])
        pending_or = False
    return parsed


# A word still being typed counts as a prefix from this many letters on ("vp" would match
# half the index and tell nothing).
MIN_PREFIX_CHARS = 3


def typed_words(text: str) -> tuple[list[str], str | None]:
    """A subject being typed: its complete words (folded, stop words and repeated stems gone,
    in order) and, when the text does not end with a space or punctuation, its last word
    (folded) as a prefix still being typed, if it has :data:`MIN_PREFIX_CHARS` letters."""
    text = normalise(text)
    matches = list(WORD_RE.finditer(text))
    prefix: str | None = None
    if matches and matches[-1].end() == len(text):
        last = fold(matches.pop().group())
        if len(last) >= MIN_PREFIX_CHARS and len(last) <= MAX_WORD_CHARS:
            prefix = last
    found: list[str] = []
    seen: set[str] = set()
    for match in matches:
        t = term(match.group())
        if t is not None and t not in seen:
            seen.add(t)
            found.append(fold(match.group()))
    return found, prefix


# --- Highlighting --------------------------------------------------------------------------


def _is_hit(word: str, stems: frozenset[str], prefixes: tuple[str, ...]) -> bool:
    folded = fold(word)
    if folded in STOP_WORDS:
        return False
    stemmed_word = stem(folded)
    return stemmed_word in stems or bool(prefixes and stemmed_word.startswith(prefixes))


def highlight(text: str, stems: Iterable[str], prefixes: Iterable[str] = ()) -> SafeString:
    """All of ``text`` escaped, every word whose stem is one of ``stems`` or starts with one of
    ``prefixes`` (stems of words being typed) in ``<mark>``."""
    return _render(without_markers(normalise(text)), frozenset(stems), tuple(prefixes), 0, None)


# Snippets quote a window of this many words around the best match; longer bodies are looked
# at up to this many characters (a match further down still finds the article; its snippet
# then shows the beginning).
SNIPPET_WORDS = 32
SNIPPET_SCAN_CHARS = 10_000


def snippet(text: str, stems: Iterable[str], *, words_around: int = SNIPPET_WORDS) -> SafeString:
    """A window of ``text`` around the densest run of matched words, escaped, matches marked,
    "…" where text was cut."""
    text = without_markers(normalise(text))[:SNIPPET_SCAN_CHARS]
    wanted = frozenset(stems)
    tokens = list(WORD_RE.finditer(text))
    if not tokens:
        return SafeString("")
    hits = [i for i, m in enumerate(tokens) if _is_hit(m.group(), wanted, ())]
    first = 0
    if hits:
        # The window (starting a few words before a match) that holds the most distinct stems.
        best_score = -1
        for i in hits:
            start = max(0, i - 4)
            stop = start + words_around
            seen = {stem(fold(tokens[j].group())) for j in hits if start <= j < stop}
            if len(seen) > best_score:
                best_score, first = len(seen), start
    last = min(len(tokens), first + words_around) - 1
    begin = 0 if first == 0 else tokens[first].start()
    end = len(text) if last == len(tokens) - 1 else tokens[last].end()
    body = _render(text, wanted, (), begin, end)
    lead = "… " if begin > 0 else ""
    tail = " …" if end < len(text) else ""
    return mark_safe(lead + body + tail)  # noqa: S308 - _render escaped every character of the text


def _render(
    text: str, stems: frozenset[str], prefixes: tuple[str, ...], begin: int, end: int | None
) -> SafeString:
    end = len(text) if end is None else end
    out: list[str] = []
    pos = begin
    for match in WORD_RE.finditer(text, begin, end):
        if _is_hit(match.group(), stems, prefixes):
            out.append(escape(text[pos : match.start()]))
            out.append(f"<mark>{escape(match.group())}</mark>")
            pos = match.end()
    out.append(escape(text[pos:end]))
    return mark_safe("".join(out))  # noqa: S308 - every piece of the text went through escape()


def marked(headline: str) -> SafeString:
    """A PostgreSQL ``ts_headline`` made with :data:`MARK_START`/:data:`MARK_STOP` as HTML:
    escaped, the markers turned into ``<mark>`` and ``</mark>``, always well nested (a marker
    without its pair, e.g. where Markdown around it was cut away, is dropped or closed)."""
    out: list[str] = []
    is_open = False
    for piece in _MARKER_SPLIT_RE.split(headline.replace(LESS_THAN, "<")):
        if piece == MARK_START:
            if not is_open:
                out.append("<mark>")
                is_open = True
        elif piece == MARK_STOP:
            if is_open:
                out.append("</mark>")
                is_open = False
        elif piece:
            out.append(str(escape(piece)))
    if is_open:
        out.append("</mark>")
    return mark_safe("".join(out))  # noqa: S308 - every piece of text went through escape()
