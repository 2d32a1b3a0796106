"""The new part of a reply: the text above the quoted history, without the signature.

`mail-parser-reply` was evaluated and not used: it has no Russian (its language table lacks
"ru", so "От: … Отправлено: …" and "2 нояб. 2026 г., 10:00, Иван <…>:" headers pass through),
it strips the leading whitespace of every line, and by default it takes a "- item" list for
a signature. The rules below are few and each is tested with the mail clients it is for.

What ends the reply (the earliest wins):

* a separator line: ``-----Original Message-----``, ``-------- Исходное сообщение --------``
  (a forwarded-message separator ends the search instead: a forward to the desk is the
  request itself, headers and all);
* an Outlook header block: a ``From:``/``От:`` line followed within six lines by two of
  ``Sent:``, ``Date:``, ``To:``, ``Cc:``, ``Subject:`` or ``Отправлено:``, ``Дата:``,
  ``Кому:``, ``Копия:``, ``Тема:`` (with a line of underscores above it, that line too);
* an attribution line, possibly wrapped over three lines: ``On … wrote:`` (Gmail, Apple
  Mail, Thunderbird), ``… пишет:`` / ``… написал(а):``, or the Russian clients' form without
  a verb that ends in an address and a colon and has a time in it (Gmail
  "пн, 2 нояб. 2026 г. в 10:00, Иван <ivan@example.ru>:", Yandex "02.11.2026, 10:00,
  "Иван" <ivan@example.ru>:", Mail.ru "Понедельник, 2 ноября 2026, 10:00 +03:00 от …:").

Then trailing ``>`` quoted lines go (quotes between the sender's own lines stay: those are
inline answers and need their context), then the signature from a ``-- `` line, then a
"Sent from my iPhone" / "Отправлено с iPhone" line at the very end.
"""  # noqa: RUF002

from __future__ import annotations

import re

_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(?:original message|исходное сообщение|оригинальное сообщение)\s*-{2,}\s*$",
    re.IGNORECASE,
)
# A forward: what follows is the content the sender passes on, not history to drop.
_FORWARD = re.compile(
    r"^\s*(?:-{2,}\s*(?:forwarded message|пересылаемое сообщение"
    r"|пересланное сообщение)\s*-*|begin forwarded message:|начало переадресованного сообщения:)\s*$",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"^\s*_{10,}\s*$")
_LABEL = r"^\s*[*>]?\s*\*?(?:{})\*?\s*:"
_FROM_LABEL = re.compile(_LABEL.format("from|от"), re.IGNORECASE)
_OTHER_LABEL = re.compile(
    _LABEL.format("sent|date|to|cc|subject|отправлено|дата|кому|копия|тема"), re.IGNORECASE
)
_ON_WROTE = re.compile(r"^\s*On\s.{4,300}\swrote:\s*$", re.IGNORECASE | re.DOTALL)
_VERB_WROTE = re.compile(r"^.{4,300}\s(?:пишет|написала?|написал\(\w\)|писал\(\w\)):\s*$", re.DOTALL)
_TIME = re.compile(r"\d{1,2}:\d{2}")
_DATE = re.compile(r"\d{4}|\d{1,2}\.\d{1,2}\.\d{2}")
_ADDRESS_COLON = re.compile(r"(?:<[^<>\s]+@[^<>\s]+>|\b[^<>\s]+@[^<>\s]+)\s*:\s*$")
_SIGNATURE = re.compile(r"^--[ \t]?$")
_MOBILE_FOOTER = re.compile(
    r"^\s*(?:sent from my \w+.*|sent from (?:mail|outlook) for \w+.*|get outlook for \w+.*"
    r"|отправлено \u0441 (?:iphone|ipad|моего \w+.*)|отправлено из (?:мобильной|приложения) .*"
    r"|sent from yandex mail.*)$",
    re.IGNORECASE,
)


def _is_attribution(line: str) -> bool:
    if not line.endswith(":"):
        return False
    if _ON_WROTE.match(line):
        return True
    dated = _TIME.search(line) or _DATE.search(line)
    return bool(dated and (_VERB_WROTE.match(line) or _ADDRESS_COLON.search(line)))


def _attribution_end(lines: list[str], index: int) -> int | None:
    """If an attribution line ("On … wrote:" and its kin) starts at ``index``, the index of
    the line it ends on: clients wrap it over up to three lines, never across a blank one."""
    joined = lines[index].strip()
    if not joined or joined.startswith(">") or len(joined) > 300:
        return None
    for end in range(index, min(index + 3, len(lines))):
        if end > index:
            following = lines[end].strip()
            if not following or _is_attribution(following):
                return None  # a blank line, or the attribution starts on its own line later
            joined = f"{joined} {following}"
        if joined.endswith(":"):
            return end if _is_attribution(joined) else None
    return None


def _outlook_header(lines: list[str], index: int) -> bool:
    if not _FROM_LABEL.match(lines[index]):
        return False
    following = [line for line in lines[index + 1 : index + 7] if line.strip()]
    return sum(1 for line in following if _OTHER_LABEL.match(line)) >= 2


def _history_start(lines: list[str]) -> int | None:
    for index, line in enumerate(lines):
        if _FORWARD.match(line):
            return None
        if _SEPARATOR.match(line) or _attribution_end(lines, index) is not None:
            return index
        if _outlook_header(lines, index):
            above = index - 1
            while above >= 0 and not lines[above].strip():
                above -= 1
            return above if above >= 0 and _UNDERSCORES.match(lines[above]) else index
    return None


def _drop_trailing_quote(lines: list[str]) -> list[str]:
    end = len(lines)
    quoted = False
    while end and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith(">")):
        quoted = quoted or lines[end - 1].lstrip().startswith(">")
        end -= 1
    return lines[:end] if quoted else lines


def _drop_signature(lines: list[str]) -> list[str]:
    for index, line in enumerate(lines):
        if _SIGNATURE.match(line) and any(previous.strip() for previous in lines[:index]):
            return lines[:index]
    return lines


def _drop_mobile_footer(lines: list[str]) -> list[str]:
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    if end and _MOBILE_FOOTER.match(lines[end - 1]):
        return lines[: end - 1]
    return lines


def extract_reply(text: str) -> str:
    """``text`` without the quoted history and the signature; ``text`` itself (stripped)
    when nothing would be left."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    start = _history_start(lines)
    if start is not None:
        lines = lines[:start]
    lines = _drop_mobile_footer(_drop_signature(_drop_trailing_quote(lines)))
    reply = "\n".join(line.rstrip() for line in lines).strip()
    return reply or text.strip()
