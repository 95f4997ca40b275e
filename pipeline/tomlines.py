"""Where each key of a TOML document is written, so configuration problems can name their line.

``tomllib`` gives values without positions; this reads the same text once more
and records, for every key, the first and last line of its value under the
path a validator reports (``("rule", 2, "topic")`` for the third ``[[rule]]``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

Path = tuple[str | int, ...]

_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*([^\[\]]+?)\s*\]\]")
_TABLE_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]")
_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")


@dataclass(frozen=True)
class KeySpan:
    """The lines (1-based, inclusive) a key and its value occupy."""

    first: int
    last: int


def _split_dotted(name: str) -> list[str]:
    parts = re.findall(r'"[^"]*"|\'[^\']*\'|[^.\s]+', name)
    return [p[1:-1] if p[:1] in "\"'" else p for p in parts]


def _depth_change(value: str) -> int:
    """How many brackets a value line opens minus closes, outside strings and comments."""
    depth = 0
    quote: str | None = None
    index = 0
    while index < len(value):
        char = value[index]
        if quote:
            if char == "\\" and quote == '"':
                index += 2
                continue
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "#":
            break
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        index += 1
    return depth


class TomlLines:
    """Line numbers of the tables and keys of one TOML text."""

    def __init__(self, text: str) -> None:
        self.spans: dict[Path, KeySpan] = {}
        self.lines = text.splitlines()
        self._index()

    def _index(self) -> None:
        table: list[str | int] = []
        counters: dict[tuple[str | int, ...], int] = {}
        open_key: Path | None = None
        depth = 0
        in_multiline: str | None = None
        for number, line in enumerate(self.lines, start=1):
            if in_multiline:
                if line.count(in_multiline) % 2 == 1:
                    in_multiline = None
                assert open_key is not None
                self.spans[open_key] = KeySpan(self.spans[open_key].first, number)
                continue
            if depth > 0 and open_key is not None:
                depth += _depth_change(line)
                self.spans[open_key] = KeySpan(self.spans[open_key].first, number)
                continue
            if match := _ARRAY_HEADER.match(line):
                base = tuple(_split_dotted(match.group(1)))
                index = counters.get(base, 0)
                counters[base] = index + 1
                table = [*base, index]
                self.spans[tuple(table)] = KeySpan(number, number)
                continue
            if match := _TABLE_HEADER.match(line):
                table = list(_split_dotted(match.group(1)))
                self.spans.setdefault(tuple(table), KeySpan(number, number))
                continue
            if match := _KEY.match(line):
                path = (*table, *_split_dotted(match.group(1)))
                value = line[match.end():]
                self.spans[path] = KeySpan(number, number)
                open_key = path
                for triple in ('"""', "'''"):
                    if value.count(triple) % 2 == 1:
                        in_multiline = triple
                        break
                else:
                    depth = _depth_change(value)

    def line_of(self, path: Sequence[str | int], needle: str | None = None) -> int | None:
        """The line of the longest known prefix of ``path``; with ``needle``, the line inside its value showing it."""
        for end in range(len(path), 0, -1):
            span = self.spans.get(tuple(path[:end]))
            if span is None:
                continue
            if needle is not None and end == len(path):
                for number in range(span.first, span.last + 1):
                    if needle in self.lines[number - 1]:
                        return number
            return span.first
        return None
