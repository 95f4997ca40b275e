"""The model registry: every trained version kept on disk, one of them live, promotion gated, rollback possible.

Layout under the registry folder (by default the model file's folder)::

    <version>/model.skops      the model (see ``classifiers.registry``)
    <version>/metadata.json    version, metrics, data hash, created_at, trained_by
    live                       the live version's name, replaced atomically
    history.jsonl              every promotion and rollback, oldest first
    .promote.lock              held while the pointer changes

Training writes a new version and never touches ``live``; only ``promote`` and
``rollback`` do, under an exclusive file lock and after checking that the live
version is still the one the caller saw, so two admins promoting at once cannot
both win.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from classifiers.model import TriageModel
from classifiers.pointer import LIVE_FILE, MODEL_FILE, live_marker, live_version
from classifiers.registry import load_model, save_model
from pipeline.errors import ClassifierError

METADATA_FILE = "metadata.json"
HISTORY_FILE = "history.jsonl"
LOCK_FILE = ".promote.lock"
# The figures promotion compares, each "higher is better".
GATE_FIGURES = ("macro_f1", "hold_recall")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class _AnyLive:
    """The default of ``expected_live``: whichever version is live now."""


ANY_LIVE = _AnyLive()


class PromotionConflict(ClassifierError):
    """Someone else changed (or is changing) the live version: nothing was done."""


class GateRefused(ClassifierError):
    """The candidate is worse than the live model on the gate's figures."""


@dataclass(frozen=True)
class VersionEntry:
    """One stored version as the metadata file describes it."""

    version: str
    created_at: str
    trained_by: str
    data_hash: str
    metrics: Mapping[str, Any]
    extra: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """The entry as plain data (the metadata file's content)."""
        return {"version": self.version, "created_at": self.created_at, "trained_by": self.trained_by,
                "data_hash": self.data_hash, "metrics": dict(self.metrics), **dict(self.extra)}


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def check_version_name(version: str) -> str:
    """``version`` when it is a safe folder name, else ``ClassifierError``."""
    if not _VERSION.match(version or ""):
        raise ClassifierError(f"{version[:40]!r} is not a model version name")
    return version


def gate_verdict(candidate: Mapping[str, Any], live: Mapping[str, Any], margin: float = 0.0) -> list[str]:
    """Why ``candidate`` metrics are worse than ``live`` on the gate's figures by more than ``margin`` (empty: passes)."""
    problems = []
    for name in GATE_FIGURES:
        new, old = candidate.get(name), live.get(name)
        if old is None:
            continue
        if new is None:
            problems.append(f"{name}: the candidate has no figure, the live model has {old:.4f}")
        elif float(new) < float(old) - margin:
            problems.append(f"{name} {float(new):.4f} is below the live model's {float(old):.4f} (margin {margin:.4f})")
    return problems


class ModelRegistry:
    """The versions in one registry folder and its live pointer."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, version: str) -> Path:
        """Where a version's files are."""
        return self.root / check_version_name(version)

    def add(self, model: TriageModel, *, trained_by: str, extra: Mapping[str, Any] | None = None,
            now: datetime | None = None) -> VersionEntry:
        """Store ``model`` as a new version (a rebuilt identical version is replaced); the live pointer stays."""
        folder = self.folder(model.version)
        save_model(model, folder / MODEL_FILE)
        entry = VersionEntry(
            version=model.version,
            created_at=(now or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
            trained_by=trained_by,
            data_hash=model.info.data_hash,
            metrics=dict(model.info.metrics),
            extra=dict(extra or {}),
        )
        _atomic_write(folder / METADATA_FILE, json.dumps(entry.as_dict(), ensure_ascii=False, indent=1))
        return entry

    def entry(self, version: str) -> VersionEntry:
        """A version's metadata; ``ClassifierError`` when it is missing or unreadable."""
        path = self.folder(version) / METADATA_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            known = {"version", "created_at", "trained_by", "data_hash", "metrics"}
            return VersionEntry(version=str(data["version"]), created_at=str(data["created_at"]),
                                trained_by=str(data.get("trained_by", "")), data_hash=str(data.get("data_hash", "")),
                                metrics=dict(data.get("metrics") or {}),
                                extra={k: v for k, v in data.items() if k not in known})
        except FileNotFoundError as exc:
            raise ClassifierError(f"no model version {version} in {self.root}") from exc
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ClassifierError(f"the description of model version {version} is unreadable ({exc})") from exc

    def versions(self) -> list[VersionEntry]:
        """Every stored version with readable metadata, newest first."""
        if not self.root.is_dir():
            return []
        entries = []
        for folder in self.root.iterdir():
            if folder.is_dir() and (folder / METADATA_FILE).is_file() and _VERSION.match(folder.name):
                try:
                    entries.append(self.entry(folder.name))
                except ClassifierError:
                    continue
        return sorted(entries, key=lambda e: (e.created_at, e.version), reverse=True)

    def load(self, version: str) -> TriageModel:
        """A stored version's model; ``ClassifierError`` when the file is missing, corrupted or foreign."""
        folder = self.folder(version)
        if not folder.is_dir():
            raise ClassifierError(f"no model version {version} in {self.root}")
        model = load_model(folder / MODEL_FILE)
        if model.version != version:
            raise ClassifierError(f"the file of model version {version} holds model {model.version}")
        return model

    def live(self) -> str | None:
        """The live version's name, or None when nothing was promoted."""
        return live_version(self.root)

    def live_marker(self) -> tuple[str | None, int | None]:
        """What identifies the live pointer's state (name and change time): a cache key for loaded models."""
        return live_marker(self.root)

    def history(self) -> list[dict[str, Any]]:
        """Every promotion and rollback, oldest first."""
        try:
            lines = (self.root / HISTORY_FILE).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        events = []
        for line in lines:
            try:
                events.append(json.loads(line))
            except ValueError:
                continue  # a torn last line from a crash: the pointer file is the truth
        return events

    def live_stack(self) -> list[str]:
        """The versions made live in turn, rollbacks undone: the last is live, the one before it is where rollback goes."""
        stack: list[str] = []
        for event in self.history():
            if event.get("action") == "promote":
                stack.append(str(event.get("version")))
            elif event.get("action") == "rollback" and stack:
                stack.pop()
        return stack

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / LOCK_FILE, "a+") as lock:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise PromotionConflict("another promotion or rollback is in progress; try again in a moment") from exc
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _set_live(self, version: str, action: str, actor: str, now: datetime | None, **details: Any) -> dict[str, Any]:
        event = {"action": action, "version": version, "previous": self.live(), "actor": actor,
                 "at": (now or datetime.now(timezone.utc)).isoformat(timespec="seconds"), **details}
        with open(self.root / HISTORY_FILE, "a", encoding="utf-8") as out:
            out.write(json.dumps(event, ensure_ascii=False) + "\n")
        _atomic_write(self.root / LIVE_FILE, version + "\n")
        return event

    def promote(self, version: str, *, actor: str, expected_live: str | None | _AnyLive = ANY_LIVE,
                force: bool = False, margin: float = 0.0, now: datetime | None = None) -> dict[str, Any]:
        """Make ``version`` live; returns the history event.

        The model file must load. Unless ``force``, it must not be worse than the
        live model on the gate's figures by more than ``margin`` (``GateRefused``).
        With ``expected_live`` given, the live version must still be that one
        (``PromotionConflict``): a compare-and-swap for callers who looked first.
        """
        candidate = self.entry(version)
        self.load(version)  # a corrupted or foreign file is refused before the pointer moves
        with self._locked():
            current = self.live()
            if not isinstance(expected_live, _AnyLive) and current != expected_live:
                raise PromotionConflict(f"the live model changed to {current} meanwhile; look again before promoting")
            if current == version:
                raise ClassifierError(f"model {version} is already live")
            if current is not None and not force:
                try:
                    live_metrics = self.entry(current).metrics
                except ClassifierError:
                    live_metrics = {}
                problems = gate_verdict(candidate.metrics, live_metrics, margin)
                if problems:
                    raise GateRefused(f"model {version} is worse than the live model {current}: "
                                      + "; ".join(problems) + " (use --force to promote anyway)")
            return self._set_live(version, "promote", actor, now, forced=bool(force))

    def rollback(self, *, actor: str, expected_live: str | None | _AnyLive = ANY_LIVE,
                 now: datetime | None = None) -> dict[str, Any]:
        """Make the previously live version live again; returns the history event."""
        with self._locked():
            current = self.live()
            if not isinstance(expected_live, _AnyLive) and current != expected_live:
                raise PromotionConflict(f"the live model changed to {current} meanwhile; look again before rolling back")
            stack = self.live_stack()
            if len(stack) < 2 or stack[-1] != current:
                raise ClassifierError("there is no earlier live model to roll back to")
            previous = stack[-2]
            self.load(previous)
            return self._set_live(previous, "rollback", actor, now)
