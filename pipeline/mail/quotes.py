"""Split the text of a message into new text, quoted history, signature and forwarded content."""

from __future__ import annotations

import re

from pipeline.mail.model import ReplyParts

_FORWARD_MARKERS = re.compile(
    r"^\s*(?:"
    r"-+\s*(?:forwarded message|message transf[ée]r[ée]|mensaje reenviado|weitergeleitete nachricht"
    r"|messaggio inoltrato|mensagem encaminhada)\s*-+"
    r"|begin forwarded message\s*:?"
    r"|d[ée]but du message r[ée]exp[ée]di[ée]\s*:?"
    r"|inicio del mensaje reenviado\s*:?"
    r")\s*$",
    re.IGNORECASE,
)

_ORIGINAL_MARKERS = re.compile(
    r"^\s*-{2,}\s*(?:original message|message d'origine|mensaje original|urspr[üu]ngliche nachricht"
    r"|messaggio originale|mensagem original)\s*-{2,}\s*$",
    re.IGNORECASE,
)

# "On Mon, 3 Mar 2025 at 10:02, Jane <j@x.org> wrote:" and its French, Spanish, German forms;
# clients wrap it over two lines, so the prefixed forms are also matched on a line joined with the next.
_ATTRIBUTION_PREFIXED = re.compile(
    r"^\s*(?:-+\s*)?(?:"
    r"on\b.{4,200}\bwrote\s*:"
    r"|le\b.{4,200}\ba\s+[ée]crit\s*:"
    r"|el\b.{4,200}\bescribi[óo]\s*:"
    r"|am\b.{4,200}\bschrieb\b.{0,100}:"
    r"|il\b.{4,200}\bha scritto\s*:"
    r"|em\b.{4,200}\bescreveu\s*:"
    r")\s*$",
    re.IGNORECASE,
)
_ATTRIBUTION_ANY = re.compile(r"^\s*[^>\s].{0,160}\b(?:wrote|a [ée]crit|escribi[óo])\s*:\s*$", re.IGNORECASE)

# Outlook's header block: "From: ..." then "Sent:"/"Date:"/"To:"/"Subject:" lines.
_HEADER_FROM = re.compile(r"^\s*\*?(?:from|de|von|da)\s*\*?\s*:\s*\S", re.IGNORECASE)
_HEADER_OTHER = re.compile(
    r"^\s*\*?(?:sent|date|to|subject|cc|envoy[ée](?: le)?|[àa]|objet|enviado(?: el)?|fecha|para|asunto"
    r"|gesendet|an|betreff|inviato|oggetto)\s*\*?\s*:",
    re.IGNORECASE,
)

_SIGNATURE_DELIMITER = re.compile(r"^(?:--|-- |__+|—)\s*$")
_MOBILE_SIGNATURE = re.compile(
    r"^\s*(?:sent from my|sent from (?:outlook|mail|yahoo)|get outlook for|envoy[ée] (?:de|depuis) mon"
    r"|enviado desde mi|von meinem .* gesendet|inviato da)\b",
    re.IGNORECASE,
)
_VALEDICTION = re.compile(
    r"^\s*(?:"
    r"(?:best|kind|warm|warmest|many thanks and|with best|with kind)?\s*regards"
    r"|best(?: wishes)?|cheers|thanks(?: again| in advance| a lot)?|thank you(?: in advance| very much)?|many thanks"
    r"|sincerely(?: yours)?|yours (?:sincerely|faithfully|truly)|respectfully|br|rgds"
    r"|(?:bien |tr[eè]s )?cordialement|bien [àa] vous|salutations(?: distingu[ée]es)?|meilleures salutations"
    r"|sinc[eè]res salutations|merci(?: d'avance| beaucoup| par avance)?|avec mes remerciements|amicalement"
    r"|bonne (?:journ[ée]e|soir[ée]e)"
    r"|(?:un )?saludos?(?: cordiales| atentos)?|atentamente|cordialmente|(?:muchas )?gracias(?: de antemano)?"
    r"|quedo atent[oa]|un cordial saludo|reciba un cordial saludo"
    r"|mit freundlichen gr[üu]ssen|viele gr[üu]sse|cordiali saluti|distinti saluti|atenciosamente"
    r")\s*[,.!]?\s*$",
    re.IGNORECASE,
)
_DISCLAIMER = re.compile(
    r"^\s*(?:confidentiality notice|disclaimer|this (?:e-?mail|message)(?: and any (?:attachments|files))?"
    r" (?:is|are|may be) (?:confidential|intended)|ce (?:message|courriel)(?: et (?:toutes )?(?:les |ses )?pi[eè]ces jointes)?"
    r" (?:est|sont|peu(?:ven)?t)|este (?:mensaje|correo)(?: y sus (?:anexos|adjuntos))? (?:es|son|puede|contiene)"
    r"|avis de confidentialit[ée]|aviso de confidencialidad|aviso legal)",
    re.IGNORECASE,
)

_MAX_SIGNATURE_LINES = 12


def _is_quote_line(line: str) -> bool:
    return line.lstrip().startswith(">")


def _outlook_header_at(lines: list[str], index: int) -> bool:
    if not _HEADER_FROM.match(lines[index]):
        return False
    following = [line for line in lines[index + 1 : index + 6] if line.strip()]
    return sum(1 for line in following[:4] if _HEADER_OTHER.match(line)) >= 2


def _next_content(lines: list[str], index: int) -> int:
    while index < len(lines) and not lines[index].strip():
        index += 1
    return index


def _find_history(lines: list[str]) -> tuple[int, str] | None:
    """Index where quoted or forwarded history starts, and which of the two it is.

    ``quoted`` history runs to the end; ``inline`` history is a block of
    '>' lines that unquoted new text may follow (bottom-posting).
    """
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        if _FORWARD_MARKERS.match(line):
            return index, "forwarded"
        if _ORIGINAL_MARKERS.match(line):
            return index, "quoted"
        if len(line) < 300:
            nxt = _next_content(lines, index + 1)
            joined = line + " " + lines[nxt].strip() if nxt < len(lines) else line
            single = _ATTRIBUTION_PREFIXED.match(line) or _ATTRIBUTION_ANY.match(line)
            wrapped = not single and nxt == index + 1 and _ATTRIBUTION_PREFIXED.match(joined)
            if single or wrapped:
                after = _next_content(lines, (nxt + 1) if wrapped else index + 1)
                if after < len(lines) and _is_quote_line(lines[after]):
                    return index, "inline"
                return index, "quoted"
        if _outlook_header_at(lines, index):
            return index, "quoted"
        if _is_quote_line(line):
            # An unrecognised attribution ("... написал:") just above the quote belongs to it.
            start = index
            previous = [i for i in range(max(0, index - 3), index) if lines[i].strip()]
            if previous and lines[previous[-1]].rstrip().endswith(":") and previous[-1] >= index - 2:
                start = previous[-1]
                if len(previous) >= 2 and previous[-2] == start - 1 and len(lines[previous[-2]]) < 120:
                    start = previous[-2]
            return start, "inline"
    return None


def _split_signature(lines: list[str]) -> tuple[list[str], list[str]]:
    """Split trailing signature lines (delimiter, valediction, mobile footer, disclaimer) off the body."""
    for index, line in enumerate(lines):
        if _SIGNATURE_DELIMITER.match(line) or _DISCLAIMER.match(line):
            return lines[:index], lines[index:]
    content = [i for i, line in enumerate(lines) if line.strip()]
    if not content:
        return lines, []
    for position in range(len(content) - 1, -1, -1):
        index = content[position]
        if _MOBILE_SIGNATURE.match(lines[index]) and position >= 1:
            return lines[:index], lines[index:]
    first = content[0]
    for position in range(len(content) - 1, max(-1, len(content) - 1 - _MAX_SIGNATURE_LINES), -1):
        index = content[position]
        if index == first:
            break
        if _VALEDICTION.match(lines[index]):
            return lines[:index], lines[index:]
    return lines, []


def _join(lines: list[str]) -> str:
    return "\n".join(lines).strip("\n").rstrip()


def split_reply(text: str) -> ReplyParts:
    """Separate the sender's new text from quoted history, forwarded content and signature."""
    lines = text.split("\n")
    history = _find_history(lines)
    quoted: list[str] = []
    forwarded: list[str] = []
    if history is None:
        body = lines
    else:
        start, kind = history
        body = lines[:start]
        rest = lines[start:]
        if kind == "forwarded":
            forwarded = rest
        elif kind == "inline":
            # Interleaved or bottom-posted: unquoted lines after the first quote are new text too.
            first_quote = next(i for i, line in enumerate(rest) if _is_quote_line(line))
            quoted = rest[:first_quote] + [line for line in rest[first_quote:] if _is_quote_line(line)]
            unquoted = [line for line in rest[first_quote:] if not _is_quote_line(line)]
            if any(line.strip() for line in unquoted):
                body = body + unquoted
        else:
            quoted = rest
    new_lines, signature = _split_signature(body)
    new_text = _join(new_lines)
    return ReplyParts(
        new_text=new_text,
        quoted_text=_join(quoted),
        signature=_join(signature),
        forwarded_text=_join(forwarded),
    )
