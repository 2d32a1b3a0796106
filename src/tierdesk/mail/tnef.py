"""Outlook's winmail.dat (TNEF, application/ms-tnef): the files and the body inside it.

Unpacked with `tnefparse`, after a walk of the blob's structure that refuses what would make
tnefparse loop without reading (measured: a 30-byte blob declaring 2^32 MAPI properties
keeps it busy for ~10 minutes; one declaring 2^32 values of a fixed-size property allocates
without bound) or copy without end (it copies the rest of the blob for every attribute). A
blob that fails the walk or the unpacking is kept as the winmail.dat attachment it is.

A message written in Outlook's rich text may carry its body only as compressed RTF
(PR_RTF_COMPRESSED, MS-OXRTFCP). It is decompressed with `compressed_rtf` and turned into
plain text with `striprtf` (which follows the RTF's code page, e.g. ``\ansicpg1251``), both
bounded: an RTF that declares or yields more than ``RTF_MAX_BYTES``, or that does not decode,
leaves the winmail.dat as it is, so nothing of the message is lost.
"""

from __future__ import annotations

import logging
import mimetypes
import struct
from dataclasses import dataclass

import compressed_rtf  # type: ignore[import-untyped]
import tnefparse  # type: ignore[import-untyped]
from striprtf.striprtf import rtf_to_text

from tierdesk.mail.decoding import clean_text, codec_for, decode_bytes

SIGNATURE = 0x223E9F78
_MAPI_PROPS = 0x9003
_RECIPIENT_TABLE = 0x9004
_ATTACHMENT = 0x9005
_ATTACH_DATA_OBJECT = 0x3701
_ATTACH_MIME_TAG = 0x370E
_ATTACH_CONTENT_ID = 0x3712
_EMBEDDED_MESSAGE = b"\x07\x03\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"

_FIXED_SIZES = {0x0002: 2, 0x000B: 2, 0x0003: 4, 0x0004: 4, 0x000A: 4, 0x0005: 8, 0x0006: 8}
_FIXED_SIZES |= {0x0007: 8, 0x0014: 8, 0x0040: 8, 0x0048: 16}
_VARIABLE = {0x0000, 0x000D, 0x001E, 0x001F, 0x0102}

MAX_OBJECTS = 5_000
MAX_EMBEDDING = 3
# tnefparse copies the rest of the blob for each attribute: bound the sum of those copies.
MAX_COPIED_BYTES = 1024**3  # ~0.7 s of copying here
# A rich-text body, decompressed. Both libraries are pure Python: ~0.2 s per MB each here. The
# RTF of a body at the limit of common.limits.BODY_MAX_CHARS (100,000 characters) is ~0.3 MB.
RTF_MAX_BYTES = 1024**2
_RTF_HEADER = struct.Struct("<IIII")  # compressed size (after this field), raw size, type, CRC


@dataclass(frozen=True)
class TnefFile:
    filename: str
    content_type: str
    data: bytes
    content_id: str


@dataclass(frozen=True)
class TnefContent:
    files: tuple[TnefFile, ...]
    text: str
    html: str
    charset_problems: bool


class _Unsafe(Exception):
    pass


def _u16(data: bytes, offset: int) -> int:
    if offset + 2 > len(data):
        raise _Unsafe
    return int(struct.unpack_from("<H", data, offset)[0])


def _u32(data: bytes, offset: int) -> int:
    if offset + 4 > len(data):
        raise _Unsafe
    return int(struct.unpack_from("<I", data, offset)[0])


def _check_mapi(data: bytes, offset: int, depth: int, attachment: bool) -> int:
    """Walk a MAPI property list as tnefparse's ``decode_mapi`` does; raise `_Unsafe` where
    a count could make it spin. Returns the offset after the list (tnefparse stops quietly
    where the data ends or a type is unknown, so do we)."""
    size = len(data)
    count = _u32(data, offset)
    offset += 4
    if count > (size - offset) // 8:  # a property takes at least 8 bytes
        raise _Unsafe
    for _ in range(count):
        if offset + 4 > size:
            return offset
        kind, name = _u16(data, offset), _u16(data, offset + 2)
        offset += 4
        if name >= 0x8000:  # a named property: GUID, then an id or a name
            offset += 16
            named = _u32(data, offset)
            offset += 4
            if named == 0:
                offset += 4
            else:
                length = _u32(data, offset)
                offset += 4 + length + (-length % 4)
        multi = None
        if kind & 0x1000:  # a multi-valued property: a count, then the values
            kind ^= 0x1000
            multi = _u32(data, offset)
            offset += 4
            if multi > (size - offset) // 2:
                raise _Unsafe
        for _ in range(multi or 1):
            if kind in _FIXED_SIZES:
                offset += _FIXED_SIZES[kind]
            elif kind in _VARIABLE:
                items = 1
                if not multi:
                    items = _u32(data, offset)
                    offset += 4
                    if items > (size - offset) // 4:
                        raise _Unsafe
                for _ in range(items):
                    length = _u32(data, offset)
                    value = data[offset + 4 : offset + 4 + length]
                    offset += 4 + length + (-length % 4)
                    if attachment and name == _ATTACH_DATA_OBJECT and value.startswith(_EMBEDDED_MESSAGE):
                        _check(value.rstrip(b"\x00")[len(_EMBEDDED_MESSAGE) :], depth + 1)
            else:
                return offset
            if offset > size:
                return offset
        if (multi or 1) % 2 and kind in (0x0002, 0x000B):
            offset += 2
    return offset


def _check(data: bytes, depth: int = 0) -> None:
    """Raise `_Unsafe` unless tnefparse can read ``data`` in time linear in its size."""
    if depth > MAX_EMBEDDING or _u32(data, 0) != SIGNATURE:
        raise _Unsafe
    offset, objects, copied = 6, 0, 0
    while offset + 12 < len(data):
        objects += 1
        copied += len(data) - offset
        if objects > MAX_OBJECTS or copied > MAX_COPIED_BYTES:
            raise _Unsafe
        level, name, length = data[offset], _u16(data, offset + 1), _u32(data, offset + 5)
        body = data[offset + 9 : offset + 9 + length]
        if len(body) < length:
            raise _Unsafe
        if level == 2 and name == _ATTACHMENT:
            _check_mapi(body, 0, depth, attachment=True)
        elif level != 2 and name == _MAPI_PROPS:
            _check_mapi(body, 0, depth, attachment=False)
        elif level != 2 and name == _RECIPIENT_TABLE:
            rows, position = _u32(body, 0), 4
            if rows > len(body) // 4:
                raise _Unsafe
            for _ in range(rows):
                position = _check_mapi(body, position, depth, attachment=False)
        offset += 9 + length + 2
    if offset != len(data):
        raise _Unsafe  # cut short, or followed by garbage: not what Outlook writes


def _text(value: object, codepage: str | None) -> tuple[str, bool]:
    if isinstance(value, str):
        return clean_text(value), False
    if isinstance(value, bytes):
        return decode_bytes(value, codepage)
    return "", False


def _filename(attachment: object) -> str:
    for getter in ("long_filename", "name"):
        try:
            value = getattr(attachment, getter)
            value = value() if callable(value) else value
        except Exception:  # tnefparse decodes names as UTF-8 and raises on anything else
            value = None
        name, _guessed = _text(value, "cp1252")
        name = name.strip().strip("\x00")
        if name:
            return name
    return ""


def _property(attachment: object, name: int) -> str:
    for attribute in getattr(attachment, "mapi_attrs", []):
        if attribute.name == name:
            try:
                value, _guessed = _text(attribute.data, "cp1252")
            except Exception:  # a malformed value is no value
                return ""
            return value.strip().strip("\x00")
    return ""


def _rtf_text(compressed: bytes, codepage: str | None) -> str:
    """The plain text of a compressed RTF body; `_Unsafe` when it is too large or does not
    decode (the caller then keeps the winmail.dat whole)."""
    if len(compressed) < _RTF_HEADER.size:
        raise _Unsafe
    size, raw_size, _kind, _crc = _RTF_HEADER.unpack_from(compressed)
    # tnefparse's reading of binary properties can drop the last byte (Outlook's sample in
    # tests/mail/samples is one short); tnefparse itself appends a zero before decompressing.
    if 0 < size + 4 - len(compressed) <= 3:
        compressed += b"\x00" * (size + 4 - len(compressed))
    # LZFu turns a 2-byte reference into at most 17 output bytes: bound the input as well as
    # the size the header declares, which the data need not honour (~1 s at worst).
    if raw_size > RTF_MAX_BYTES or len(compressed) > RTF_MAX_BYTES // 2:
        raise _Unsafe
    try:
        rtf = compressed_rtf.decompress(compressed)
    except Exception as exc:  # a bad CRC, a bad type, data cut short
        raise _Unsafe from exc
    if not isinstance(rtf, bytes) or len(rtf) > RTF_MAX_BYTES or not rtf.lstrip().startswith(b"{\\rtf"):
        raise _Unsafe
    # RTF is 7-bit text with \'xx escapes in the document's code page, which striprtf reads
    # from \ansicpg and the fonts' \fcharset; Latin-1 keeps any stray 8-bit byte as it is.
    text = rtf_to_text(rtf.rstrip(b"\x00").decode("latin-1"), encoding=codepage or "cp1252", errors="replace")
    return clean_text(text)


def unpack(data: bytes) -> TnefContent | None:
    """The files and body of a TNEF blob, or None when it cannot be read safely."""
    try:
        _check(data)
    except _Unsafe:
        return None
    logging.getLogger("tnefparse").setLevel(logging.CRITICAL)  # it logs every oddity as an error
    try:
        tnef = tnefparse.TNEF(data, do_checksum=False)
        codepage = codec_for(getattr(tnef, "codepage", None))
        files = []
        for index, attachment in enumerate(tnef.attachments, 1):
            content = attachment.data if isinstance(attachment.data, bytes) else b""
            filename = _filename(attachment)
            if not content and not filename:  # a rendering stub, or a blob cut short
                continue
            filename = filename or f"attachment-{index}"
            content_type = (_property(attachment, _ATTACH_MIME_TAG) or "").lower()
            if "/" not in content_type:
                content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
            content_id = _property(attachment, _ATTACH_CONTENT_ID).strip("<>")
            files.append(TnefFile(filename, content_type, content, content_id))
        text, text_guessed = _text(tnef.body, codepage)
        html, html_guessed = _text(tnef.htmlbody, codepage)
        if not text.strip() and not html.strip():
            # tnefparse keeps the compressed RTF apart and would decompress it without bound.
            compressed = getattr(tnef, "_rtfbody", None)
            if compressed:
                text = _rtf_text(compressed, codepage)
    except _Unsafe:
        return None
    except Exception:  # tnefparse raises anything from struct.error to NameError on bad blobs
        return None
    if not files and not text.strip() and not html.strip():
        return None  # nothing came out: the winmail.dat itself is worth more
    return TnefContent(tuple(files), text, html, text_guessed or html_guessed)
