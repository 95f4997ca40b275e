"""The value type of a reference number, amount or date found in a text (found by ``classifiers.entities``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entity:
    """One thing found in a text: its kind, normalised value, and where it is (``text[start:end]``)."""

    kind: str
    value: str
    start: int
    end: int
    source: str = "body"

    def as_json(self) -> dict[str, object]:
        """The entity as a JSON-ready dict."""
        return {"kind": self.kind, "value": self.value, "start": self.start, "end": self.end, "source": self.source}
