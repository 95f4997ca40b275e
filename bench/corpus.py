"""Varied benchmark messages: real-world shapes from ../shared/corpus plus generated inquiries."""

from __future__ import annotations

import random
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REAL_MAIL = ROOT.parent / "shared" / "corpus" / "real-mail"

_SENTENCES = [
    "Could you tell us the renewal fee for DM/212 345?",
    "Nous avons reçu une notification d'irrégularité pour la demande HA12345678.",
    "¿Cuál es el plazo para responder a la denegación de protección?",
    "The holder's name is misspelt on the certificate.",
    "Merci de nous indiquer la date de publication au Bulletin.",
    "We paid CHF 1,234.50 on 15 March 2025 but no receipt arrived.",
    "El portal da un error al subir las reproducciones.",
    "Please find attached the priority document for our application.",
    "Pourriez-vous confirmer la réception du paiement de 300 EUR ?",
    "Our client would like to record a change of ownership.",
]


def _generated(n: int, rng: random.Random) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Sender {n} <sender{n % 997}@client{n % 37}.example.com>"
    msg["To"] = "helpdesk@registry.example.org"
    msg["Subject"] = rng.choice(["Question", "Renouvellement DM/2{:05d}", "Tasa", "Re: your letter"]).format(n)
    msg["Date"] = format_datetime(datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=n))
    msg["Message-ID"] = f"<bench-gen-{n}@example.com>"
    if n % 5 == 0:
        msg["In-Reply-To"] = f"<bench-gen-{n - 5}@example.com>"
        msg["References"] = f"<bench-gen-{n - 5}@example.com>"
    body = "\n".join(rng.choice(_SENTENCES) for _ in range(rng.randint(2, 40)))
    body += "\n\nKind regards,\nSender\n\nOn Mon, 2 Mar 2026, Desk wrote:\n> " + "\n> ".join(_SENTENCES[:4])
    kind = n % 4
    if kind == 0:
        msg.set_content(body)
    elif kind == 1:
        html = "<html><body>" + "".join(f"<p>{line}</p>" for line in body.split("\n")) + "</body></html>"
        msg.set_content(html, subtype="html")
    elif kind == 2:
        msg.set_content(body, charset="iso-8859-1" if body.isascii() is False else "utf-8", cte="quoted-printable")
    else:
        msg.set_content(body)
        msg.add_attachment(rng.randbytes(rng.randint(1_000, 60_000)), maintype="application", subtype="pdf",
                           filename=f"document-{n}.pdf")
    return bytes(msg)


def varied_messages(count: int, seed: int = 7) -> Iterator[bytes]:
    """``count`` distinct messages: every 4th a real-world one (given a unique Message-ID), the rest generated."""
    rng = random.Random(seed)
    real = [p.read_bytes() for p in sorted(REAL_MAIL.glob("*.eml")) if p.stat().st_size < 300_000]
    for n in range(count):
        if real and n % 4 == 3:
            raw = real[(n // 4) % len(real)]
            yield f"Message-ID: <bench-real-{n}@example.com>\n".encode() + raw.lstrip(b"\xef\xbb\xbf")
        else:
            yield _generated(n, rng)


def write_mbox(path: Path, count: int) -> int:
    """Write ``count`` varied messages to an mbox file (mboxo escaping); return its size in bytes."""
    with path.open("wb") as out:
        for raw in varied_messages(count):
            raw = raw.replace(b"\r\n", b"\n")
            lines = raw.split(b"\n")
            if lines and lines[0].startswith(b"From "):
                lines = lines[1:]
            escaped = b"\n".join(b">" + line if line.startswith(b"From ") else line for line in lines)
            out.write(b"From bench@example.com Thu Jan  1 00:00:00 2026\n" + escaped.rstrip(b"\n") + b"\n\n")
    return path.stat().st_size
