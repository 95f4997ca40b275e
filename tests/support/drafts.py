"""The reviewed inquiries (tests/data/draft_review.toml) and their composed drafts.

Decisions are built from the reviewer's intents (a Decision-like value carrying
``intents``, ``answer_intents``, ``standard``, ``queue``, ``reason``,
``hold_reason``), so drafts can be read and tested before the intent model lands.
``python -m tests.support.drafts [--no-register]`` prints every draft.
"""

from __future__ import annotations

import json
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from classifiers.entities import Entity, extract_entities
from pipeline.mail.model import ParsedMessage
from pipeline.mail.parse import parse_message
from responders.casefacts import NO_REGISTER, CaseFactsProvider, load_register
from responders.facts import facts_from_parsed
from responders.policy import ReplyPolicy
from responders.render import Library, load_library
from responders.suggest import NoReply, Reply, suggest_reply
from tests.support.mail import make_message

ROOT = Path(__file__).resolve().parents[2]
REVIEW_FILE = ROOT / "tests" / "data" / "draft_review.toml"


@dataclass(frozen=True)
class IntentDecision:
    """A triage decision with intents, as the intent model will make it."""

    language: str
    topic: str
    entities: tuple[Entity, ...] = ()
    standard: bool = True
    reason: str = "standard inquiry"
    queue: str = "customer_service"
    intents: tuple[tuple[str, float], ...] = ()
    answer_intents: tuple[str, ...] = ()
    hold_reason: str | None = None


def decision_for(language: str, answer_intents: tuple[str, ...], parsed: ParsedMessage | None = None, *,
                 standard: bool = True, reason: str = "standard inquiry", hold_reason: str | None = None,
                 queue: str = "customer_service") -> IntentDecision:
    """A decision answering these intents, with the entities of the message (if given)."""
    entities: tuple[Entity, ...] = ()
    if parsed is not None:
        entities = (*extract_entities(parsed.subject, "subject"),
                    *extract_entities(f"{parsed.new_text}\n{parsed.parts.signature}"))
    topic = answer_intents[0].split("--")[0] if answer_intents else "general"
    intents = tuple((intent, round(0.9 - 0.1 * index, 2)) for index, intent in enumerate(answer_intents))
    return IntentDecision(language, topic, entities, standard, reason, queue, intents,
                          answer_intents if standard else (), hold_reason)


@dataclass(frozen=True)
class ReviewCase:
    """One reviewed inquiry: its name, message and the decision the reviewer gave it."""

    name: str
    parsed: ParsedMessage
    decision: IntentDecision


def _corpus_row(row_id: str) -> dict[str, str]:
    for path in sorted((ROOT / "data" / "corpus").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row["id"] == row_id:
                return row
    raise KeyError(row_id)


def review_cases() -> list[ReviewCase]:
    """Every reviewed inquiry, in the file's order."""
    cases = []
    for item in tomllib.loads(REVIEW_FILE.read_text(encoding="utf-8"))["case"]:
        if "sample" in item:
            name = item["sample"]
            raw = (ROOT / "data" / "samples" / name).read_bytes()
            language = item.get("language") or name.split("-")[1]
        else:
            row = _corpus_row(item["corpus"])
            name, language = row["id"], row["language"]
            raw = make_message(row["body"], subject=row["subject"], sender="sender@example.net")
        parsed = parse_message(raw)
        cases.append(ReviewCase(name, parsed, decision_for(language, tuple(item["intents"]), parsed)))
    return cases


def draft(case: ReviewCase, library: Library, register: CaseFactsProvider = NO_REGISTER) -> Reply | NoReply:
    """The composed draft of one reviewed inquiry."""
    return suggest_reply(case.decision, facts_from_parsed(case.parsed, inquiry_id=5000), library, ReplyPolicy(),
                         case_facts=register)


def main(argv: list[str]) -> None:
    """Print every reviewed inquiry and its draft."""
    library = load_library(ROOT / "config" / "templates")
    register = NO_REGISTER if "--no-register" in argv else load_register(ROOT / "data" / "register.toml")
    for case in review_cases():
        print(f"\n{'=' * 100}\n## {case.name} [{case.decision.language}] intents: "
              f"{', '.join(case.decision.answer_intents)}\n--- inquiry: {case.parsed.subject}\n"
              f"{case.parsed.new_text.strip()}\n--- draft:")
        reply = draft(case, library, register)
        print(reply.text if isinstance(reply, Reply) else f"NO REPLY: {reply.reason}")


if __name__ == "__main__":
    main(sys.argv[1:])
