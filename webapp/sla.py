"""Response-time targets per queue (the SLA), read from and written to their TOML file.

Validation is pure (``parse_sla``); reading and the atomic rewrite are the only I/O. Each desk has its own
file; ``webapp.desk_sla`` reads them all as one set of targets (the ``Targets`` the app asks).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from pipeline.config import parse_toml
from pipeline.errors import ConfigError

Problem = tuple[str, str]
_MAX_HOURS = 24 * 365


class Targets(Protocol):
    """What the app asks of response-time targets, per queue: one SLA file's (``Sla``) or every desk's."""

    @property
    def hours(self) -> Mapping[str, float]:
        """The queues with a target of their own (the others have their file's default), in hours."""
        ...

    def target(self, queue: str) -> timedelta:
        """The response-time target of a queue."""
        ...

    def warn(self, queue: str) -> float:
        """The share of a queue's target after which an inquiry in it is due soon."""
        ...

    def status(self, queue: str, received_at: datetime, now: datetime) -> str:
        """``ok``, ``soon`` or ``overdue`` for an inquiry of a queue received at ``received_at``."""
        ...


def sla_status(target: timedelta, warn_share: float, age: timedelta) -> str:
    """``ok``, ``soon`` (past ``warn_share`` of the target) or ``overdue`` for an inquiry of this age."""
    if age >= target:
        return "overdue"
    if age >= target * warn_share:
        return "soon"
    return "ok"


@dataclass(frozen=True)
class Sla:
    """The response-time targets of one SLA file: each queue's, the default, and when an inquiry is due soon."""

    hours: Mapping[str, float] = field(default_factory=dict)
    default_hours: float = 48.0
    warn_share: float = 0.75

    def target(self, queue: str) -> timedelta:
        """The response-time target of a queue."""
        return timedelta(hours=self.hours.get(queue, self.default_hours))

    def warn(self, queue: str) -> float:
        """The warning share (the same for every queue of one file)."""
        return self.warn_share

    def status(self, queue: str, received_at: datetime, now: datetime) -> str:
        """``ok``, ``soon`` (past the warning share) or ``overdue`` for an inquiry received at ``received_at``."""
        return sla_status(self.target(queue), self.warn_share, now - received_at)


def _hours(value: object, key: str, problems: list[Problem]) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.append((key, "must be a number of hours"))
        return None
    if not 0 < float(value) <= _MAX_HOURS:
        problems.append((key, f"must be more than 0 and at most {_MAX_HOURS} hours"))
        return None
    return float(value)


def parse_sla(text: str, where: str, queues: Collection[str] | None = None) -> Sla:
    """Validate the text of an SLA file; ``ConfigError`` lists each problem with its key."""
    raw = parse_toml(text, where)
    problems: list[Problem] = []
    for key in raw:
        if key not in ("default_hours", "warn_share", "queues"):
            problems.append((f"{where}: {key}", "unknown key; known: default_hours, warn_share, [queues]"))
    default = _hours(raw.get("default_hours", 48), f"{where}: default_hours", problems)
    warn = raw.get("warn_share", 0.75)
    if isinstance(warn, bool) or not isinstance(warn, (int, float)) or not 0 < float(warn) <= 1:
        problems.append((f"{where}: warn_share", "must be a number above 0 and at most 1"))
    table = raw.get("queues", {})
    hours: dict[str, float] = {}
    if not isinstance(table, Mapping):
        problems.append((f"{where}: queues", "must be a table of queue = hours"))
        table = {}
    for queue, value in table.items():
        if queues is not None and queue not in queues:
            problems.append((f"{where}: queues.{queue}", f"unknown queue; known: {', '.join(sorted(queues))}"))
            continue
        parsed = _hours(value, f"{where}: queues.{queue}", problems)
        if parsed is not None:
            hours[queue] = parsed
    if problems or default is None:
        raise ConfigError(problems)
    return Sla(hours=hours, default_hours=default, warn_share=float(warn))


def load_sla(path: Path, queues: Collection[str] | None = None) -> Sla:
    """Read and validate the SLA file; the built-in defaults when there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Sla()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([(str(path), f"cannot read the SLA file: {exc}")]) from exc
    return parse_sla(text, str(path), queues)


def sla_problems(path: Path, queues: Collection[str] | None = None) -> list[Problem]:
    """Every problem of the SLA file (empty when valid), as ``triage check-config`` lists them."""
    try:
        load_sla(path, queues)
    except ConfigError as exc:
        return list(exc.problems)
    return []


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render_sla(sla: Sla, header: str) -> str:
    """The text of an SLA file: the kept comment header, then every value."""
    lines = [header.rstrip("\n"), "", f"default_hours = {_number(sla.default_hours)}",
             f"warn_share = {_number(sla.warn_share)}", "", "[queues]"]
    lines += [f"{queue} = {_number(hours)}" for queue, hours in sla.hours.items()]
    return "\n".join(lines).lstrip("\n") + "\n"


def comment_header(text: str) -> str:
    """The leading comment lines of a file (kept when it is rewritten)."""
    kept: list[str] = []
    for line in text.splitlines():
        if line.startswith("#") or (not line.strip() and kept):
            kept.append(line)
            continue
        break
    return "\n".join(kept).rstrip()


def checked_sla_text(path: Path, sla: Sla, queues: Collection[str]) -> tuple[str, Sla]:
    """The new text of the SLA file (its comment header kept) and what it says, validated; nothing written."""
    try:
        header = comment_header(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        header = "# Response-time targets (SLA) per queue, in hours."
    text = render_sla(sla, header)
    return text, parse_sla(text, str(path), queues)


def save_sla(path: Path, sla: Sla, queues: Collection[str]) -> Sla:
    """Validate and atomically rewrite the SLA file; return what was written."""
    text, checked = checked_sla_text(path, sla, queues)
    write_atomically(path, text)
    return checked


def write_atomically(path: Path, text: str) -> None:
    """Replace a file's content in one step (a reader sees the old or the new text, never half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
