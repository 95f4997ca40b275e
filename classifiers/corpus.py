"""The labelled corpus: JSONL or CSV files of example inquiries that admins can extend.

Each example has ``id``, ``language``, ``topic``, ``subject``, ``body`` and
optionally ``complaint``, ``urgent`` (true/false), ``also`` (other topics it
asks about) and ``split`` (``train`` or ``test``; the test split is held out
for ``triage eval``).

The reply labels, also optional: ``intents`` (the reply templates that answer
it, in the order the sender asked; empty when a person must answer),
``standard`` (false: held back for a person), ``queue`` (the section that
handles it), ``hold_reason`` (why it is held back) and ``thread`` (the
conversation it belongs to; every message of a thread is in the same split).
An example without ``intents`` is not used to learn intents.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import ClassifierError

SPLITS = ("train", "test")
_SUFFIXES = (".jsonl", ".csv")


@dataclass(frozen=True)
class Example:
    """One labelled inquiry."""

    id: str
    language: str
    topic: str
    subject: str
    body: str
    complaint: bool = False
    urgent: bool = False
    also: tuple[str, ...] = ()
    split: str = "train"
    intents: tuple[str, ...] | None = None
    standard: bool = True
    queue: str | None = None
    hold_reason: str | None = None
    thread: str = ""

    @property
    def thread_id(self) -> str:
        """The conversation this example belongs to (its own id when it stands alone)."""
        return self.thread or self.id


def thread_split(thread: str, test_share: float = 0.15) -> str:
    """The split of every message of a thread: the same for the same thread id, on any machine."""
    bucket = int.from_bytes(hashlib.sha256(thread.encode("utf-8")).digest()[:4], "big") / 2**32
    return "test" if bucket < test_share else "train"


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "y")


def _also(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(str(v) for v in value if str(v).strip())
    return tuple(p.strip() for p in str(value or "").replace(";", ",").split(",") if p.strip())


def _intents(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    return _also(value)


def _optional(value: Any) -> str | None:
    text = str(value or "").strip()
    return text or None


def _example(record: Any, where: str) -> Example:
    if not isinstance(record, dict):
        raise ClassifierError(f"{where}: an example must be an object with id, language, topic, subject, body")
    missing = [k for k in ("language", "topic", "body") if not str(record.get(k) or "").strip()]
    if missing:
        raise ClassifierError(f"{where}: missing {', '.join(missing)}")
    split = str(record.get("split") or "train").strip().lower()
    if split not in SPLITS:
        raise ClassifierError(f"{where}: split must be 'train' or 'test', not {split!r}")
    return Example(
        id=str(record.get("id") or where),
        language=str(record["language"]).strip().lower(),
        topic=str(record["topic"]).strip(),
        subject=str(record.get("subject") or ""),
        body=str(record["body"]),
        complaint=_flag(record.get("complaint", False)),
        urgent=_flag(record.get("urgent", False)),
        also=_also(record.get("also")),
        split=split,
        intents=_intents(record.get("intents")),
        standard=_flag(record["standard"]) if str(record.get("standard", "")).strip() else not _flag(record.get("complaint", False)),
        queue=_optional(record.get("queue")),
        hold_reason=_optional(record.get("hold_reason")),
        thread=str(record.get("thread") or "").strip(),
    )


def parse_examples(text: str, name: str) -> list[Example]:
    """The examples in the text of one JSONL or CSV file; ``ClassifierError`` names the bad line."""
    examples = []
    if name.endswith(".csv"):
        for number, record in enumerate(csv.DictReader(io.StringIO(text)), start=2):
            examples.append(_example(record, f"{name}:{number}"))
        return examples
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ClassifierError(f"{name}:{number}: not valid JSON ({exc.msg})") from exc
        examples.append(_example(record, f"{name}:{number}"))
    return examples


def corpus_files(path: Path) -> list[Path]:
    """The example files at ``path``: the file itself, or every .jsonl and .csv file in the folder."""
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in _SUFFIXES and p.is_file())
    raise ClassifierError(f"no training data at {path}: set triage.corpus to a folder of .jsonl/.csv files")


def read_corpus(files: Sequence[Path]) -> tuple[list[Example], str]:
    """Every example of the files, and a SHA-256 of their names and contents (the training-data hash)."""
    digest = hashlib.sha256()
    examples: list[Example] = []
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ClassifierError(f"cannot read {path}: {exc.strerror}") from exc
        digest.update(path.name.encode() + b"\x00" + data + b"\x00")
        examples.extend(parse_examples(data.decode("utf-8", errors="replace"), str(path)))
    if not examples:
        raise ClassifierError(f"no examples in {', '.join(map(str, files)) or 'the corpus'}")
    shared = threads_in_both_splits(examples)
    if shared:
        raise ClassifierError(f"threads in both the train and the test split: {', '.join(shared[:5])}")
    return examples, digest.hexdigest()


def threads_in_both_splits(examples: Iterable[Example]) -> list[str]:
    """The threads with messages in the training split and in the held-out one (there must be none)."""
    splits: dict[str, set[str]] = {}
    for example in examples:
        splits.setdefault(example.thread_id, set()).add(example.split)
    return sorted(t for t, s in splits.items() if len(s) > 1)


def of_split(examples: Iterable[Example], split: str) -> list[Example]:
    """The examples of one split."""
    return [e for e in examples if e.split == split]
