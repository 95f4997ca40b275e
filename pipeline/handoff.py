"""The seam between storage and triage.

Ingest calls an ``InquirySink`` with the ids of the inquiries it has just
committed, in state ``new``. Until a triage step is plugged in they wait there;
a worker on any node can also pick them up later with
``pipeline.store.repository.pending_inquiry_ids(..., claim=True)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class InquirySink(Protocol):
    """Receives the ids of newly stored inquiries, after their transaction committed."""

    def __call__(self, inquiry_ids: Sequence[int]) -> None: ...


def leave_new(inquiry_ids: Sequence[int]) -> None:
    """The default sink: inquiries stay in state ``new`` for the triage step."""
