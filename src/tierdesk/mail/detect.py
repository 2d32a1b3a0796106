"""Mail written by machines: delivery status notifications (bounces) and automatic replies.

A bounce tells which of our addresses fail and which of our messages failed; the import
records it instead of creating a ticket. An automatic reply (out of office, a mailing list, a
newsletter) must neither create a ticket nor be answered, or two robots mail each other
forever (RFC 3834).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

from tierdesk.mail.decoding import clean_text, mime_type, normalise_message_id, unfold

DIAGNOSTIC_MAX_CHARS = 500


@dataclass(frozen=True)
class Bounce:
    """What a delivery status notification reports.

    ``failed_recipients`` are the lower-cased addresses whose delivery failed (``Action:
    failed``, or a 5.x.x status without an action): the Original-Recipient when the report
    has it (the address we wrote to, before the receiving side's aliases), else the
    Final-Recipient. ``status`` and ``diagnostic`` are the first failed recipient's (or the
    first recipient's when none failed: a "delayed" report). ``permanent`` is a 5.x.x status.
    """

    failed_recipients: tuple[str, ...]
    status: str
    diagnostic: str
    original_message_id: str
    permanent: bool


_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_ADDRESS = re.compile(r"[^\s@<>()\[\],;:\"']+@[^\s@<>()\[\],;:\"']+\.[a-z0-9-]+", re.IGNORECASE)
_MESSAGE_ID_LINE = re.compile(r"^message-id:[ \t]*(.+)$", re.IGNORECASE | re.MULTILINE)
_DAEMON = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon)@", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|returned mail|delivery (?:status notification|failure|has failed)"
    r"|mail delivery failed|failure notice|could not be delivered|delivery problem"
    r"|недоставленное|не доставлено|не удалось доставить|невозможно доставить|ошибка доставки",
    re.IGNORECASE,
)
# Where a text bounce lists the failed addresses: qmail "<addr>:", Exim/Sendmail after an
# announcing line, indented.
_QMAIL_RECIPIENT = re.compile(r"^<([^<>\s]+@[^<>\s]+)>:", re.MULTILINE)
_ANNOUNCE = re.compile(
    r"(?:following address(?:es|\(es\))? failed|permanent fatal errors|could not be delivered to"
    r"|following recipients?|не удалось доставить)[^\n]*\n((?:[ \t]*\n)*(?:[ \t]+\S[^\n]*\n?)+)",
    re.IGNORECASE,
)
_RETURNED_COPY = re.compile(
    r"^(?:-+ ?Below this line is a copy of the message|-+ This is a copy of the message"
    r"|-+ ?Original message follows|-+ The header of the original message)",
    re.IGNORECASE | re.MULTILINE,
)


def _field(block: Message, name: str) -> str:
    try:
        values = block.get_all(name) or []
    except Exception:  # policy.default parses on access; a broken field must not stop the report
        return ""
    return " ".join(unfold(str(values[0])).split()) if values else ""


def _typed_address(value: str) -> str:
    """``"rfc822; User@Example.com"`` → ``"user@example.com"``."""
    address = value.split(";", 1)[-1].strip().strip("<>").strip().lower()
    return address if _ADDRESS.fullmatch(address) else ""


def _status_of(text: str) -> str:
    match = _STATUS.search(text)
    return ".".join(match.groups()) if match else ""


def _diagnostic(value: str) -> str:
    text = value.split(";", 1)[-1].strip() if ";" in value[:20] else value.strip()
    return clean_text(" ".join(text.split()))[:DIAGNOSTIC_MAX_CHARS]


def _children(part: Message) -> list[Message]:
    if not part.is_multipart():
        return []
    payload = part.get_payload()
    return [child for child in payload if isinstance(child, Message)] if isinstance(payload, list) else []


def _original_message_id(report: Message) -> str:
    """The Message-ID of the returned message: from a message/rfc822 or
    text/rfc822-headers part of the report."""
    for part in _children(report):
        ctype = mime_type(part)
        if ctype in ("message/rfc822", "message/global"):
            inner = _children(part)
            if inner:
                found = normalise_message_id(_field(inner[0], "Message-ID"))
                if found:
                    return found
        elif ctype in ("text/rfc822-headers", "text/global-headers"):
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                headers = BytesHeaderParser(policy=compat32).parsebytes(data)
                found = normalise_message_id(str(headers.get("Message-ID", "")))
                if found:
                    return found
    return ""


def _delivery_status(report: Message) -> Bounce | None:
    status_part = next(
        (
            part
            for part in _children(report)
            if mime_type(part) in ("message/delivery-status", "message/global-delivery-status")
        ),
        None,
    )
    if status_part is None:
        return None
    # The parser gives a delivery-status part as a list of header blocks: the per-message
    # fields, then one block per recipient.
    blocks = _children(status_part)
    failed: dict[str, None] = {}
    first: tuple[str, str] | None = None
    first_failed: tuple[str, str] | None = None
    for block in blocks[1:] if len(blocks) > 1 else blocks:
        recipient = _typed_address(_field(block, "Original-Recipient")) or _typed_address(
            _field(block, "Final-Recipient")
        )
        if not recipient:
            continue
        status = _status_of(_field(block, "Status"))
        action = _field(block, "Action").lower()
        details = (status, _diagnostic(_field(block, "Diagnostic-Code")))
        first = first or details
        if action.startswith("failed") or (not action and status.startswith("5")):
            failed.setdefault(recipient, None)
            first_failed = first_failed or details
    if first is None:
        return None  # no recipient could be read: not a usable report
    status, diagnostic = first_failed or first
    return Bounce(
        failed_recipients=tuple(failed),
        status=status,
        diagnostic=diagnostic,
        original_message_id=_original_message_id(report),
        permanent=status.startswith("5"),
    )


def _text_bounce(body: str, exclude: set[str]) -> Bounce:
    """A bounce written as prose (qmail, old Exim and Sendmail, some appliances): addresses,
    status and the returned Message-ID found in the text, as well as they can be."""
    cut = _RETURNED_COPY.search(body)
    report = body[: cut.start()] if cut else body
    found: dict[str, None] = {}
    candidates = _QMAIL_RECIPIENT.findall(report)
    for block in _ANNOUNCE.findall(report):
        candidates += _ADDRESS.findall(block)
    for candidate in candidates:
        address = candidate.strip("<>").lower()
        if address not in exclude and _ADDRESS.fullmatch(address):
            found.setdefault(address, None)
    status = _status_of(report)
    if not status and re.search(r"permanent (?:error|failure)|\b5\d\d\b", report, re.IGNORECASE):
        status = "5.0.0"
    message_id = ""
    for match in _MESSAGE_ID_LINE.finditer(body[cut.start() :] if cut else body):
        message_id = normalise_message_id(match[1])
        if message_id:
            break
    diagnostic = ""
    for line in report.splitlines():
        if _STATUS.search(line) or re.search(r"\b5\d\d\b", line):
            diagnostic = _diagnostic(line)
            break
    return Bounce(
        failed_recipients=tuple(found),
        status=status,
        diagnostic=diagnostic,
        original_message_id=message_id,
        permanent=status.startswith("5"),
    )


def _report_type(message: Message) -> str:
    try:
        return str(message.get_param("report-type", "", header="content-type") or "").lower()
    except Exception:  # a broken parameter is no report type
        return ""


def find_bounce(
    message: Message, *, from_address: str, subject: str, text: str, own: set[str]
) -> Bounce | None:
    """The bounce ``message`` is, or None.

    A report is a top-level multipart/report with report-type=delivery-status, or any
    multipart/report from MAILER-DAEMON/postmaster. Without one, a message from
    MAILER-DAEMON/postmaster whose subject says delivery failed, or whose text has a returned
    copy, is read as a prose bounce. ``own`` are the message's recipients (the desk), never
    reported as failing.
    """
    daemon = bool(_DAEMON.match(from_address))
    if mime_type(message) == "multipart/report" and (
        _report_type(message) in ("delivery-status", "global-delivery-status") or daemon
    ):
        bounce = _delivery_status(message)
        if bounce is not None:
            return bounce
        prose = _text_bounce(text, own)
        if daemon:
            return prose
        # A delivery-status report whose recipients cannot be read: still a bounce.
        return Bounce(
            prose.failed_recipients,
            prose.status,
            prose.diagnostic,
            _original_message_id(message) or prose.original_message_id,
            prose.permanent,
        )
    if daemon and (_BOUNCE_SUBJECT.search(subject) or _RETURNED_COPY.search(text)):
        return _text_bounce(text, own)
    return None


# Out-of-office subjects. The unambiguous markers count wherever the subject starts with
# them; the ambiguous ones ("Out of office printer" is a request) only when followed by a
# colon, nothing, or a date ("until …", "до …"), or in a message carrying Exchange's
# X-Auto-Response-Suppress (which Exchange puts on its out-of-office replies).
_OOF_CLEAR = re.compile(
    r"^(?:automatic reply|auto[- ]?reply|autoreply|auto[- ]?response|autoresponse|out of office autoreply"
    r"|vacation reply|автоответ|автоматический ответ|автоматическое уведомление)\b",
    re.IGNORECASE,
)
_OOF_AMBIGUOUS = (
    r"^(?:out of (?:the )?office|away from (?:the )?office|on vacation|on leave"
    r"|нет на месте|в отпуске|отсутствую|отсутствие на работе|вне офиса|не в офисе)"
)
_OOF_MARKER = re.compile(_OOF_AMBIGUOUS + r"\b", re.IGNORECASE)
_OOF_STRICT = re.compile(
    _OOF_AMBIGUOUS + r"\s*(?::.*|\s(?:until|till|from|до|по|\u0441)\s.*)?$", re.IGNORECASE | re.DOTALL
)
_AUTO_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
_SUPPRESS_VALUES = {"all", "autoreply", "oof"}


def _first(headers: Mapping[str, Sequence[str]], name: str) -> str:
    values = headers.get(name) or []
    return " ".join(unfold(values[0]).split()) if values else ""


def auto_reply_reason(
    message: Message, headers: Mapping[str, Sequence[str]], *, subject: str, from_address: str
) -> str:
    """Why ``message`` was written by a machine, or "" for a person's message.

    X-Auto-Response-Suppress alone does not make a message automatic (Exchange users' and
    applications' ordinary mail carries it too); List-Id/List-Unsubscribe alone neither (a
    customer may write through a Google Group). Both make `suppress_auto_responses` true.
    """
    auto_submitted = _first(headers, "auto-submitted").split(";", 1)[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        return f"Auto-Submitted: {auto_submitted}"
    for name, label in (
        ("x-autoreply", "X-Autoreply"),
        ("x-autorespond", "X-Autorespond"),
        ("x-autogenerated", "X-Autogenerated"),
        ("x-auto-reply", "X-Auto-Reply"),
    ):
        if name in headers:
            return label
    for name, label in (("precedence", "Precedence"), ("x-precedence", "X-Precedence")):
        value = _first(headers, name).lower()
        if value in _AUTO_PRECEDENCE:
            return f"{label}: {value}"
    if mime_type(message) == "multipart/report":
        report_type = _report_type(message)
        if report_type:
            return f"Content-Type: multipart/report; report-type={report_type}"
    if _OOF_CLEAR.match(subject):
        return f"Subject: {subject[:80]}"
    if _OOF_STRICT.match(subject) or (_OOF_MARKER.match(subject) and "x-auto-response-suppress" in headers):
        return f"Subject: {subject[:80]}"
    if _first(headers, "return-path").replace(" ", "") == "<>":
        return "Return-Path: <>"
    if from_address.startswith("mailer-daemon@"):
        return f"From: {from_address}"
    return ""


def suppresses_auto_responses(headers: Mapping[str, Sequence[str]]) -> bool:
    """Whether the sender asks not to be answered automatically: Exchange's
    X-Auto-Response-Suppress (All, AutoReply, OOF) or a mailing list's List-Id /
    List-Unsubscribe (RFC 3834 section 2)."""
    suppress = {token.strip().lower() for token in _first(headers, "x-auto-response-suppress").split(",")}
    return bool(suppress & _SUPPRESS_VALUES) or "list-id" in headers or "list-unsubscribe" in headers


__all__ = ["Bounce", "auto_reply_reason", "find_bounce", "suppresses_auto_responses"]
