"""Signals beside the topic: complaint, escalation, urgency (words and near deadlines), several topics, automation,
and a renewal desk's instructions: what a mail says to do per patent (pay or let lapse), a conflict, a stated change.

Words come from the taxonomy's lists for the message's language (all lists when
the language is not one of them); a deadline is a date mentioned in the text
that falls within ``deadline_days`` after the message's own date, so the result
depends on the message alone, never on the clock. Earlier instructions of the
same thread or client, when they matter, are an input like the text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from classifiers.entities import Entity, extract_entities
from classifiers.taxonomy import SignalWords, Taxonomy
from classifiers.textnorm import fold

SIGNAL_NAMES = ("complaint", "escalation", "urgent", "deadline", "multi_topic", "automated", "conflict",
                "instruction_change")

# Not after an ordinal written with a period ("für das 7. Jahr", "le 3. ", one or two digits standing alone).
_SENTENCE_END = re.compile(r"(?<![\s(]\d\.)(?<![\s(]\d\d\.)(?<=[.!?;])\s+|\n+")
# A clause ends at a comma or before a contrasting conjunction: "pay EP1 and EP2, but let EP3 lapse".
_CLAUSE_END = re.compile(r",\s+|\s+(?=(?:but|however|whereas|mais|pero|aber|sondern|jedoch)\b)")
_PLACEHOLDER = "it"  # a patent number reads as "it" to the word lists: "let EP 1 234 567 lapse" is "let it lapse"
_KIND_CODE = re.compile(r"(?<=\d)[ABCEUST]\d?$")

PAY = "pay"
ABANDON = "abandon"
_SAID = {PAY: "pay", ABANDON: "let lapse"}


@dataclass(frozen=True)
class PatentInstruction:
    """One instruction a message gives for one patent: ``pay`` (keep in force) or ``abandon`` (let lapse)."""

    patent: str  # normalised, without a publication kind code: EP1234567
    instruction: str


@dataclass(frozen=True)
class EarlierInstruction:
    """An instruction an earlier mail of the same thread or client gave for a patent (the caller looks it up)."""

    patent: str
    instruction: str
    said_on: date | None
    subject: str = ""
    inquiry_id: int | None = None


@dataclass(frozen=True)
class InstructionCheck:
    """How a message's instructions stand, against each other and against earlier ones.

    ``conflict``: a patent this mail says both to pay and to let lapse, or says otherwise than the latest earlier
    mail; ``changed``: the sender states knowingly that an instruction changes; ``detail``: the sentence for a person.
    """

    conflict: str | None = None
    changed: bool = False
    detail: str | None = None


@dataclass(frozen=True)
class Signals:
    """What else is true of a message besides its topic, with the evidence."""

    complaint: bool = False
    escalation: bool = False
    urgent: bool = False
    deadline: str | None = None
    multi_topic: bool = False
    other_topics: tuple[str, ...] = ()
    automated: bool = False
    evidence: tuple[str, ...] = ()
    conflict: str | None = None  # a patent both to pay and to let lapse (in this mail, or earlier otherwise)
    instruction_change: bool = False  # the sender states that an earlier instruction about a patent changes
    instruction_detail: str | None = None  # the conflict or change, for a person: patents, instructions, mails
    instructions: tuple[PatentInstruction, ...] = ()  # what this mail says to do, per patent

    @property
    def names(self) -> frozenset[str]:
        """The names of the signals that are on."""
        on = {
            "complaint": self.complaint,
            "escalation": self.escalation,
            "urgent": self.urgent,
            "deadline": self.deadline is not None,
            "multi_topic": self.multi_topic,
            "automated": self.automated,
            "conflict": self.conflict is not None,
            "instruction_change": self.instruction_change,
        }
        return frozenset(name for name, value in on.items() if value)

    def as_json(self) -> dict[str, object]:
        """The signals as a JSON-ready dict."""
        return {
            "complaint": self.complaint,
            "escalation": self.escalation,
            "urgent": self.urgent,
            "deadline": self.deadline,
            "multi_topic": self.multi_topic,
            "other_topics": list(self.other_topics),
            "automated": self.automated,
            "conflict": self.conflict,
            "instruction_change": self.instruction_change,
            "instruction_detail": self.instruction_detail,
            "instructions": [{"patent": i.patent, "instruction": i.instruction} for i in self.instructions],
            "evidence": list(self.evidence),
        }


def nearest_deadline(entities: Sequence[Entity], sent_on: date | None, days: int) -> str | None:
    """The earliest date mentioned that falls between the message's date and ``days`` after it."""
    if sent_on is None:
        return None
    soonest: date | None = None
    for entity in entities:
        if entity.kind != "date":
            continue
        when = date.fromisoformat(entity.value)
        if 0 <= (when - sent_on).days <= days and (soonest is None or when < soonest):
            soonest = when
    return soonest.isoformat() if soonest else None


def patent_key(value: str) -> str:
    """A patent number as instructions compare it: normalised, without its kind code (EP1234567B1 -> EP1234567)."""
    return _KIND_CODE.sub("", value)


def patent_label(value: str) -> str:
    """A patent number as people read it: ``EP1234567`` -> ``EP 1 234 567``; other numbers as normalised."""
    match = re.fullmatch(r"EP(\d)(\d{3})(\d{3})([ABCEUST]\d?)?", value)
    if match is None:
        return value
    return " ".join(part for part in ("EP", *match.groups()) if part)


def _masked(sentence: str) -> tuple[str, list[tuple[int, int, str]]]:
    """The folded sentence with every patent number read as the placeholder, and where each number now is."""
    patents = [e for e in extract_entities(sentence) if e.kind == "patent"]
    pieces: list[str] = []
    spans: list[tuple[int, int, str]] = []
    last = length = 0
    for entity in patents:
        before = fold(sentence[last:entity.start])
        pieces += [before, _PLACEHOLDER]
        length += len(before)
        spans.append((length, length + len(_PLACEHOLDER), patent_key(entity.value)))
        length += len(_PLACEHOLDER)
        last = entity.end
    pieces.append(fold(sentence[last:]))
    return "".join(pieces), spans


def _verdict(text: str, start: int, end: int, languages: tuple[str, ...], words: SignalWords) -> str | None:
    """The instruction of ``text[start:end]``: an abandon phrase wins over a pay phrase ("do not pay the annuity")."""
    def inside(spans: list[tuple[int, int]]) -> bool:
        return any(start <= s and e <= end for s, e in spans)

    if inside(words.spans("instruction_abandon", text, languages)):
        return ABANDON
    if inside(words.spans("instruction_pay", text, languages)):
        return PAY
    return None


def _negated_at_the_end(text: str, languages: tuple[str, ...], words: SignalWords) -> bool:
    """Whether ``text`` closes on a word that negates its instruction (German puts "nicht" last: "zahlen Sie ... nicht")."""
    end = len(text.rstrip(" \t.;:!?,)"))
    return any(e == end for _s, e in words.spans("instruction_abandon_after", text, languages))


def instructions_in(text: str, languages: tuple[str, ...], words: SignalWords) -> tuple[PatentInstruction, ...]:
    """Each instruction ``text`` gives per patent, in order of first mention (a patent given both has two).

    Needs the taxonomy's ``instruction_pay`` and ``instruction_abandon`` word lists (a desk without them reads no
    instruction). A patent takes the instruction of its clause (up to a comma or a "but"), else of its sentence;
    where both kinds of words are, abandoning wins ("do not pay the annuity", "ne pas renouveler").
    """
    found: dict[tuple[str, str], None] = {}
    for sentence in _SENTENCE_END.split(text):
        masked, patents = _masked(sentence)
        if not patents:
            continue
        whole = _verdict(masked, 0, len(masked), languages, words)
        if whole is None:
            continue
        if whole == PAY and _negated_at_the_end(masked, languages, words):
            # "Bitte zahlen Sie die Jahresgebühr für EP 1, EP 2 und EP 3 nicht.": the whole sentence is let lapse
            for _start, _end, patent in patents:
                found.setdefault((patent, ABANDON), None)
            continue
        bounds = [0, *(m.end() for m in _CLAUSE_END.finditer(masked)), len(masked) + 1]
        for start, end, patent in patents:
            clause = next((b, bounds[i + 1]) for i, b in enumerate(bounds[:-1]) if b <= start < bounds[i + 1])
            verdict = _verdict(masked, clause[0], min(clause[1], len(masked)), languages, words) or whole
            found.setdefault((patent, verdict), None)
    return tuple(PatentInstruction(patent, verdict) for patent, verdict in found)


def states_change(text: str, languages: tuple[str, ...], words: SignalWords) -> bool:
    """Whether the sender says an earlier instruction is cancelled or changed (the ``instruction_change`` words)."""
    return bool(words.find("instruction_change", fold(text), languages))


def conflicting_instruction(text: str, languages: tuple[str, ...], words: SignalWords) -> str | None:
    """A patent that ``text`` says both to pay (keep in force) and to abandon (let lapse), if any."""
    return _self_conflict(instructions_in(text, languages, words))


def _self_conflict(said: Sequence[PatentInstruction]) -> str | None:
    seen: dict[str, str] = {}
    for item in said:
        if seen.setdefault(item.patent, item.instruction) != item.instruction:
            return item.patent
    return None


def _mail(earlier: EarlierInstruction) -> str:
    when = f"mail of {earlier.said_on.isoformat()}" if earlier.said_on else "an earlier mail"
    return f"{when}, '{earlier.subject}'" if earlier.subject else when


def _standing(earlier: Sequence[EarlierInstruction]) -> dict[str, list[EarlierInstruction]]:
    """Per patent, the instructions of the latest earlier mail that gave one (the instruction that stands)."""
    standing: dict[str, list[EarlierInstruction]] = {}
    latest = sorted(earlier, key=lambda e: (e.said_on or date.min, e.inquiry_id or 0), reverse=True)
    for item in latest:
        key = patent_key(item.patent)
        kept = standing.setdefault(key, [item])
        if item is not kept[0] and item.inquiry_id == kept[0].inquiry_id and item.said_on == kept[0].said_on:
            kept.append(item)
    return standing


def check_instructions(
    said: Sequence[PatentInstruction],
    earlier: Sequence[EarlierInstruction] = (),
    *,
    changed: bool = False,
    mentioned: Sequence[str] = (),
) -> InstructionCheck:
    """This message's instructions against each other and against the earlier ones that still stand.

    A patent this mail says both to pay and to let lapse is a conflict; so is a patent the latest earlier mail
    (of the thread or the client) said otherwise; a repeat is not. When the sender states a change
    (``changed``) of an instruction about a patent it gives or ``mentioned``, it is a change, not a conflict.
    """
    now: dict[str, list[str]] = {}
    for item in said:
        now.setdefault(item.patent, []).append(item.instruction)
    standing = _standing(earlier)
    against = [(patent, verdicts[0], standing[patent][0]) for patent, verdicts in now.items()
               if len(verdicts) == 1 and patent in standing
               and verdicts[0] not in {e.instruction for e in standing[patent]}]
    if changed and (now or mentioned):
        patents = list(dict.fromkeys([*now, *(patent_key(p) for p in mentioned)]))
        parts = []
        for patent in patents[:5]:
            verdicts = now.get(patent, [])
            before = standing.get(patent, [None])[0]
            was = f"{_SAID[before.instruction]} ({_mail(before)})" if before is not None else ""
            if len(verdicts) == 1:
                parts.append(f"{patent_label(patent)}: {was + ', ' if was else ''}now {_SAID[verdicts[0]]}")
            elif verdicts:
                parts.append(f"{patent_label(patent)}: {was + ', ' if was else ''}now both pay and let lapse")
            else:
                parts.append(f"{patent_label(patent)}{': ' + was + ' cancelled' if was else ''}")
        return InstructionCheck(None, True, "Instruction changed for " + "; ".join(parts))
    within = _self_conflict(said)
    if within is not None:
        return InstructionCheck(within, False,
                                f"Conflicting instructions in one mail for {patent_label(within)}: pay and let lapse")
    if against:
        parts = [f"{patent_label(patent)}: {_SAID[before.instruction]} ({_mail(before)}) and now {_SAID[verdict]}"
                 for patent, verdict, before in against[:5]]
        return InstructionCheck(against[0][0], False, "Conflicting instructions for " + "; for ".join(parts))
    return InstructionCheck()


def instruction_patents(signals: Signals, entities: Sequence[Entity]) -> tuple[str, ...]:
    """The patents whose earlier instructions matter to a mail: those it instructs, and, when it states a change,
    every patent it mentions (as ``patent_key`` gives them)."""
    patents = [i.patent for i in signals.instructions]
    if signals.instruction_change:
        patents += [patent_key(e.value) for e in entities if e.kind == "patent"]
    return tuple(dict.fromkeys(patents))


def other_topics(ranked: Sequence[str], margins: Sequence[float], minimum_margin: float) -> tuple[str, ...]:
    """The topics after the first that the topic model also says yes to (margin at least ``minimum_margin``)."""
    return tuple(topic for topic, margin in zip(ranked[1:], margins[1:]) if margin >= minimum_margin)


def detect_signals(
    text: str,
    *,
    language: str,
    entities: Sequence[Entity],
    ranked_topics: Sequence[str],
    topic_margins: Sequence[float],
    sent_on: date | None,
    automated: bool,
    taxonomy: Taxonomy,
    learned: Mapping[str, float] | None = None,
    earlier: Sequence[EarlierInstruction] = (),
) -> Signals:
    """Every signal of one message, from its own words, entities, topic probabilities, date and learned signals.

    ``earlier``: the pay/let-lapse instructions earlier mail of the same thread or client gave for the patents
    of this one (within the desk's ``instruction_days``); a contradiction is a ``conflict``, a change the sender
    states is an ``instruction_change``.
    """
    folded = fold(text)
    languages = (language,) if language in taxonomy.working_languages else taxonomy.working_languages
    complaint = taxonomy.words.find("complaint", folded, languages)
    escalation = taxonomy.words.find("escalation", folded, languages)
    urgent = taxonomy.words.find("urgent", folded, languages)
    deadline = nearest_deadline(entities, sent_on, taxonomy.deadline_days)
    others = other_topics(ranked_topics, topic_margins, taxonomy.multi_topic_margin)
    evidence = [f"complaint: {w}" for w in complaint[:3]] + [f"escalation: {w}" for w in escalation[:3]]
    evidence += [f"urgent: {w}" for w in urgent[:3]] + ([f"deadline: {deadline}"] if deadline else [])
    said = instructions_in(text, languages, taxonomy.words)
    changed = bool(said or any(e.kind == "patent" for e in entities)) and states_change(text, languages, taxonomy.words)
    check = check_instructions(said, earlier, changed=changed,
                               mentioned=[e.value for e in entities if e.kind == "patent"])
    evidence += [f"{'instruction change' if check.changed else 'conflict'}: {check.detail}"] if check.detail else []
    model_says = {name: p for name, p in (learned or {}).items() if p >= taxonomy.learned_threshold}
    evidence += [f"{name}: model {p:.2f}" for name, p in sorted(model_says.items())]
    return Signals(
        complaint=bool(complaint) or "complaint" in model_says,
        escalation=bool(escalation),
        urgent=bool(urgent) or deadline is not None or "urgent" in model_says,
        deadline=deadline,
        multi_topic=bool(others),
        other_topics=others,
        automated=automated,
        evidence=tuple(evidence),
        conflict=check.conflict,
        instruction_change=check.changed,
        instruction_detail=check.detail,
        instructions=said,
    )
