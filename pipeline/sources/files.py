"""Messages from the file system: .eml files, folders of them, mbox files and Maildirs.

Everything streams: one message in memory at a time, however large the mbox.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from pipeline.errors import SourceError
from pipeline.sources.base import Origin, SourceItem, SourceProblem

_MBOX_READ_CHUNK = 1 << 20


def usable_paths(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[SourceProblem]]:
    """The paths that exist and can be read, and a problem for each of the others, in the order given."""
    usable: list[Path] = []
    problems: list[SourceProblem] = []
    for item in paths:
        path = Path(item)
        if not path.exists():
            problems.append(SourceProblem(str(path), "no such file or directory"))
        elif not os.access(path, os.R_OK) or (path.is_dir() and not os.access(path, os.X_OK)):
            problems.append(SourceProblem(str(path), "permission denied"))
        else:
            usable.append(path)
    return usable, problems


def check_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The paths as ``Path``s; raise ``SourceError`` naming the first that does not exist or cannot be read."""
    usable, problems = usable_paths(paths)
    if problems:
        raise SourceError(f"{problems[0].source}: {problems[0].error}")
    return usable


def is_maildir(path: Path) -> bool:
    """True for a directory laid out as a Maildir (``cur`` and ``new`` inside)."""
    return path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir()


def looks_like_mbox(path: Path) -> bool:
    """True when a file starts with an mbox ``From `` separator line."""
    try:
        with path.open("rb") as handle:
            head = handle.read(1024)
    except OSError:
        return False
    if not head.startswith(b"From "):
        return False
    first_line = head.split(b"\n", 1)[0]
    # "From: x" is a header; "From sender date" is an mbox separator.
    return b":" not in first_line[:5] and len(first_line.split()) >= 2


def iter_mbox(path: Path) -> Iterator[SourceItem | SourceProblem]:
    """Each message of an mbox file, streamed; the ``From `` line is dropped."""
    resolved = str(path.resolve())
    index = 0
    lines: list[bytes] = []
    previous_blank = True
    try:
        handle = path.open("rb")
    except OSError as exc:
        yield SourceProblem(str(path), f"cannot open mbox: {exc.strerror}")
        return
    with handle:
        try:
            for line in handle:
                if line.startswith(b"From ") and previous_blank:
                    if lines:
                        yield _mbox_item(resolved, index, lines)
                        index += 1
                    lines = []
                else:
                    lines.append(line)
                previous_blank = line in (b"\n", b"\r\n")
        except OSError as exc:
            yield SourceProblem(f"{resolved}#{index}", f"read error in mbox: {exc.strerror}")
            return
    if lines:
        yield _mbox_item(resolved, index, lines)


def _mbox_item(path: str, index: int, lines: list[bytes]) -> SourceItem:
    # The blank line before the next separator belongs to the mbox format, not to the message.
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]
    return SourceItem(Origin(kind="mbox", source=f"{path}#{index}"), b"".join(lines))


def _read_file(path: Path, kind: str, source: str | None = None) -> SourceItem | SourceProblem:
    try:
        return SourceItem(Origin(kind=kind, source=source or str(path.resolve())), path.read_bytes())
    except OSError as exc:
        return SourceProblem(str(path), f"cannot read: {exc.strerror}")


def iter_maildir(path: Path) -> Iterator[SourceItem | SourceProblem]:
    """Each message of a Maildir (``new`` then ``cur``); the source names the message, not its flags."""
    root = path.resolve()
    for sub in ("new", "cur"):
        try:
            names = sorted(os.listdir(root / sub))
        except OSError as exc:
            yield SourceProblem(str(root / sub), f"cannot list: {exc.strerror}")
            continue
        for name in names:
            if name.startswith("."):
                continue
            unique = name.split(":", 1)[0]
            yield _read_file(root / sub / name, "maildir", f"{root}/{unique}")


def iter_folder(path: Path) -> Iterator[SourceItem | SourceProblem]:
    """Every file below a folder, in name order; mbox files and Maildirs inside are expanded."""
    for current, dirs, files in os.walk(path, onerror=None):
        current_path = Path(current)
        if is_maildir(current_path):
            dirs[:] = []
            yield from iter_maildir(current_path)
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            yield from iter_file(current_path / name)


def iter_file(path: Path) -> Iterator[SourceItem | SourceProblem]:
    """One file: an mbox (several messages) or a single message."""
    if looks_like_mbox(path):
        yield from iter_mbox(path)
    else:
        yield _read_file(path, "file")


def iter_paths(paths: Iterable[Path]) -> Iterator[SourceItem | SourceProblem]:
    """Messages from each path, whatever it is: .eml file, folder, mbox or Maildir."""
    for path in paths:
        if is_maildir(path):
            yield from iter_maildir(path)
        elif path.is_dir():
            yield from iter_folder(path)
        else:
            yield from iter_file(path)
