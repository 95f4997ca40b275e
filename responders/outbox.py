"""The embedded delivery: approved replies written to a local Maildir (``replies.outbox``) that any mail
client can open. Used where no configured mailbox can send a reply (the demo, files given to ``triage
ingest``). A reply's file name comes from its Message-ID, so writing it again finds it instead."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from pipeline.errors import DeliveryError


def _name(message_id: str) -> str:
    return "triage-" + hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()[:40]


def find_in_outbox(root: Path, message_id: str) -> Path | None:
    """The reply's file in the Maildir (new/, or cur/ once a mail client has seen it), if it is there."""
    name = _name(message_id)
    new = root / "new" / name
    if new.exists():
        return new
    cur = root / "cur"
    if cur.is_dir():
        for path in cur.glob(name + "*"):
            return path
    return None


def write_to_outbox(root: Path, message_id: str, raw: bytes) -> str:
    """Put the reply into the Maildir once (tmp/ then new/, as Maildir readers expect); what was done."""
    found = find_in_outbox(root, message_id)
    if found is not None:
        return f"already in the outbox {root}"
    name = _name(message_id)
    try:
        for folder in ("tmp", "new", "cur"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        temporary = root / "tmp" / f"{name}.{os.getpid()}"
        with open(temporary, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, root / "new" / name)
    except OSError as exc:
        raise DeliveryError(f"cannot write to the outbox {root}: {exc}") from exc
    return f"written to the outbox {root / 'new' / name}"
