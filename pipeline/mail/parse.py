"""Parse the bytes of one message into a ``ParsedMessage``: a pure function, no I/O.

Python's email package with ``policy.default`` does the MIME work; some real
headers make it raise only when they are read, so every header read falls back
to ``compat32`` and a whole message that still fails is parsed again under
``compat32``. Bytes that are not mail raise ``ParseError`` carrying a quarantine reason code
(the caller quarantines them under it).
"""

from __future__ import annotations

import email.header
import email.utils
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email import policy as email_policy
from email.policy import EmailPolicy
from email.message import Message
from email.parser import BytesParser
from typing import Any

from pipeline.config import IngestSettings
from pipeline.errors import ParseError
from pipeline.mail.automation import detect_automation
from pipeline.mail.model import Address, Attachment, ParsedMessage, ReplyParts
from pipeline.mail.quotes import split_reply
from pipeline.mail.text import clean_text, decode_bytes, html_to_text
from pipeline.mail.threads import normalise_subject, parse_message_ids, thread_key
from pipeline.quarantine import QuarantineReason


@dataclass(frozen=True)
class ParseLimits:
    """Sizes past which a message is refused or an attachment is only described."""

    max_message_bytes: int = 25 * 1024 * 1024
    max_attachment_bytes: int = 10 * 1024 * 1024
    max_text_chars: int = 200_000
    max_parts: int = 500


_KNOWN_HEADERS = frozenset(
    b"from to cc subject date message-id received return-path mime-version content-type reply-to sender "
    b"in-reply-to references delivered-to x-mailer user-agent".split()
)
_HEADER_LINE = re.compile(rb"^([!-9;-~]{1,76})[ \t]*:")
_BODY_SPLIT = re.compile(rb"\r?\n\r?\n")
_FROM_ESCAPE = re.compile(rb"^>+(From )", re.MULTILINE)
_TRAILING_WS = re.compile(rb"[ \t\r]+$", re.MULTILINE)
_ESSENTIAL_HEADERS = ("from", "to", "cc", "subject", "date")
_MAX_HEADERS_KEPT = 200
_MAX_HEADER_CHARS = 2000


def _strip_mbox_line(raw: bytes) -> bytes:
    if raw.startswith(b"From "):
        newline = raw.find(b"\n")
        return raw[newline + 1 :] if newline != -1 else b""
    return raw


def _check_looks_like_mail(raw: bytes) -> None:
    """Raise ParseError unless ``raw`` starts with an RFC 5322 header block."""
    if not raw.strip():
        raise ParseError("empty message: the file holds no bytes", code=QuarantineReason.EMPTY)
    head = _BODY_SPLIT.split(raw[:65536], maxsplit=1)[0]
    if head.count(b"\x00") > max(2, len(head) // 100):
        raise ParseError("not an email message: binary data (NUL bytes) in the header block",
                         code=QuarantineReason.UNREADABLE_BYTES)
    lines = head.splitlines()
    first = next((line for line in lines if line.strip()), b"")
    if not _HEADER_LINE.match(first):
        if b"\x00" in raw[:1024]:
            raise ParseError("not an email message: binary data, no header block", code=QuarantineReason.UNREADABLE_BYTES)
        raise ParseError("not an email message: the first line is not a header (Name: value)",
                         code=QuarantineReason.NOT_EMAIL)
    names = {m.group(1).lower() for line in lines if (m := _HEADER_LINE.match(line))}
    if not names & _KNOWN_HEADERS:
        raise ParseError("not an email message: none of From, To, Subject, Date, Message-ID among its headers",
                         code=QuarantineReason.NOT_EMAIL)


def fingerprint(raw: bytes, message_id: str | None, essentials: list[str]) -> str:
    """The dedupe key: the same message seen through different sources gets the same fingerprint.

    Built from the Message-ID, the sender/recipients/subject/date as written and
    the body with line endings, trailing spaces and mbox ``>From`` escaping
    normalised, so trace headers added in transit (Received, Delivered-To,
    Status...) do not matter, and a Message-ID reused for other content does.
    """
    parts = _BODY_SPLIT.split(raw, maxsplit=1)
    body = parts[1] if len(parts) > 1 else b""
    body = _FROM_ESCAPE.sub(rb"\1", _TRAILING_WS.sub(b"", body.replace(b"\r\n", b"\n"))).rstrip(b"\n")
    digest = hashlib.sha256()
    digest.update((message_id or "").encode("utf-8", "surrogateescape"))
    for value in essentials:
        digest.update(b"\x00" + " ".join(value.split()).encode("utf-8", "surrogateescape"))
    digest.update(b"\x00\x00")
    digest.update(body)
    return digest.hexdigest()


def _decode_rfc2047(value: str) -> str:
    """Decode encoded-words leniently, whatever charset they claim."""
    try:
        chunks = email.header.decode_header(value)
    except Exception:  # the stdlib raises several types on malformed encoded-words
        return clean_text(value)
    out = []
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            out.append(decode_bytes(chunk, charset)[0])
        else:
            out.append(chunk)
    text = "".join(out) if any(c for _, c in chunks) else " ".join(out)
    return clean_text(text)


class _RawHeaderPolicy(EmailPolicy):
    """``policy.default`` for parsing, but header values are read as raw text.

    policy.default builds a structured header object on every read: that is
    most of its cost, and some malformed headers raise only then. Values are
    decoded here instead (RFC 2047, 8-bit, addresses) with the lenient
    ``compat32``-era helpers, which never raise.
    """

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        if hasattr(value, "name"):
            return value
        return "".join(_LINESEP.split(value))


_LINESEP = re.compile(r"\r\n|\r|\n")
_DEFAULT_POLICY = _RawHeaderPolicy()


def _decode_header_value(raw: str) -> str:
    value = " ".join(_LINESEP.sub(" ", raw).split())
    if "=?" in value:
        return _decode_rfc2047(value)
    return clean_text(value)


class _HeaderReader:
    """Decoded header values that never raise, from the raw values the parser kept."""

    def __init__(self, message: Message) -> None:
        self.message = message
        self.defects: list[str] = []
        self.first: dict[str, str] = {}
        for key, value in message.raw_items():
            self.first.setdefault(key.lower(), value if isinstance(value, str) else str(value))

    def raw(self, name: str) -> str | None:
        return self.first.get(name.lower())

    def get(self, name: str) -> str | None:
        raw = self.raw(name)
        return None if raw is None else _decode_header_value(raw)

    def addresses(self, name: str) -> tuple[Address, ...]:
        raw = self.raw(name)
        if raw is None:
            return ()
        unfolded = " ".join(_LINESEP.sub(" ", raw).split())
        try:
            pairs = email.utils.getaddresses([unfolded])
        except Exception:  # getaddresses has raised on hostile input in some Python versions
            self.defects.append(f"header {name}: unparseable addresses")
            return ()
        found = []
        for display, address in pairs:
            display = _decode_header_value(display).strip().strip('"').strip()
            address = clean_text(address).strip().lower()
            if display or address:
                found.append(Address(display[:500], address[:500]))
        return tuple(found)

    def date(self) -> datetime | None:
        raw = self.raw("Date")
        if raw is None:
            return None
        try:
            parsed = email.utils.parsedate_to_datetime(" ".join(raw.split()))
        except (TypeError, ValueError, IndexError, OverflowError):
            self.defects.append("header Date: unparseable")
            return None
        if parsed is None:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        try:
            return parsed.astimezone(timezone.utc)
        except (OverflowError, ValueError):
            return None


def _safe(call: Any, default: Any) -> Any:
    try:
        return call()
    except Exception:  # malformed MIME parameters raise from deep inside the stdlib
        return default


def _part_bytes(part: Message) -> bytes:
    payload = _safe(lambda: part.get_payload(decode=True), None)
    if isinstance(payload, bytes):
        return payload
    raw = _safe(lambda: part.get_payload(), "")
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def _encoded_size(part: Message) -> int:
    raw = _safe(lambda: part.get_payload(), "")
    if not isinstance(raw, str):
        return 0
    cte = str(_safe(lambda: part.get("Content-Transfer-Encoding", ""), "")).strip().lower()
    return len(raw) * 3 // 4 if cte == "base64" else len(raw)


class _Body:
    def __init__(self, limits: ParseLimits) -> None:
        self.limits = limits
        self.plain: list[str] = []
        self.html: list[str] = []
        self.attachments: list[Attachment] = []
        self.forwarded: list[str] = []
        self.fallbacks: list[str] = []
        self.parts_seen = 0

    def decode_text(self, part: Message) -> str:
        data = _part_bytes(part)
        charset = _safe(lambda: part.get_content_charset(), None)
        text, used, fell_back = decode_bytes(data, charset)
        if fell_back:
            self.fallbacks.append(f"{charset or 'none'}->{used}")
        return text[: self.limits.max_text_chars * 2]

    def add_attachment(self, part: Message, content_type: str, disposition: str) -> None:
        filename = _safe(lambda: part.get_filename(), None)
        if filename is not None:
            filename = clean_text(_decode_rfc2047(str(filename)))[:255]
        content_id = _safe(lambda: part.get("Content-ID"), None)
        estimated = _encoded_size(part)
        if estimated > self.limits.max_attachment_bytes:
            self.attachments.append(
                Attachment(filename, content_type, estimated, None, disposition, _str_or_none(content_id), True)
            )
            return
        data = _part_bytes(part)
        self.attachments.append(
            Attachment(
                filename,
                content_type,
                len(data),
                hashlib.sha256(data).hexdigest(),
                disposition,
                _str_or_none(content_id),
            )
        )

    def walk(self, part: Message, depth: int = 0) -> None:
        self.parts_seen += 1
        if self.parts_seen > self.limits.max_parts or depth > 30:
            return
        content_type = _safe(lambda: part.get_content_type(), "text/plain")
        disposition = _safe(lambda: part.get_content_disposition(), None)
        if content_type in ("message/rfc822", "message/global") and disposition != "attachment":
            self.add_attachment(part, content_type, disposition or "inline")
            inner = _safe(lambda: part.get_payload(), None)
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                self.forwarded.append(_forwarded_summary(inner[0], self.limits))
            return
        if part.is_multipart():
            children = _safe(lambda: part.get_payload(), [])
            for child in children if isinstance(children, list) else []:
                if isinstance(child, Message):
                    self.walk(child, depth + 1)
            return
        filename = _safe(lambda: part.get_filename(), None)
        if content_type in ("text/plain", "text/html") and disposition != "attachment" and not (
            filename and disposition == "inline" and content_type != "text/plain"
        ):
            text = self.decode_text(part)
            (self.plain if content_type == "text/plain" else self.html).append(text)
            return
        self.add_attachment(part, content_type, disposition or ("inline" if not filename else "attachment"))


def _str_or_none(value: Any) -> str | None:
    return None if value is None else clean_text(str(value))[:500]


def _forwarded_summary(inner: Message, limits: ParseLimits) -> str:
    reader = _HeaderReader(inner)
    body = _Body(limits)
    body.walk(inner)
    text = "\n".join(body.plain) if body.plain else html_to_text("\n".join(body.html), limits.max_text_chars)
    header_lines = [f"{name}: {value}" for name in ("From", "Date", "Subject") if (value := reader.get(name))]
    return "\n".join(header_lines + ["", text]).strip()


def _parse_with(raw: bytes, raw_sha256: str, policy: Any, limits: ParseLimits) -> ParsedMessage:
    message = BytesParser(policy=policy).parsebytes(raw)
    headers = _HeaderReader(message)
    message_id_list = parse_message_ids(headers.get("Message-ID"))
    message_id = message_id_list[0] if message_id_list else None
    in_reply_to = parse_message_ids(headers.get("In-Reply-To"))
    references = parse_message_ids(headers.get("References"))
    subject = headers.get("Subject") or ""
    senders = headers.addresses("From")
    sender = senders[0] if senders else None
    reply_tos = headers.addresses("Reply-To")
    return_path = headers.get("Return-Path")
    content_type = clean_text(_safe(lambda: message.get_content_type(), "text/plain"))[:200]
    report_type = _safe(lambda: message.get_param("report-type"), None)

    body = _Body(limits)
    body.walk(message)
    html = "\n".join(body.html) if body.html else None
    if body.plain:
        text = "\n\n".join(t.strip("\n") for t in body.plain)
    elif html is not None:
        text = html_to_text(html, limits.max_text_chars)
    else:
        text = ""
    text = text[: limits.max_text_chars]
    parts = split_reply(text)
    if body.forwarded:
        forwarded = "\n\n".join(filter(None, [parts.forwarded_text, *body.forwarded]))
        parts = ReplyParts(parts.new_text, parts.quoted_text, parts.signature, forwarded)

    automation = detect_automation(
        headers.get,
        content_type,
        str(report_type) if report_type else None,
        subject,
        sender.address if sender else None,
        return_path,
    )
    raw_items = [(k, v if isinstance(v, str) else str(v)) for k, v in message.raw_items()]
    essentials = [headers.raw(name) or "" for name in _ESSENTIAL_HEADERS]
    defects = [type(d).__name__ for d in getattr(message, "defects", [])][:50] + headers.defects[:50]
    return ParsedMessage(
        fingerprint=fingerprint(raw, message_id, essentials),
        raw_sha256=raw_sha256,
        size=len(raw),
        message_id=message_id,
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=references[:100],
        thread_key=thread_key(message_id, in_reply_to, references, subject),
        subject=subject[:1000],
        normalised_subject=normalise_subject(subject)[:1000],
        sender=sender,
        reply_to=reply_tos[0] if reply_tos else None,
        to=headers.addresses("To")[:200],
        cc=headers.addresses("Cc")[:200],
        date=headers.date(),
        return_path=return_path,
        content_type=content_type,
        text=text,
        parts=parts,
        html=html[: limits.max_text_chars * 5] if html is not None else None,
        attachments=tuple(body.attachments),
        automation=automation,
        defects=tuple(defects),
        charset_fallbacks=tuple(body.fallbacks),
        used_compat_policy=policy is email_policy.compat32,
        headers=tuple(
            (clean_text(k)[:200], clean_text(v.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))[:_MAX_HEADER_CHARS])
            for k, v in raw_items[:_MAX_HEADERS_KEPT]
        ),
    )


def parse_message(raw: bytes, limits: ParseLimits | None = None) -> ParsedMessage:
    """Parse one message; raise ``ParseError`` with the reason when it cannot be used."""
    limits = limits or ParseLimits()
    if len(raw) > limits.max_message_bytes:
        raise ParseError(f"message too large: {len(raw)} bytes, the limit is {limits.max_message_bytes}",
                         code=QuarantineReason.TOO_LARGE)
    original_sha256 = hashlib.sha256(raw).hexdigest()
    raw = _strip_mbox_line(raw.removeprefix(b"\xef\xbb\xbf"))
    _check_looks_like_mail(raw)
    try:
        return _parse_with(raw, original_sha256, _DEFAULT_POLICY, limits)
    except RecursionError as exc:
        raise ParseError("message nested too deeply to parse", code=QuarantineReason.TOO_DEEPLY_NESTED) from exc
    except Exception as first:  # the stdlib's failures on broken MIME are not one type
        try:
            return _parse_with(raw, original_sha256, email_policy.compat32, limits)
        except Exception as exc:
            raise ParseError(f"cannot parse message: {type(first).__name__}: {first}"[:500],
                             code=QuarantineReason.UNPARSEABLE_MIME) from exc


def parse_limits_for(ingest: IngestSettings) -> ParseLimits:
    """Parsing limits from the ingest settings (also for commands that open no database)."""
    return ParseLimits(
        max_message_bytes=ingest.max_message_bytes,
        max_attachment_bytes=ingest.max_attachment_bytes,
        max_text_chars=ingest.max_text_chars,
    )
