"""Automatic acknowledgements ("we received your inquiry, reference T-…"), per mailbox, off by default: the rules.

Sent only for a mailbox with ``delivery.auto_acknowledge = true``, only for
mail that arrived after the mailbox was first synced (its Date is after the
folder's first sync, and at most ``MAX_AGE`` old), never twice for one inquiry,
never to anyone the reply policy excludes, and within the cap on automatic
mail per sender. They carry ``Auto-Submitted: auto-replied``. The round that
sends them is ``pipeline.rounds.replies.acknowledge_inquiries``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_AGE = timedelta(hours=24)
ACTOR = "auto-acknowledge"


@dataclass(frozen=True)
class AckOutcome:
    """Whether an inquiry was acknowledged, and why not."""

    inquiry_id: int
    outcome: str  # "sent", "skipped", or a delivery outcome
    detail: str = ""


def arrived_after_first_sync(sent_at: datetime | None, synced: datetime | None, now: datetime) -> bool:
    """Whether a message is new mail rather than mail that was in the mailbox before it was first synced."""
    return sent_at is not None and synced is not None and sent_at > synced and now - sent_at <= MAX_AGE
