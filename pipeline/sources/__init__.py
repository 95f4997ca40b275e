"""Where raw messages come from: files, mboxes, Maildirs, IMAP folders."""

from pipeline.sources.base import Origin, SourceItem, SourceProblem

__all__ = ["Origin", "SourceItem", "SourceProblem"]
