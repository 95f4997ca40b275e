"""Moved to ``pipeline.tomlines`` (the settings need it too, and they sit below the classifiers)."""

from pipeline.tomlines import KeySpan, TomlLines

__all__ = ["KeySpan", "TomlLines"]
