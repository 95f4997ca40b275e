"""Ingestion, parsing, storage, scheduling and the daemon of triage."""

__version__ = "0.1.0"
