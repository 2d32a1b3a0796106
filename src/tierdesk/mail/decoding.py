"""Turning the bytes of received mail into text: charsets (with the guesses Russian mail
needs), header fields (RFC 2047 encoded words, raw 8-bit bytes, RFC 2231 parameters),
addresses, dates and message ids.

Everything here is total: hostile or broken input gives a best-effort value and a flag, never
an exception. `tierdesk.mail.parsing` puts the pieces together.
"""

from __future__ import annotations

import binascii
import codecs
import email.utils
import re
from datetime import UTC, datetime
from email import policy as email_policy
from email.message import Message

# Header values are cut to this many characters before a parser sees them. The structured
# header parsers of `email.policy.default` are super-linear: a 580 KB Content-Type took 8 s and
# a 580 KB Subject 18 s to parse (measured), while no honest field comes near 32 KB (a To of
# 1,000 recipients is ~28 KB).
HEADER_MAX_CHARS = 32_000
MIME_HEADER_MAX_CHARS = 8_000

MESSAGE_ID_MAX_CHARS = 998  # RFC 5322 line length
MAX_IDS = 100  # References kept: the root and the most recent ones

# Single-byte charsets a message without a usable charset is tried in: the three Russian
# mail has been written in for decades. Scored by the lower-case Russian words each decoding
# gives (the wrong ones give mostly capitals or pseudographics).
_GUESSES = ("cp1251", "koi8-r", "cp866")
_GUESS_SAMPLE = 64 * 1024
# Runs of two or more Russian lower-case letters: words, not one stray "й" for an "é".
_RUSSIAN_WORD = re.compile("[\u0430-\u044f\u0451]{2,}")

_CHARSET_ALIASES = {
    "win-1251": "cp1251",
    "windows1251": "cp1251",
    "x-cp1251": "cp1251",
    "cp-1251": "cp1251",
    "koi8r": "koi8-r",
    "x-koi8-r": "koi8-r",
    "ibm866": "cp866",
    "cp-866": "cp866",
    "866": "cp866",
    "x-mac-cyrillic": "mac-cyrillic",
    "utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "iso-8859-8-i": "iso-8859-8",
    "us-ascii": "ascii",
}
# Python codecs that are not charsets a mail can be written in.
_REFUSED_CODECS = {
    "unicode_escape",
    "raw_unicode_escape",
    "idna",
    "punycode",
    "undefined",
    "mbcs",
    "oem",
    "charmap",
}

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Drop what never belongs in stored text: NUL and other control characters (PostgreSQL
    refuses NUL), a byte-order mark, lone surrogates."""
    text = _CONTROL.sub("", text.replace("\ufeff", ""))
    if _SURROGATE.search(text):
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def codec_for(charset: str | None) -> str | None:
    """The Python codec of a declared MIME charset, or None when it is unknown or unusable."""
    if not charset:
        return None
    name = charset.strip().strip("\"'").split("*", 1)[0].strip().lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if info.name in _REFUSED_CODECS:
        return None
    try:
        b"a".decode(info.name)  # refuses codecs that are not text encodings (zlib, base64...)
    except LookupError:
        return None
    except (UnicodeError, ValueError):
        pass  # a text encoding in which "a" alone is incomplete (UTF-16)
    return info.name


def decode_bytes(data: bytes, charset: str | None) -> tuple[str, bool]:
    """Decode ``data`` declared as ``charset``; return the text and whether it is a guess.

    The declared charset is tried strictly, then UTF-8, then the best of windows-1251,
    KOI8-R and CP866 (by the lower-case Russian words each gives), then Latin-1 when none
    gives any. A guess is reported (``charset_problems``) when the declared charset is
    unknown or a single-byte charset had to be guessed; undeclared or wrongly declared
    text that is valid UTF-8 is not a problem (it decodes without loss).
    """
    codec = codec_for(charset)
    unknown = bool(charset) and codec is None
    if codec is not None:
        try:
            return clean_text(data.decode(codec)), False
        except (UnicodeDecodeError, LookupError, ValueError):
            pass
    try:
        return clean_text(data.decode("utf-8")), unknown
    except UnicodeDecodeError:
        pass
    return clean_text(_guess_single_byte(data)), True


def _guess_single_byte(data: bytes) -> str:
    sample = data[:_GUESS_SAMPLE]
    best, best_score = "latin-1", 0
    for codec in _GUESSES:
        score = sum(map(len, _RUSSIAN_WORD.findall(sample.decode(codec, "replace"))))
        if score > best_score:
            best, best_score = codec, score
    return data.decode(best, "replace")


def fix_8bit(value: str) -> tuple[str, bool]:
    """Header values reach us as str with raw 8-bit bytes smuggled in as surrogates (how the
    stdlib parser keeps bytes it could not decode). Decode those bytes like a body part
    without a declared charset."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value, False
    return decode_bytes(value.encode("utf-8", "surrogateescape"), None)


# An RFC 2047 encoded word; the charset may carry an RFC 2231 language ("utf-8*ru").
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,75})\?([bBqQ])\?([^?\s]*)\?=")
_UNTERMINATED_WORD = re.compile(r"=\?([^?\s]{1,75})\?([bBqQ])\?([^?\s]*)\??$")


def _word_bytes(encoding: str, data: str) -> bytes:
    raw = data.encode("ascii", "replace")
    if encoding in "bB":
        raw = re.sub(rb"[^A-Za-z0-9+/]", b"", raw)
        raw = raw[: len(raw) - len(raw) % 4] if len(raw) % 4 == 1 else raw
        return binascii.a2b_base64(raw + b"=" * (-len(raw) % 4))
    return binascii.a2b_qp(raw, header=True)


def decode_words(value: str) -> tuple[str, bool]:
    """Decode RFC 2047 encoded words in ``value`` (already free of raw 8-bit bytes).

    Adjacent words of one charset are joined before decoding, as clients split multi-byte
    characters across them; whitespace between encoded words is dropped (RFC 2047 6.2). An
    encoded word cut off at the end of the value (a broken client, a truncated header) is
    decoded as if terminated.
    """
    if "=?" not in value:
        return value, False
    tail = _UNTERMINATED_WORD.search(value)
    if tail and not value.endswith("?="):
        value = value[: tail.start()] + f"=?{tail[1]}?{tail[2]}?{tail[3]}?="
    pieces: list[str] = []
    problem = False
    run_charset: str | None = None
    run = b""
    position = 0

    def flush() -> None:
        nonlocal run, run_charset, problem
        if run_charset is not None:
            text, guessed = decode_bytes(run, run_charset)
            pieces.append(text)
            problem = problem or guessed
        run, run_charset = b"", None

    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        charset = match[1].split("*", 1)[0].lower()
        if between.strip() or run_charset is None:
            flush()
            pieces.append(between)
        elif charset != run_charset:
            flush()
        try:
            data = _word_bytes(match[2], match[3])
        except (binascii.Error, ValueError):
            flush()
            pieces.append(match[0])
            problem = True
        else:
            run_charset = charset
            run += data
        position = match.end()
    flush()
    pieces.append(value[position:])
    return "".join(pieces), problem


def unfold(value: str) -> str:
    return re.sub(r"\r?\n(?=[ \t])", "", value).replace("\r", "").replace("\n", "")


def header_text(raw: str) -> tuple[str, bool]:
    """An unstructured header (Subject, a name): unfolded, 8-bit bytes and encoded words
    decoded, whitespace collapsed."""
    value, problem = fix_8bit(unfold(raw[:HEADER_MAX_CHARS]))
    value, guessed = decode_words(value)
    return " ".join(clean_text(value).split()), problem or guessed


def mime_type(part: Message) -> str:
    """The part's content type; text/plain when the field cannot be read (RFC 2045 5.2)."""
    try:
        return part.get_content_type()
    except Exception:  # policy.default parses the field on access and may raise on garbage
        return "text/plain"


def raw_headers(message: Message, names: set[str] | None = None, per_name: int = 50) -> dict[str, list[str]]:
    """The raw values of a message's header fields by lower-case name (only ``names`` when
    given, at most ``per_name`` of each): read without `email.policy.default`'s parsers,
    which raise or take seconds on some broken fields."""
    fields: dict[str, list[str]] = {}
    # raw_items() is documented as internal (for generators) but is the one way to the
    # field values as received, before the policy's parsers.
    for name, value in message.raw_items():
        key = str(name).lower()
        if names is not None and key not in names:
            continue
        values = fields.setdefault(key, [])
        if len(values) < per_name:
            values.append(str(value)[:HEADER_MAX_CHARS])
    return fields


_ADDRESS = re.compile(r"[^\s@<>()\[\],;:\"]+@[^\s@<>()\[\],;:\"]+")


def _clean_address(addr: str) -> str:
    addr = addr.strip().strip("<>").strip().lower()
    return addr if _ADDRESS.fullmatch(addr) else ""


def _clean_name(name: str) -> tuple[str, bool]:
    name, problem = fix_8bit(name)
    name, guessed = decode_words(name)
    return " ".join(clean_text(name).strip().strip("\"'").split()), problem or guessed


def addresses(raw: str) -> tuple[list[tuple[str, str]], bool]:
    """(display name, lower-cased addr-spec) pairs of an address header; unparseable entries
    are skipped. Parsed by `email.policy.default`, or by the lenient `email.utils` parser when
    that fails."""
    value, problem = fix_8bit(unfold(raw[:HEADER_MAX_CHARS]))
    pairs: list[tuple[str, str]] = []
    try:
        header = email_policy.default.header_factory("to", value)
        found = [(a.display_name, a.addr_spec) for group in header.groups for a in group.addresses]
    except Exception:  # the structured parser has many failure modes on hostile input
        decoded, _guessed = decode_words(value)
        found = email.utils.getaddresses([decoded])
    for name, addr in found:
        address = _clean_address(addr)
        if not address:
            continue
        display, guessed = _clean_name(name)
        problem = problem or guessed
        pairs.append((display, address))
    return pairs, problem


def address_list(values: list[str]) -> tuple[tuple[str, ...], bool]:
    """All addresses of (possibly repeated) address headers, de-duplicated in order."""
    seen: dict[str, None] = {}
    problem = False
    for raw in values:
        pairs, guessed = addresses(raw)
        problem = problem or guessed
        for _name, address in pairs:
            seen.setdefault(address, None)
    return tuple(seen), problem


def parse_date(raw: str) -> datetime | None:
    """An aware UTC datetime, or None for a missing, unparseable or absurd Date."""
    try:
        value = email.utils.parsedate_to_datetime(unfold(raw[:200]).strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if value is None:
        return None
    if value.tzinfo is None:  # "-0000": the time is UTC, its zone unknown (RFC 5322 3.3)
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return value if 1970 <= value.year <= 9000 else None


# id-left "@" id-right in printable ASCII without the brackets, quotes and spaces: what a
# message id is (RFC 5322 3.6.4). Requiring "@" also keeps ids apart from the "sha256:" keys.
_MESSAGE_ID = re.compile(r"[!#-;=?A-~]+@[!#-;=?A-~]+")
_BRACKETED = re.compile(r"<([^<>]*)>")


def normalise_message_id(value: str) -> str:
    """``"<abc@host>"`` → ``"abc@host"``; the first bracketed id of the value, or the value
    itself when it has no brackets; ``""`` when that is not a message id."""
    text = unfold(str(value)[:HEADER_MAX_CHARS]).strip()
    match = _BRACKETED.search(text)
    candidate = (match[1] if match else text).strip()
    if len(candidate) > MESSAGE_ID_MAX_CHARS or not _MESSAGE_ID.fullmatch(candidate):
        return ""
    return candidate


def message_ids(values: list[str]) -> tuple[str, ...]:
    """The ids of In-Reply-To / References fields, in order, without duplicates or garbage.

    Bracketed ids are taken; a field without brackets is split on whitespace. Of very long
    chains the first (the thread's root) and the last ``MAX_IDS - 1`` are kept.
    """
    found: dict[str, None] = {}
    for raw in values:
        text = unfold(raw)
        candidates = _BRACKETED.findall(text) or text.split()
        for candidate in candidates:
            normalised = normalise_message_id(f"<{candidate}>")
            if normalised:
                found.setdefault(normalised, None)
    ids = tuple(found)
    if len(ids) > MAX_IDS:
        ids = ids[:1] + ids[-(MAX_IDS - 1) :]
    return ids
