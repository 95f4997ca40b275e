"""Realistic raw messages built from the labelled corpus, for the benchmarks.

Each example becomes mail in one of several shapes seen at a help desk: plain
text, HTML only, a reply above a quote in another language, a forward with a
one-line note, a short note; a few messages are empty, attachment-only or
binary garbage (their expected language is ``und``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime, timedelta, timezone
from html import escape

from classifiers.corpus import Example

_QUOTES = {
    "en": "On Mon, 3 Nov 2025 at 10:02, Help Desk <helpdesk@registry.example.org> wrote:",
    "fr": "Le lun. 3 nov. 2025 à 10:02, Help Desk <helpdesk@registry.example.org> a écrit :",
    "es": "El lun, 3 nov 2025 a las 10:02, Help Desk <helpdesk@registry.example.org> escribió:",
}
_FORWARD_NOTES = {"en": "Please see the message below from our client.", "fr": "Veuillez voir le message ci-dessous de notre client.",
                  "es": "Les reenvío el mensaje de nuestro cliente, véanlo abajo por favor."}
_OFFICE_TEXT = {
    "en": "Dear Sir or Madam,\nThank you for your message. Your request has been registered and will be handled shortly.",
    "fr": "Madame, Monsieur,\nNous vous remercions de votre message. Votre demande a été enregistrée et sera traitée rapidement.",
    "es": "Estimado/a señor/a:\nGracias por su mensaje. Su solicitud ha sido registrada y se tramitará en breve.",
}
SHAPES = ("plain", "plain", "html", "reply", "forward", "short")


def _base(example: Example, index: int, when: datetime) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Sender {index} <sender{index}@client{index % 97}.example.com>"
    message["To"] = "Help Desk <helpdesk@registry.example.org>"
    message["Subject"] = example.subject
    message["Date"] = format_datetime(when)
    message["Message-ID"] = make_msgid(idstring=str(index), domain="bench.example")
    return message


def shaped_message(example: Example, shape: str, index: int, rng: random.Random) -> bytes:
    """One example as raw mail of the given shape."""
    when = datetime(2025, 11, 3, 9, tzinfo=timezone.utc) + timedelta(minutes=index)
    message = _base(example, index, when)
    body = example.body
    if shape == "html":
        paragraphs = "".join(f"<p>{escape(p).replace(chr(10), '<br>')}</p>" for p in body.split("\n\n"))
        message.set_content(f"<html><body>{paragraphs}</body></html>", subtype="html")
    elif shape == "reply":
        other = rng.choice([code for code in _OFFICE_TEXT if code != example.language] or ["en"])
        quoted = "\n".join("> " + line for line in _OFFICE_TEXT[other].splitlines())
        message.replace_header("Subject", "Re: " + example.subject)
        message.set_content(f"{body}\n\n{_QUOTES[other]}\n{quoted}\n")
    elif shape == "forward" and example.language in _FORWARD_NOTES:
        message.replace_header("Subject", "Fwd: " + example.subject)
        note = _FORWARD_NOTES[example.language]
        message.set_content(f"{note}\n\n---------- Forwarded message ---------\nFrom: Client <c@x.example>\n"
                            f"Subject: {example.subject}\n\n{body}\n")
    elif shape == "short":
        first = next((line for line in body.splitlines() if len(line.split()) >= 3), body)
        message.set_content(first + "\n")
    else:
        message.set_content(body + "\n")
    return bytes(message)


def odd_message(kind: str, index: int, rng: random.Random) -> bytes:
    """An empty, attachment-only or garbage message (nothing in it tells a language)."""
    message = EmailMessage()
    message["From"] = f"Odd {index} <odd{index}@example.net>"
    message["To"] = "helpdesk@registry.example.org"
    message["Subject"] = "" if kind != "attachment" else "DM/212 345"
    message["Message-ID"] = make_msgid(idstring=f"odd{index}", domain="bench.example")
    if kind == "attachment":
        message.set_content("")
        message.add_attachment(rng.randbytes(2048), maintype="application", subtype="pdf", filename="scan.pdf")
    elif kind == "garbage":  # binary bytes declared as UTF-8 text
        head = "".join(f"{name}: {value}\r\n" for name, value in message.items())
        return (head + "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode() \
            + rng.randbytes(3000)
    else:
        message.set_content("\n")
    return bytes(message)


def build_messages(examples: Sequence[Example], count: int, seed: int = 7) -> list[tuple[bytes, str]]:
    """``count`` raw messages with their expected language, cycling through the examples and shapes."""
    rng = random.Random(seed)
    out: list[tuple[bytes, str]] = []
    index = 0
    while len(out) < count:
        for example in examples:
            if len(out) >= count:
                break
            index += 1
            if index % 100 == 0:
                kind = ("empty", "attachment", "garbage")[(index // 100) % 3]
                out.append((odd_message(kind, index, rng), "und"))
                continue
            shape = SHAPES[index % len(SHAPES)] if example.language in _OFFICE_TEXT else "plain"
            out.append((shaped_message(example, shape, index, rng), example.language))
    return out
