"""The MIME parser of the e-mail channel: real-world samples (tests/mail/samples/), hostile
input and limits, and a fuzz test that nothing but MailParseError ever escapes."""

from __future__ import annotations

import base64
import email
import hashlib
import re
import struct
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tierdesk.mail.decoding import decode_bytes
from tierdesk.mail.parsing import (
    MAX_MESSAGE_BYTES,
    MAX_PARTS,
    MailParseError,
    ParsedMessage,
    normalise_message_id,
    parse_message,
)
from tierdesk.mail.quotes import extract_reply

SAMPLES = Path(__file__).parent / "samples"


def raw(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def parse(name: str) -> ParsedMessage:
    return parse_message(raw(name))


def names(parsed: ParsedMessage) -> list[str]:
    return [attachment.filename for attachment in parsed.attachments]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def message(body: str = "Hello", **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = headers.pop("From", "Anna <anna@client.example>")
    msg["To"] = headers.pop("To", "support@tierdesk.example")
    msg["Subject"] = headers.pop("Subject", "A request")
    msg["Date"] = "Mon, 2 Nov 2026 09:00:00 +0300"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


# --- TNEF: a minimal winmail.dat written to the format (MS-OXTNEF) -------------------------
# No library or tool writes TNEF; this writer makes the blob of samples/winmail_tnef.eml
# (tnefparse and Debian's independent `tnef` decoder both read it).


def _tnef_attribute(level: int, kind: int, name: int, data: bytes) -> bytes:
    return struct.pack("<BHHI", level, name, kind, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)


def _padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _mapi_unicode(prop: int, text: str) -> bytes:
    data = (text + "\0").encode("utf-16-le")
    return struct.pack("<HHII", 0x001F, prop, 1, len(data)) + _padded(data)


def _mapi_string8(prop: int, text: str) -> bytes:
    data = text.encode("cp1252") + b"\0"
    return struct.pack("<HHII", 0x001E, prop, 1, len(data)) + _padded(data)


def _mapi_long(prop: int, value: int) -> bytes:
    return struct.pack("<HHi", 0x0003, prop, value)


def _mapi_props(*props: bytes) -> bytes:
    return struct.pack("<I", len(props)) + b"".join(props)


def _mapi_binary(prop: int, data: bytes) -> bytes:
    return struct.pack("<HHII", 0x0102, prop, 1, len(data)) + _padded(data)


def build_tnef(body: str, files: list[tuple[str, str, str, bytes]], *, rtf: bytes | None = None) -> bytes:
    """files: (8.3 title, long file name, MIME type, data). ``rtf``: the body as compressed RTF
    (PR_RTF_COMPRESSED) instead of text, as Outlook sends a rich-text message."""
    blob = struct.pack("<IH", 0x223E9F78, 0x4242)
    blob += _tnef_attribute(1, 0x0008, 0x9006, struct.pack("<I", 0x00010000))  # attTnefVersion
    blob += _tnef_attribute(1, 0x0006, 0x9007, struct.pack("<II", 1252, 0))  # attOemCodepage
    blob += _tnef_attribute(1, 0x0007, 0x8008, b"IPM.Microsoft Mail.Note\0")  # attMessageClass
    body_prop = _mapi_binary(0x1009, rtf) if rtf is not None else _mapi_unicode(0x1000, body)
    props = _mapi_props(_mapi_long(0x3FDE, 65001), body_prop)  # codepage, the body
    blob += _tnef_attribute(1, 0x0006, 0x9003, props)  # attMAPIProps
    for title, long_name, mime, data in files:
        blob += _tnef_attribute(2, 0x0006, 0x9002, struct.pack("<HIHHI", 1, 0xFFFFFFFF, 0, 0, 0))
        blob += _tnef_attribute(2, 0x0001, 0x8010, title.encode("ascii") + b"\0")  # attAttachTitle
        blob += _tnef_attribute(2, 0x0006, 0x800F, data)  # attAttachData
        attachment = _mapi_props(
            _mapi_long(0x3705, 1), _mapi_unicode(0x3707, long_name), _mapi_string8(0x370E, mime)
        )
        blob += _tnef_attribute(2, 0x0006, 0x9005, attachment)  # attAttachment
    return blob


PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n"
    b"<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
)
TNEF_FILES = [
    ("REPORT~1.PDF", "report-2026.pdf", "application/pdf", PDF),
    ("OTCHET~1.TXT", "Отчёт за ноябрь.txt", "text/plain", "Сервер упал в 10:00.\r\n".encode()),
]


def with_winmail(blob: bytes, text: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ivan Ivanov <ivanov@corp.example>"
    msg["To"] = "support@tierdesk.example"
    msg["Subject"] = "Monthly report"
    if text is None:
        msg.set_content(blob, maintype="application", subtype="ms-tnef", filename="winmail.dat")
    else:
        msg.set_content(text)
        msg.add_attachment(blob, maintype="application", subtype="ms-tnef", filename="winmail.dat")
    return msg.as_bytes()


# --- The samples -------------------------------------------------------------------------


def test_plain_english_request() -> None:
    parsed = parse("plain_request.eml")
    assert parsed.message_id == "CAF3x7kq1Lm2nR@mail.client.example"
    assert parsed.key == "CAF3x7kq1Lm2nR@mail.client.example"
    assert parsed.from_address == "anna.smirnova@client.example"  # lower-cased
    assert parsed.from_name == "Anna Smirnova"
    assert parsed.to == ("support@tierdesk.example",)
    assert parsed.cc == ("it-manager@client.example",)
    assert parsed.subject == "Printer on 3rd floor prints blank pages"  # folded, collapsed
    assert parsed.date == datetime(2026, 11, 2, 6, 12, 40, tzinfo=UTC)
    assert parsed.text.startswith("Hello,\n\nThe HP LaserJet on the 3rd floor")
    assert "\r" not in parsed.text
    assert parsed.reply_text == parsed.text
    assert parsed.html == ""
    assert parsed.attachments == ()
    assert (parsed.auto_reply, parsed.bounce, parsed.charset_problems) == ("", None, False)
    assert parsed.suppress_auto_responses is False


def test_reply_to_a_notification_threads_and_loses_quote_and_signature() -> None:
    parsed = parse("reply_gmail.eml")
    assert parsed.in_reply_to == ("td.123.abc@tierdesk.localhost",)
    assert parsed.references == ("CAF3x7kq1Lm2nR@mail.client.example", "td.123.abc@tierdesk.localhost")
    assert "> We restarted the print server." in parsed.text
    # format=flowed: the soft line break is joined
    assert "very slow since the update." in parsed.text
    assert parsed.reply_text == (
        "Yes, it works again after the restart. Thank you!\n\n"
        "One more thing: the scanner on the same floor is very slow since the update."
    )


def test_russian_koi8r_subject_name_and_body() -> None:
    parsed = parse("russian_koi8r.eml")
    assert parsed.subject == "Не работает VPN"
    assert parsed.from_name == "Пётр Петров"
    assert parsed.text == (
        "Добрый день!\n\nС утра не подключается VPN, ошибка 809.\nПерезагрузка не помогла.\n\nПётр Петров"
    )
    assert parsed.charset_problems is False


def test_russian_windows1251_with_rfc2231_attachment_name() -> None:
    parsed = parse("russian_cp1251_attachment.eml")
    assert parsed.subject == "Инвентаризация: список оборудования"  # Q-encoded windows-1251
    assert parsed.from_name == "Мария Сидорова"
    assert parsed.from_address == "sidorova@client.example"
    assert parsed.text.startswith("Коллеги, добрый день!\n\nВо вложении список оборудования")
    (sheet,) = parsed.attachments
    assert sheet.filename == "Список оборудования 3 этаж.xlsx"  # windows-1251, two continuations
    assert sheet.content_type == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert sheet.data.startswith(b"PK\x03\x04")
    assert sheet.inline is False
    assert parsed.charset_problems is False


def test_russian_cp866_subject_and_body() -> None:
    parsed = parse("russian_cp866.eml")
    assert parsed.subject == "Склад: нет связи"
    assert parsed.text == "На складе нет связи с 1С с утра."


def test_wrong_and_unknown_charsets_fall_back_and_are_flagged() -> None:
    parsed = parse("wrong_charset.eml")
    # windows-1251 bytes declared as UTF-8, then KOI8-R bytes declared as "x-unknown"
    assert parsed.text == "Сбросьте, пожалуйста, пароль пользователю Иванов.\n\nЛогин: ivanov"
    assert parsed.charset_problems is True


@pytest.mark.parametrize(
    ("data", "charset", "expected", "problem"),
    [
        ("Привет, мир".encode("cp1251"), "windows-1251", "Привет, мир", False),
        ("Привет, мир".encode("koi8-r"), None, "Привет, мир", True),
        ("Привет, мир".encode("cp866"), "x-unknown", "Привет, мир", True),
        ("Привет, мир".encode(), "us-ascii", "Привет, мир", False),  # valid UTF-8: no loss
        ("Привет, мир".encode(), "x-unknown", "Привет, мир", True),
        ("café".encode("latin-1"), None, "café", True),  # no Russian letters in any guess
        (b"zlib", "zlib", "zlib", True),  # a Python codec that is no charset
        (b"a\x00b\xef\xbb\xbf", "utf-8", "ab", False),  # NUL and BOM dropped
    ],
)
def test_decoding_fallbacks(data: bytes, charset: str | None, expected: str, problem: bool) -> None:
    assert decode_bytes(data, charset) == (expected, problem)


def test_raw_8bit_headers_and_filename() -> None:
    parsed = parse("raw_8bit_headers.eml")
    assert parsed.subject == "Сломался ноутбук"  # raw UTF-8
    assert parsed.from_name == "Завхоз Николай"  # raw windows-1251
    assert names(parsed) == ["фото ноутбука.png"]
    assert parsed.charset_problems is True  # the windows-1251 name was a guess


def test_html_only_message_is_sanitised_and_keeps_its_inline_image() -> None:
    parsed = parse("html_only_hostile.eml")
    for hostile in (
        "<script",
        "alert",
        "onclick",
        "onload",
        "onerror",
        "javascript:",
        "<style",
        "color: red",
    ):
        assert hostile not in parsed.html
    for dropped in ("<iframe", "<form", "<input", "evil.example"):
        assert dropped not in parsed.html
    assert '<img src="cid:logo123@client.example" alt="Client logo">' in parsed.html
    assert 'href="https://portal.client.example/rooms/b"' in parsed.html
    assert parsed.text == (
        "The projector in meeting room B does not turn on.\n\nClick here for details\n\nRoom B on the portal"
    )
    logo, unused = parsed.attachments
    assert (logo.filename, logo.content_type, logo.inline, logo.content_id) == (
        "logo.png",
        "image/png",
        True,
        "logo123@client.example",
    )
    assert logo.data.startswith(b"\x89PNG")
    # a related part whose cid the HTML does not use is an ordinary attachment
    assert (unused.inline, unused.content_id, unused.filename) == (
        False,
        "unused456@client.example",
        "image.png",
    )


def test_alternative_prefers_plain_text_and_keeps_pdf_and_docx() -> None:
    parsed = parse("attachments_pdf_docx.eml")
    assert parsed.text == "Please find the invoice and the reconciliation act attached (plain version)."
    assert parsed.html == (
        "<div>Please find the invoice and the reconciliation act attached (<i>HTML version</i>).</div>"
    )
    pdf, docx = parsed.attachments
    assert (pdf.filename, pdf.content_type, pdf.inline) == ("invoice-2026-11.pdf", "application/pdf", False)
    assert pdf.data == PDF
    assert docx.filename == "Акт сверки.docx"  # RFC 2231 utf-8
    assert docx.content_type == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert docx.data.startswith(b"PK\x03\x04")
    assert b"word/document.xml" in docx.data


def test_forwarded_message_is_an_eml_attachment() -> None:
    parsed = parse("forwarded_rfc822.eml")
    assert parsed.text == "Please see the message below from our supplier: the attachment does not open."
    (forwarded,) = parsed.attachments
    assert forwarded.filename == "Счёт №42 / Invoice 42.eml"
    assert forwarded.content_type == "message/rfc822"
    inner = parse_message(forwarded.data)
    assert inner.subject == "Счёт №42 / Invoice 42"
    assert inner.message_id == "inv42.20261102@supplier.example"
    assert inner.text == "Добрый день! Счёт во вложении."


def test_winmail_dat_is_unpacked() -> None:
    parsed = parse("winmail_tnef.eml")
    assert parsed.text == "See the attached files."  # the MIME text, not the one inside TNEF
    assert names(parsed) == ["report-2026.pdf", "Отчёт за ноябрь.txt"]
    pdf, report = parsed.attachments
    assert (pdf.content_type, pdf.data) == ("application/pdf", PDF)
    assert (report.content_type, report.data) == ("text/plain", "Сервер упал в 10:00.\r\n".encode())
    # the sample's blob is exactly what the writer above produces
    blob = next(
        part.get_payload(decode=True)
        for part in email.message_from_bytes(raw("winmail_tnef.eml")).walk()
        if part.get_content_type() == "application/ms-tnef"
    )
    assert blob == build_tnef("Please see the two files attached.\r\n", TNEF_FILES)


def test_winmail_dat_alone_gives_its_body() -> None:
    blob = build_tnef("The body Outlook kept inside winmail.dat.\r\n", TNEF_FILES[:1])
    parsed = parse_message(with_winmail(blob))
    assert parsed.text == "The body Outlook kept inside winmail.dat."
    assert names(parsed) == ["report-2026.pdf"]


# Outlook's rich-text body (PR_RTF_COMPRESSED). outlook_rtf_body.tnef is a winmail.dat that
# Outlook wrote, from tnefparse's test data (tests/examples/rtf.tnef, LGPL-3.0): its body is
# only compressed RTF. compressed_rtf.compress writes the others (MS-OXRTFCP).
RUSSIAN_RTF = (
    rb"{\rtf1\ansi\ansicpg1251\deff0{\fonttbl{\f0\fswiss\fcharset204 Arial;}}"
    rb"\pard\f0\fs20 \'cf\'f0\'e8\'ed\'f2\'e5\'f0 \'ed\'e0 3 \'fd\'f2\'e0\'e6\'e5 "
    rb"\b \'ed\'e5\b0  \'ef\'e5\'f7\'e0\'f2\'e0\'e5\'f2.\par\par "
    rb"\'d1 \'f3\'e2\'e0\'e6\'e5\'ed\'e8\'e5\'ec,\par \'c8\'e2\'e0\'ed\par}"
)


def test_outlook_rich_text_body_is_read() -> None:
    blob = (SAMPLES / "outlook_rtf_body.tnef").read_bytes()
    parsed = parse_message(with_winmail(blob))
    assert parsed.text.startswith("aafgag'alga'kgk")
    assert "-- Greg\nGreg Allen\nSenior Engineer/QADirector Team\nCompuware Corporation" in parsed.text
    assert "\\par" not in parsed.text and "fonttbl" not in parsed.text
    assert not parsed.attachments  # the winmail.dat gave up all it held


def test_russian_rich_text_body_follows_its_code_page() -> None:
    import compressed_rtf  # type: ignore[import-untyped]

    blob = build_tnef("", TNEF_FILES[:1], rtf=compressed_rtf.compress(RUSSIAN_RTF))
    parsed = parse_message(with_winmail(blob))
    assert parsed.text == "Принтер на 3 этаже не печатает.\n\nС уважением,\nИван"
    assert names(parsed) == ["report-2026.pdf"]


def _rtf_with(raw_size: int | None = None, crc: int | None = None, data: bytes = RUSSIAN_RTF) -> bytes:
    import compressed_rtf

    compressed = bytearray(compressed_rtf.compress(data))
    if raw_size is not None:
        struct.pack_into("<I", compressed, 4, raw_size)
    if crc is not None:
        struct.pack_into("<I", compressed, 12, crc)
    return bytes(compressed)


@pytest.mark.parametrize(
    ("rtf", "limit"),
    [
        pytest.param(_rtf_with(raw_size=2**31), None, id="declares-2GB"),
        pytest.param(_rtf_with(crc=0xDEADBEEF), None, id="bad-crc"),
        pytest.param(b"LZFu", None, id="cut-short"),
        pytest.param(_rtf_with(data=b"plain words, no RTF"), None, id="not-rtf"),
        # declares 100 bytes, yields ~6 KB against a limit of 4 KB
        pytest.param(_rtf_with(raw_size=100, data=RUSSIAN_RTF * 20), 4000, id="yields-more-than-declared"),
    ],
)
def test_a_rich_text_body_that_cannot_be_read_safely_keeps_the_winmail_dat(
    rtf: bytes, limit: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tierdesk.mail import tnef

    if limit is not None:
        monkeypatch.setattr(tnef, "RTF_MAX_BYTES", limit)
    blob = build_tnef("", TNEF_FILES[:1], rtf=rtf)
    started = time.perf_counter()
    parsed = parse_message(with_winmail(blob, text="See the attachment."))
    assert time.perf_counter() - started < 2
    assert parsed.text == "See the attachment."
    (kept,) = parsed.attachments
    assert (kept.filename, kept.data) == ("winmail.dat", blob)  # nothing of the message lost


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(build_tnef("x", TNEF_FILES)[:150], id="truncated"),
        pytest.param(b"\x78\x9f\x3e\x22" + b"\x01" * 64, id="garbage"),
        # 2^32 - 1 MAPI properties in 4 bytes: tnefparse would loop for ~10 minutes
        pytest.param(
            struct.pack("<IH", 0x223E9F78, 1) + _tnef_attribute(1, 6, 0x9003, struct.pack("<I", 2**32 - 1)),
            id="property-count-bomb",
        ),
        # 2^32 - 1 values of a 2-byte property: tnefparse would allocate them all
        pytest.param(
            struct.pack("<IH", 0x223E9F78, 1)
            + _tnef_attribute(1, 6, 0x9003, struct.pack("<IHHI", 1, 0x1002, 0x1234, 2**32 - 1)),
            id="multi-value-bomb",
        ),
    ],
)
def test_unreadable_winmail_dat_is_kept_as_it_is(blob: bytes) -> None:
    started = time.monotonic()
    parsed = parse_message(with_winmail(blob, text="See attached."))
    assert time.monotonic() - started < 2
    (kept,) = parsed.attachments
    assert (kept.filename, kept.content_type, kept.data) == ("winmail.dat", "application/ms-tnef", blob)
    assert parsed.text == "See attached."


def test_out_of_office_in_english() -> None:
    parsed = parse("ooo_english.eml")
    assert parsed.auto_reply == "Auto-Submitted: auto-replied"
    assert parsed.bounce is None
    assert parsed.suppress_auto_responses is True
    assert parsed.in_reply_to == ("td.130.k3j@tierdesk.localhost",)


def test_out_of_office_in_russian_by_subject_alone() -> None:
    parsed = parse("ooo_russian_subject.eml")
    assert parsed.auto_reply == "Subject: Автоответ: Re: [TD-000131] Заявка зарегистрирована"
    assert parsed.suppress_auto_responses is True


@pytest.mark.parametrize(
    ("subject", "headers", "automatic", "suppress"),
    [
        ("Out of Office: Re: [TD-000001] VPN", {}, True, True),
        ("Automatic reply: [TD-000001] VPN", {}, True, True),
        ("Autoreply: printer", {}, True, True),
        ("Автоматический ответ: Re: заявка", {}, True, True),
        ("Нет на месте", {}, True, True),
        ("В отпуске до 16 ноября", {}, True, True),
        ("Отсутствую: заявка", {}, True, True),
        ("Out of office until Monday", {}, True, True),
        # a request that merely starts with the words
        ("Out of office printer does not work", {}, False, False),
        ("В отпуске сломался ноутбук, нужен доступ", {}, False, False),
        # ... unless Exchange marked it as its out-of-office reply
        ("Out of office printer does not work", {"X_Auto_Response_Suppress": "All"}, True, True),
        # Exchange's header alone: a person, who asks not to be auto-answered
        ("Re: printer", {"X_Auto_Response_Suppress": "All"}, False, True),
        ("Re: printer", {"X_Auto_Response_Suppress": "DR, RN"}, False, False),
        ("Hello", {"X_Autoreply": "yes"}, True, True),
        ("Hello", {"X_Autorespond": "yes"}, True, True),
        ("Hello", {"Auto_Submitted": "auto-generated"}, True, True),
        ("Hello", {"Auto_Submitted": "no"}, False, False),
        ("Hello", {"Precedence": "list", "List_Id": "<it.client.example>"}, True, True),
        ("Hello", {"Precedence": "junk"}, True, True),
        ("Hello", {"Return_Path": "<>"}, True, True),
        # a customer writing through a Google Group: a person, but not to be auto-answered
        ("Hello", {"List_Id": "<support.client.example>"}, False, True),
    ],
)
def test_automatic_replies(subject: str, headers: dict[str, str], automatic: bool, suppress: bool) -> None:
    parsed = parse_message(message(Subject=subject, **headers).as_bytes())
    assert bool(parsed.auto_reply) is automatic, parsed.auto_reply
    assert parsed.suppress_auto_responses is suppress


def test_precedence_bulk() -> None:
    parsed = parse("precedence_bulk.eml")
    assert parsed.auto_reply == "Precedence: bulk"
    assert parsed.suppress_auto_responses is True


def test_read_receipt_is_automatic() -> None:
    msg = message(Subject="Read: [TD-000123] VPN")
    msg.replace_header("Content-Type", 'multipart/report; report-type=disposition-notification; boundary="x"')
    msg.set_payload(
        "--x\r\nContent-Type: text/plain\r\n\r\nYour message was read.\r\n--x\r\n"
        "Content-Type: message/disposition-notification\r\n\r\nReporting-UA: mail.client.example\r\n"
        "Final-Recipient: rfc822;anna@client.example\r\nDisposition: manual-action/MDN-sent-manually; "
        "displayed\r\n\r\n--x--\r\n"
    )
    parsed = parse_message(msg.as_bytes())
    assert parsed.auto_reply == "Content-Type: multipart/report; report-type=disposition-notification"
    assert parsed.bounce is None
    assert names(parsed) == ["disposition-notification.txt"]


def test_postfix_bounce() -> None:
    parsed = parse("bounce_postfix.eml")
    assert parsed.bounce is not None
    assert parsed.bounce.failed_recipients == ("ivan.petrov@client.example", "old.account@client.example")
    assert parsed.bounce.status == "5.1.1"
    assert parsed.bounce.permanent is True
    assert parsed.bounce.diagnostic.startswith("550 5.1.1 <ivan.petrov@client.example>: Recipient address")
    assert parsed.bounce.original_message_id == "td.123.abc@tierdesk.localhost"
    # a bounce is reported as such, not as an automatic reply (it carries Auto-Submitted too)
    assert parsed.auto_reply == ""
    assert parsed.suppress_auto_responses is True
    assert names(parsed) == ["delivery-status.txt", "[TD-000123] Your request has been received.eml"]


def test_exchange_bounce() -> None:
    parsed = parse("bounce_exchange.eml")
    assert parsed.bounce is not None
    assert parsed.bounce.failed_recipients == ("maria.sidorova@corp.example",)
    assert parsed.bounce.status == "5.1.10"
    assert parsed.bounce.permanent is True
    assert "RESOLVER.ADR.RecipientNotFound" in parsed.bounce.diagnostic
    assert parsed.bounce.original_message_id == "td.124.xyz@tierdesk.localhost"  # text/rfc822-headers
    assert parsed.auto_reply == ""
    assert parsed.text.startswith("Delivery has failed to these recipients or groups:")


def test_prose_bounce_from_mailer_daemon() -> None:
    parsed = parse("bounce_qmail.eml")
    assert parsed.bounce is not None
    assert parsed.bounce.failed_recipients == ("old.user@legacy.example",)  # not the copy's To
    assert (parsed.bounce.status, parsed.bounce.permanent) == ("5.1.1", True)
    assert parsed.bounce.original_message_id == "td.125.def@tierdesk.localhost"


def test_delayed_delivery_report_is_a_bounce_without_failures() -> None:
    text = raw("bounce_postfix.eml").decode()
    delayed = text.replace("Action: failed", "Action: delayed").replace("Status: 5.", "Status: 4.")
    parsed = parse_message(delayed.encode())
    assert parsed.bounce is not None
    assert parsed.bounce.failed_recipients == ()
    assert (parsed.bounce.status, parsed.bounce.permanent) == ("4.1.1", False)


def test_a_postmaster_writing_in_person_is_no_bounce() -> None:
    parsed = parse_message(
        message("Your server sends us spam, please check.", From="postmaster@client.example").as_bytes()
    )
    assert parsed.bounce is None
    assert parsed.auto_reply == ""


def test_broken_headers_never_crash() -> None:
    parsed = parse("broken_headers.eml")
    assert parsed.from_address == "" and parsed.from_name == ""  # no From: the service decides
    assert parsed.date is None  # garbage Date
    assert parsed.message_id == ""  # garbage Message-ID
    assert parsed.key == "sha256:" + sha(raw("broken_headers.eml"))
    assert parsed.subject == "Сломанный принтер"  # the unterminated encoded word is read
    assert parsed.to == ("support@tierdesk.example",)
    assert parsed.text == "The printer in the hall is broken again."


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (raw("not_a_mail.eml"), "the data is a PNG image"),
        (b"", "it is empty"),
        (b" \r\n\r\n ", "it is empty"),
        (bytes(range(256)) * 4, "does not start with a header field"),
        (b"just some text\nwithout any header\n", "does not start with a header field"),
        (b"Foo: bar\nBaz: qux\n\nbody\n", "none of the usual header fields"),
    ],
)
def test_not_a_mail(data: bytes, reason: str) -> None:
    with pytest.raises(MailParseError, match=r"^not an e-mail message: .*" + re.escape(reason)):
        parse_message(data)


def test_mbox_from_line_is_accepted() -> None:
    parsed = parse_message(b"From anna@client.example Mon Nov  2 09:00:00 2026\n" + raw("plain_request.eml"))
    assert parsed.subject == "Printer on 3rd floor prints blank pages"


def test_key_is_stable_and_distinct() -> None:
    plain = raw("plain_request.eml")
    assert parse_message(plain).key == parse_message(plain).key == "CAF3x7kq1Lm2nR@mail.client.example"
    first = message("one").as_bytes()
    second = message("two").as_bytes()
    assert parse_message(first).key == parse_message(first).key == "sha256:" + sha(first)
    assert parse_message(second).key == "sha256:" + sha(second) != parse_message(first).key


def test_overlong_message_id_is_hashed_into_the_key() -> None:
    long_id = "x" * 300 + "@client.example"
    parsed = parse_message(message(Message_ID=f"<{long_id}>").as_bytes())
    assert parsed.message_id == long_id
    assert parsed.key == "mid-sha256:" + sha(long_id.encode())
    assert len(parsed.key) <= 255


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<abc@host>", "abc@host"),
        ("  <abc@host>\r\n ", "abc@host"),
        ("abc@host", "abc@host"),
        ("<abc@host> (comment)", "abc@host"),
        ("<td.123.abc@tierdesk.localhost>", "td.123.abc@tierdesk.localhost"),
        ("<<this is not an id>>", ""),
        ("<no-at-sign>", ""),
        ("<>", ""),
        ("", ""),
        ("<a b@host>", ""),
        ("<почта@хост>", ""),
    ],
)
def test_normalise_message_id(value: str, expected: str) -> None:
    assert normalise_message_id(value) == expected


def test_references_in_order_without_duplicates_or_garbage() -> None:
    parsed = parse_message(
        b"From: a@client.example\r\nSubject: Re: x\r\nReferences: <a@x> <b@x>\r\n <a@x> <garbage> <c@x>\r\n"
        b"In-Reply-To: <c@x> (John's)\r\n\r\nbody\r\n"
    )
    assert parsed.references == ("a@x", "b@x", "c@x")
    assert parsed.in_reply_to == ("c@x",)


# --- Replies: quoted history and signatures -------------------------------------------------


def test_outlook_reply_in_english() -> None:
    parsed = parse("reply_outlook_en.eml")
    assert parsed.reply_text == (
        "The password prompt is gone after re-creating the profile. You can close the ticket.\n\nIvan"
    )


def test_outlook_reply_in_russian_html() -> None:
    parsed = parse("reply_outlook_ru_html.eml")
    assert "Отправлено: 3 ноября 2026 г. 18:00" in parsed.text
    assert parsed.reply_text == "Спасибо, после перезагрузки всё заработало."
    assert parsed.subject == "RE: [TD-000141] Не печатает принтер"


def test_yandex_reply() -> None:
    assert parse("reply_yandex_ru.eml").reply_text == "Заработало, спасибо!"


def test_mailru_reply() -> None:
    assert (
        parse("reply_mailru_ru.eml").reply_text == "Доступ появился, но только на чтение. Нужна ещё запись."
    )


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        (
            "Thanks!\n\nOn Mon, 2 Nov 2026 at 10:00, X <x@y.example> wrote:\n> old",
            "Thanks!",
        ),
        (
            "Спасибо!\n\nпн, 2 нояб. 2026 г. в 10:00, Иван Петров <ivan@example.ru>:\n> старое",
            "Спасибо!",
        ),
        (
            "Спасибо!\n\n2 ноября 2026 г., 10:00, Иван <ivan@example.ru>:\n> старое",
            "Спасибо!",
        ),
        (
            "Спасибо!\n\n02.11.2026 10:00, Иван Петров пишет:\n> старое",
            "Спасибо!",
        ),
        (
            "Done.\n\n________________________________\nFrom: Support <s@x.example>\n"
            "Sent: Monday, November 2, 2026 10:00\nTo: Ivan\nSubject: VPN\n\nold text",
            "Done.",
        ),
        (
            "Готово.\n\nОт: Служба поддержки <s@x.example>\nДата: 2 ноября 2026 г. 10:00\n"
            "Кому: Иван\nТема: VPN\n\nстарый текст",
            "Готово.",
        ),
        (
            "Готово.\n\n-------- Исходное сообщение --------\nТема: VPN\nстарый текст",
            "Готово.",
        ),
        ("Works now.\n\n> Did it help?\n> -- \n> Support", "Works now."),
        ("Works now.\n\n-- \nAnna\nAccountant", "Works now."),
        ("Works now.\n\nSent from my iPhone", "Works now."),
        ("Работает.\n\nОтправлено с iPhone", "Работает."),
        # inline answers keep the quotes they answer
        (
            "> Is the VPN up?\nNo.\n> And the printer?\nYes.",
            "> Is the VPN up?\nNo.\n> And the printer?\nYes.",
        ),
        # a list is not a signature, a forward is not history
        ("Tried:\n- restart\n- reinstall\nStill broken.", "Tried:\n- restart\n- reinstall\nStill broken."),
        (
            "See below.\n\n---------- Forwarded message ---------\nFrom: Vendor <v@x.example>\nDate: Mon\n"
            "Subject: Invoice\nTo: Anna\n\nThe invoice.",
            None,
        ),
        # nothing new: the whole text rather than nothing
        ("On Mon, 2 Nov 2026 at 10:00, X <x@y.example> wrote:\n> old", None),
        ("The meeting is at 10:00, write to anna@x.example if late.", None),
    ],
)
def test_reply_extraction(text: str, reply: str | None) -> None:
    assert extract_reply(text) == (text if reply is None else reply)


# --- Limits ----------------------------------------------------------------------------------


def multipart(parts: int) -> bytes:
    body = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\npart\r\n" for _ in range(parts))
    return (
        b"From: a@client.example\r\nSubject: parts\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        + body
        + b"--b--\r\n"
    )


def nested(levels: int) -> bytes:
    head = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(levels)
    )
    tail = b"".join(b"\r\n--b%d--\r\n" % i for i in reversed(range(levels)))
    return (
        b"From: a@client.example\r\nSubject: deep\r\n" + head + b"Content-Type: text/plain\r\n\r\nleaf" + tail
    )


def test_message_over_the_size_limit() -> None:
    data = raw("plain_request.eml")
    with pytest.raises(MailParseError, match=r"more than the limit of 100 bytes"):
        parse_message(data, max_bytes=100)
    assert parse_message(data, max_bytes=len(data)).subject
    with pytest.raises(MailParseError, match=rf"more than the limit of {MAX_MESSAGE_BYTES} bytes"):
        parse_message(data + b"x" * MAX_MESSAGE_BYTES)


def test_too_many_parts() -> None:
    assert len(parse_message(multipart(MAX_PARTS - 1)).text) > 0
    with pytest.raises(MailParseError, match=rf"more than {MAX_PARTS} MIME parts"):
        parse_message(multipart(MAX_PARTS + 1))


def test_too_many_parts_is_refused_before_parsing() -> None:
    """300,000 parts took the stdlib parser 63 s; they are counted first."""
    started = time.monotonic()
    with pytest.raises(MailParseError, match="MIME parts"):
        parse_message(multipart(300_000))
    assert time.monotonic() - started < 3


def test_nesting_too_deep() -> None:
    assert parse_message(nested(10)).text == "leaf"
    with pytest.raises(MailParseError, match="nested deeper than 20 levels"):
        parse_message(nested(25))
    with pytest.raises(MailParseError, match="more than 200 MIME parts"):
        parse_message(nested(3000))  # refused by the count of delimiter lines, before parsing
    # message/rfc822 parts need no boundary: deeper than the parser's recursion
    chain = b"Content-Type: message/rfc822\r\n\r\n" * 3000
    with pytest.raises(MailParseError, match="nested deeper than 20 levels"):
        parse_message(b"From: a@client.example\r\nSubject: deep\r\n" + chain + b"Subject: leaf\r\n\r\nleaf")


def test_overlong_mime_header_is_cut_before_parsing() -> None:
    """A 580 KB Content-Type took policy.default 8 s to parse."""
    name = "=?utf-8?b?0J/RgNC40LLQtdGC?= " * 20000
    data = (
        b"From: a@client.example\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        b'Content-Type: application/pdf; name="' + name.encode() + b'"\r\n\r\n%PDF\r\n--b--\r\n'
    )
    started = time.monotonic()
    parsed = parse_message(data)
    assert time.monotonic() - started < 3
    (attachment,) = parsed.attachments
    assert attachment.filename.startswith("ПриветПривет")


def test_large_attachment_round_trips() -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    msg = message("See the dump.")
    msg.add_attachment(data, maintype="application", subtype="octet-stream", filename="dump.bin")
    (attachment,) = parse_message(msg.as_bytes()).attachments
    assert (attachment.filename, attachment.data) == ("dump.bin", data)


def html_message(html: str) -> bytes:
    msg = message()
    msg.set_content(html, subtype="html")
    return msg.as_bytes()


def test_deeply_nested_html_is_not_given_to_the_sanitiser() -> None:
    """1 MB of unclosed <div> took nh3 143 s."""
    started = time.monotonic()
    parsed = parse_message(html_message("<div>" * 200_000 + "the text<script>alert(1)</script>"))
    assert time.monotonic() - started < 5
    assert parsed.html == ""
    assert parsed.html_truncated is True
    assert parsed.text == "the text"


def test_html_tables_and_lists_do_not_blow_up_the_text() -> None:
    """inscriptis pads table rows to the widest cell: 115 KB of table gave 100 MB of text."""
    table = (
        "<table>" + "<tr><td>x</td><td>y</td></tr>" * 5000 + "<tr><td>" + "w" * 20000 + "</td></tr></table>"
    )
    lists = "<ul>" * 100 + "<li>item" * 5000
    parsed = parse_message(html_message(table + lists))
    assert "<table>" in parsed.html  # the displayed HTML keeps its table
    assert parsed.text.startswith("x y\nx y\n")
    assert len(parsed.text) < 300_000


def test_html_budget() -> None:
    parsed = parse_message(html_message("<p>" + "word " * 500_000 + "</p><p>THE END</p>"))
    assert parsed.html_truncated is True
    assert "THE END" not in parsed.text
    assert parsed.text.startswith("word word")


# --- Fuzz: nothing but MailParseError ------------------------------------------------------

SAMPLE_BYTES = {path.name: path.read_bytes() for path in sorted(SAMPLES.glob("*.eml"))}
_INSERTS = [
    b"=?utf-8?B?",
    b"=?x-unknown?Q?=FF?=",
    b"\r\n--",
    b"\r\n\r\n",
    b"<div><table><tr><td>",
    b"Content-Type: multipart/mixed; boundary=x\r\n",
    b"Content-Type: message/rfc822\r\n\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"; filename*0*=x-unknown''%FF",
    b"\x00\xff\xfe",
    b"begin 644 x\r\n",
]


@st.composite
def mutated_samples(draw: st.DrawFn) -> bytes:
    data = bytearray(SAMPLE_BYTES[draw(st.sampled_from(sorted(SAMPLE_BYTES)))])
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(data)))
        operation = draw(st.sampled_from(["replace", "insert", "delete", "duplicate"]))
        if operation == "replace" and data:
            data[min(position, len(data) - 1)] = draw(st.integers(0, 255))
        elif operation == "insert":
            data[position:position] = draw(st.sampled_from(_INSERTS) | st.binary(max_size=16))
        elif operation == "delete":
            del data[position : position + draw(st.integers(1, 64))]
        else:
            data[position:position] = data[position : position + draw(st.integers(1, 256))]
    return bytes(data)


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _parses_or_refuses(data: bytes) -> None:
    try:
        parsed = parse_message(data)
    except MailParseError as exc:
        assert str(exc)
        assert "parser needs fixing" not in str(exc)  # an exception of ours, caught at the top
        return
    assert isinstance(parsed, ParsedMessage)
    assert "\x00" not in parsed.text + parsed.html + parsed.subject + parsed.from_name
    assert len(parsed.key) <= 255
    assert not parsed.text.strip() or parsed.reply_text.strip()


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_raise_only_mail_parse_error(data: bytes) -> None:
    _parses_or_refuses(data)


@FUZZ
@given(mutated_samples())
def test_mutated_samples_raise_only_mail_parse_error(data: bytes) -> None:
    _parses_or_refuses(data)


def test_samples_stay_small() -> None:
    assert all(len(data) < 50_000 for data in SAMPLE_BYTES.values())


def test_encoded_attachment_data_is_decoded() -> None:
    data = "Отчёт: всё в порядке.\n".encode("cp1251")
    msg = message("See attached.")
    msg.add_attachment(data, maintype="text", subtype="plain", filename="report.txt")
    (attachment,) = parse_message(msg.as_bytes()).attachments
    assert attachment.data == data
    assert base64.b64encode(data).decode() in msg.as_string()  # it really was base64 on the wire
