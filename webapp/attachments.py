"""An attachment's bytes, taken again from the raw message kept in ``raw_blobs`` (pure: bytes in, bytes out).

Parsing stored each attachment's position, type, size and SHA-256, not its
bytes. Here the raw message is parsed again and the part is found by its
SHA-256 (or, for an attachment too large to be hashed, by its position among
the parts of the same type and name).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from email import policy as email_policy
from email.message import Message
from email.parser import BytesParser
from urllib.parse import quote

from webapp.errors import NotFound

_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_MAX_PARTS = 500


@dataclass(frozen=True)
class Wanted:
    """What is known of the attachment sought."""

    position: int
    filename: str | None
    content_type: str
    sha256: str | None
    ordinal: int = 0  # among the stored attachments of the same type and name


def _payload(part: Message) -> bytes:
    if part.get_content_type() in ("message/rfc822", "message/global"):
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            return inner[0].as_bytes(policy=email_policy.compat32)
    try:
        data = part.get_payload(decode=True)
    except Exception:  # broken transfer encodings raise from inside the stdlib
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


def _leaves(message: Message) -> list[Message]:
    found: list[Message] = []
    stack = [message]
    while stack and len(found) < _MAX_PARTS:
        part = stack.pop()
        if part.get_content_type() in ("message/rfc822", "message/global"):
            found.append(part)
        elif part.is_multipart():
            children = part.get_payload()
            parts = [c for c in children if isinstance(c, Message)] if isinstance(children, list) else []
            stack.extend(reversed(parts))
        else:
            found.append(part)
    return found


def extract_attachment(raw: bytes, wanted: Wanted) -> bytes:
    """The decoded bytes of the attachment; ``NotFound`` when the raw message does not hold it."""
    message = BytesParser(policy=email_policy.compat32).parsebytes(raw)
    leaves = _leaves(message)
    if wanted.sha256:
        for part in leaves:
            data = _payload(part)
            if hashlib.sha256(data).hexdigest() == wanted.sha256:
                return data
    same_kind = [p for p in leaves
                 if p.get_content_type() == wanted.content_type and p.get_filename() == wanted.filename]
    if wanted.sha256 is None and 0 <= wanted.ordinal < len(same_kind):
        return _payload(same_kind[wanted.ordinal])
    raise NotFound("the attachment is not in the stored message")


def safe_content_type(content_type: str) -> str:
    """The attachment's declared type when it is well formed, else ``application/octet-stream``."""
    value = content_type.strip().lower()
    return value if _CONTENT_TYPE.match(value) else "application/octet-stream"


INERT_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "application/pdf",
                         "text/plain"})


def served_content_type(content_type: str) -> str:
    """The type an attachment is served with: its own when inert (images, PDF, plain text), else
    ``application/octet-stream``, so that nothing from a mail can run as script or markup from our origin."""
    value = safe_content_type(content_type)
    return value if value in INERT_TYPES else "application/octet-stream"


def content_disposition(filename: str | None, fallback: str) -> str:
    """``attachment`` with an ASCII name and the exact one in RFC 5987 form: never inline, never injectable."""
    name = (filename or fallback).replace("\\", "_").replace("/", "_")
    name = "".join(ch for ch in name if ch.isprintable())[:200] or fallback
    ascii_name = re.sub(r'[^A-Za-z0-9._ -]', "_", name).strip() or fallback
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
