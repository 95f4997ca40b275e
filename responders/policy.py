"""Who is never answered, and how much automatic mail one sender may get: pure rules over values.

Never answered: auto-replies, bounces and mailing-list mail (as the parser
flagged them), the office's own addresses (configured ones and every
mailbox's), and addresses or domains on the configured block list. Automatic
mail (acknowledgements) to one address is capped: at most ``auto_cap`` in any
``auto_cap_hours``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from pipeline.config import Settings
from responders.facts import InquiryFacts


@dataclass(frozen=True)
class ReplyPolicy:
    """The addresses never answered and the cap on automatic mail."""

    own_addresses: frozenset[str] = frozenset()
    block_list: tuple[str, ...] = ()
    auto_cap: int = 10
    auto_window: timedelta = timedelta(hours=3)

    @classmethod
    def from_settings(cls, settings: Settings) -> "ReplyPolicy":
        """The policy of a configuration: its own addresses include every mailbox's user and From address."""
        replies = settings.replies
        own = {address.strip().lower() for address in replies.own_addresses if address.strip()}
        for mailbox in settings.mailboxes.values():
            for address in (mailbox.user, mailbox.delivery.from_address):
                if address and "@" in address:
                    own.add(address.strip().lower())
        return cls(
            own_addresses=frozenset(own),
            block_list=tuple(entry.strip().lower() for entry in replies.block_list if entry.strip()),
            auto_cap=replies.auto_cap,
            auto_window=timedelta(hours=replies.auto_cap_hours),
        )


def blocked_by(address: str, block_list: Iterable[str]) -> str | None:
    """The block-list entry that covers an address (the address itself, or its domain or a parent domain)."""
    address = address.strip().lower()
    domain = address.rpartition("@")[2]
    for entry in block_list:
        if "@" in entry.lstrip("@"):
            if address == entry:
                return entry
            continue
        blocked_domain = entry.lstrip("@").lstrip("*.").lstrip(".")
        if blocked_domain and (domain == blocked_domain or domain.endswith("." + blocked_domain)):
            return entry
    return None


def refusal(facts: InquiryFacts, policy: ReplyPolicy) -> str | None:
    """Why this inquiry must never be answered, or None when a reply may be suggested."""
    if facts.is_bounce:
        return f"a bounce is never answered ({facts.automation_reason or 'delivery report'})"
    if facts.is_auto_reply:
        return f"an automatic reply is never answered ({facts.automation_reason or 'auto-reply'})"
    if facts.is_mailing_list:
        return f"mailing-list mail is never answered ({facts.automation_reason or 'list headers'})"
    for label, address in (("sender", facts.sender_address), ("Reply-To address", facts.reply_to)):
        if not address:
            continue
        lowered = address.strip().lower()
        if lowered in policy.own_addresses:
            return f"the {label} {lowered} is one of the office's own addresses"
        entry = blocked_by(lowered, policy.block_list)
        if entry is not None:
            return f"the {label} {lowered} is on the block list ({entry})"
    if not facts.reply_address:
        return "the message has no sender address to answer"
    return None


def cap_reached(sent_in_window: int, policy: ReplyPolicy) -> bool:
    """True when one more automatic message would go over the cap for its recipient."""
    return sent_in_window >= policy.auto_cap
