"""An outgoing reply as an RFC 5322 message: threading headers, the case tag, and correctly encoded headers.

Pure: every input is a value (the Message-ID and the date are given, never
made here). Headers are set through ``email.message.EmailMessage`` with
``policy.SMTP`` and ``headerregistry.Address``, never by joining strings, and
every value taken from an inquiry is put on one line first, so a CR or LF in a
name or subject can never start a header of its own.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from pipeline.errors import ReplyError
from pipeline.mail.threads import case_tag
from responders.facts import InquiryFacts
from responders.variables import one_line

_ANY_CASE_TAG = re.compile(r"\s*\[T-\d{1,18}\]", re.IGNORECASE)
_HAS_RE = re.compile(r"^\s*re\s*:", re.IGNORECASE)
_MESSAGE_ID = re.compile(r"^[!-;=?-~]{1,500}$")  # printable ASCII without '<' and '>'
_MAX_REFERENCES = 20
_MAX_SUBJECT = 250
_WORD_JOINER = "\u2060"


def header_text(value: str, limit: int) -> str:
    """A value from an inquiry made safe for a header: one line, and no text the library would decode.

    ``email`` decodes RFC 2047 encoded words in every string it is given, so a
    subject or name containing ``=?utf-8?q?...=0D=0A...?=`` would come back with
    a line break in it and leave as a header of its own. An invisible word
    joiner after ``=`` keeps such text literal (the word is then sent encoded).
    """
    return one_line(value, limit).replace("=?", f"={_WORD_JOINER}?")


@dataclass(frozen=True)
class OutgoingMail:
    """The headers of one outgoing reply, as values."""

    from_address: str
    from_name: str
    to_address: str
    to_name: str
    subject: str
    message_id: str
    date: datetime
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    automatic: bool = False
    language: str | None = None


def new_message_id(key: str, sender: str) -> str:
    """A fresh Message-ID (without angle brackets) for ``key``, in the sender's domain, short enough not to fold."""
    domain = sender.rpartition("@")[2].strip().lower() or "triage.invalid"
    return f"{key}.{secrets.token_hex(8)}@{domain}"


def reply_subject(original: str, inquiry_id: int | None, fallback: str) -> str:
    """``Re: <subject> [T-<id>]``: one line, one ``Re:``, exactly one case tag (this case's)."""
    subject = _ANY_CASE_TAG.sub("", one_line(original, _MAX_SUBJECT)).strip() or one_line(fallback, _MAX_SUBJECT)
    if not _HAS_RE.match(subject):
        subject = f"Re: {subject}"
    return f"{subject} {case_tag(inquiry_id)}" if inquiry_id is not None else subject


def with_case_tag(subject: str, inquiry_id: int | None) -> str:
    """A subject (as edited by staff) on one line, carrying this case's tag and no other."""
    cleaned = _ANY_CASE_TAG.sub("", one_line(subject, _MAX_SUBJECT)).strip()
    return f"{cleaned} {case_tag(inquiry_id)}".strip() if inquiry_id is not None else cleaned


def _valid_id(value: str) -> bool:
    return bool(_MESSAGE_ID.match(value)) and "@" in value


def thread_headers(facts: InquiryFacts) -> tuple[str | None, tuple[str, ...]]:
    """In-Reply-To and References for a reply to this inquiry (Message-IDs without angle brackets).

    References keep the first one and the latest ones when the chain is long.
    """
    parent = facts.message_id if facts.message_id and _valid_id(facts.message_id) else None
    chain = [ref for ref in facts.references if _valid_id(ref)]
    if parent is not None:
        chain.append(parent)
    unique = list(dict.fromkeys(chain))
    if len(unique) > _MAX_REFERENCES:
        unique = [unique[0], *unique[-(_MAX_REFERENCES - 1):]]
    return parent, tuple(unique)


_DOT_ATOM = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_DOMAIN = re.compile(r"^(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_][\w-]*$")


def address_problem(address: str | None) -> str | None:
    """Why a reply could not be sent to this address (a quick check of its form), or None."""
    local, at, domain = (address or "").rpartition("@")
    if not at or not _DOT_ATOM.match(local) or not _DOMAIN.match(domain):
        if local and not local.isascii():
            return f"{address!r} has non-ASCII characters before the @: reply to it by hand"
        return f"{address!r} is not an e-mail address a reply can be sent to"
    return None


def make_address(address: str, name: str = "") -> Address:
    """A header address from an address and a display name; ``ReplyError`` when it cannot be used.

    A domain in another script is written in its ASCII (IDNA) form; a local part
    in another script is refused (it would need SMTPUTF8 end to end).
    """
    addr = one_line(address, 320)
    if not addr or " " in addr or addr.count("@") != 1:
        raise ReplyError(f"{address!r} is not an e-mail address a reply can be sent to")
    local, _, domain = addr.rpartition("@")
    if not local.isascii():
        raise ReplyError(f"{address!r} has non-ASCII characters before the @: reply to it by hand")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ReplyError(f"{address!r} has a domain that cannot be written in ASCII: {exc}") from exc
    try:
        return Address(display_name=header_text(name, 200), addr_spec=f"{local}@{domain}")
    except (ValueError, IndexError, HeaderParseError) as exc:
        raise ReplyError(f"{address!r} is not an e-mail address a reply can be sent to: {exc}") from exc


def compose(mail: OutgoingMail, text: str, html: str | None = None) -> EmailMessage:
    """The reply as an ``EmailMessage``: plain text (and HTML), UTF-8, every header encoded by the library."""
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = make_address(mail.from_address, mail.from_name)
    message["To"] = make_address(mail.to_address, mail.to_name)
    message["Subject"] = header_text(mail.subject, _MAX_SUBJECT * 2)
    message["Date"] = format_datetime(mail.date)
    if not _valid_id(mail.message_id.strip("<>")):
        raise ReplyError(f"{mail.message_id!r} is not a valid Message-ID")
    message["Message-ID"] = f"<{mail.message_id.strip('<>')}>"
    if mail.in_reply_to and _valid_id(mail.in_reply_to):
        message["In-Reply-To"] = f"<{mail.in_reply_to}>"
    references = [ref for ref in mail.references if _valid_id(ref)]
    if references:
        message["References"] = " ".join(f"<{ref}>" for ref in references)
    if mail.automatic:
        message["Auto-Submitted"] = "auto-replied"
        message["X-Auto-Response-Suppress"] = "All"
    for name, value in message.items():
        if "\r" in str(value) or "\n" in str(value):  # never reached; a last guard against injection
            raise ReplyError(f"the {name} header would contain a line break: not sent")
    message.set_content(text, charset="utf-8", cte="quoted-printable")
    if html is not None:
        message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    if mail.language:  # after the content: setting the content clears every Content-* header
        message["Content-Language"] = one_line(mail.language, 20)
    return message


def message_bytes(message: EmailMessage) -> bytes:
    """The message as sent: CRLF line ends, every header folded and encoded in ASCII."""
    return message.as_bytes(policy=policy.SMTP)
