"""The model registry's live pointer as files: where a version's model is and which version is live.

Kept apart from ``classifiers.versions`` so the model loader can follow the
pointer without importing the registry (which builds on the loader).
"""

from __future__ import annotations

from pathlib import Path

MODEL_FILE = "model.skops"
LIVE_FILE = "live"


def live_version(root: Path) -> str | None:
    """The live version's name in the registry at ``root``, or None when nothing was promoted."""
    try:
        text = (root / LIVE_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text or None


def live_marker(root: Path) -> tuple[str | None, int | None]:
    """What identifies the live pointer's state (name and change time): a cache key for loaded models."""
    try:
        stamp: int | None = (root / LIVE_FILE).stat().st_mtime_ns
    except FileNotFoundError:
        stamp = None
    return live_version(root), stamp
