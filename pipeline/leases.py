"""A daemon's leases: taken before a folder is synced, renewed on a thread while it is, given back after.

The database decides who syncs what (``pipeline.store.leases``); this keeps a
process's side of it. Its holder id is ``host:pid:random``. A renewal that
finds a lease gone (taken over after this process stalled past its expiry) sets
that lease's ``lost`` event, and the sync of that folder stops after the batch
in hand. When the database cannot be reached for as long as a lease lasts,
every lease counts as lost: another daemon may have it by now.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from pipeline.errors import TriageError
from pipeline.store import leases as store

log = logging.getLogger(__name__)


def new_holder_id() -> str:
    """A holder id unique to this process: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def stale_local_holders(holders: set[str], own: str) -> set[str]:
    """Among holder ids of this host, those whose process is gone (or is this very process under another id)."""
    stale = set()
    for holder in holders:
        parts = holder.split(":")
        if holder == own or len(parts) < 3 or not parts[-2].isdigit():
            continue
        pid = int(parts[-2])
        if pid == os.getpid() or not _pid_alive(pid):
            stale.add(holder)
    return stale


class AnyEvent(threading.Event):
    """An event that counts as set when it, or any of the events it watches, is set (``is_set`` only)."""

    def __init__(self, *others: threading.Event) -> None:
        super().__init__()
        self.others = others

    def is_set(self) -> bool:
        """True when this or any watched event is set."""
        return super().is_set() or any(event.is_set() for event in self.others)


@dataclass
class Held:
    """A lease this process holds, and the event set if it is lost."""

    mailbox: str
    folder: str
    lost: threading.Event


class LeaseKeeper:
    """Takes, renews and gives back this process's folder leases, and announces that it is alive."""

    def __init__(self, factory: sessionmaker[Session], *, seconds: float, holder: str | None = None) -> None:
        self.factory = factory
        self.seconds = seconds
        self.holder = holder or new_holder_id()
        self._held: dict[tuple[str, str], Held] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_renewed = time.monotonic()

    # -- life cycle -----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Clear leases left by dead daemons of this host, announce this one, start renewing."""
        host = self.holder.split(":")[0]
        for holder in stale_local_holders(store.holders_on_host(self.factory, host), self.holder):
            log.info("leases of %s (a daemon of this host that is gone) given back", holder)
            store.release_all(self.factory, holder)
        store.announce(self.factory, self.holder, self.seconds)
        self._last_renewed = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="leases", daemon=True)
        self._thread.start()

    def other_daemons(self) -> list[str]:
        """Holder ids of the other daemons alive now (by their presence leases)."""
        return [holder for holder in store.live_daemons(self.factory) if holder != self.holder]

    def close(self) -> None:
        """Stop renewing and give every lease back, presence included."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        try:
            store.release_all(self.factory, self.holder)
        except TriageError as exc:
            log.warning("cannot give the leases back (they expire in %g s): %s", self.seconds, exc)

    # -- folders --------------------------------------------------------------------------------------------

    def try_take(self, mailbox: str, folder: str) -> tuple[store.Claim, Held | None]:
        """Ask for a folder's lease; the held lease when granted."""
        claim = store.acquire(self.factory, mailbox, folder, self.holder, self.seconds)
        if not claim.granted:
            return claim, None
        held = Held(mailbox, folder, threading.Event())
        with self._lock:
            self._held[(mailbox, folder)] = held
        return claim, held

    def give_back(self, held: Held) -> None:
        """Release a folder's lease after its sync."""
        with self._lock:
            self._held.pop((held.mailbox, held.folder), None)
        try:
            store.release(self.factory, held.mailbox, held.folder, self.holder)
        except TriageError as exc:
            log.warning("mailbox %s, folder %s: cannot give the lease back (it expires in %g s): %s",
                        held.mailbox, held.folder, self.seconds, exc)

    # -- renewing -------------------------------------------------------------------------------------------

    def renew_now(self) -> None:
        """Renew every lease once; mark those found gone as lost."""
        with self._lock:
            expected = dict(self._held)
        try:
            kept = store.renew(self.factory, self.holder, self.seconds)
        except TriageError as exc:
            if time.monotonic() - self._last_renewed > self.seconds:
                for held in expected.values():
                    held.lost.set()
            log.warning("cannot renew the leases: %s", exc)
            return
        self._last_renewed = time.monotonic()
        if (store.DAEMON_MAILBOX, self.holder) not in kept:  # expired and cleared while we stalled
            store.announce(self.factory, self.holder, self.seconds)
        for key, held in expected.items():
            if key not in kept and not held.lost.is_set():
                log.warning("mailbox %s, folder %s: the lease was lost (taken over after it expired); "
                            "stopping after the batch in hand", held.mailbox, held.folder)
                held.lost.set()

    def _run(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                self.renew_now()
            except Exception:  # never let the renewing thread die
                log.exception("renewing the leases failed")
