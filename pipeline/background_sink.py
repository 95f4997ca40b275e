"""An inquiry sink that runs a slow sink (triage) on its own thread, so syncing mail never waits for it.

Ids are queued in order and handed to the inner sink one batch at a time. On
``close()`` what is queued is still handed over, for at most the given time;
inquiries left over simply stay in state ``new`` (``triage retriage --pending``
or the next worker picks them up). A failing inner sink is logged, never
raised into the sync that stored the mail.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence

from pipeline.handoff import InquirySink

log = logging.getLogger(__name__)


class BackgroundSink:
    """Queues newly stored inquiry ids for ``inner`` and calls it from one background thread."""

    def __init__(self, inner: InquirySink, *, name: str = "triage") -> None:
        self.inner = inner
        self._queue: queue.SimpleQueue[list[int] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def __call__(self, inquiry_ids: Sequence[int]) -> None:
        """Queue the ids; returns at once."""
        if inquiry_ids:
            self._queue.put(list(inquiry_ids))

    def _run(self) -> None:
        while True:
            ids = self._queue.get()
            if ids is None:
                return
            try:
                self.inner(ids)
            except Exception:  # the mail is stored; a failing triage must not stop the next batches
                log.exception("handing %d stored inquiries to triage failed; they stay new", len(ids))

    def close(self, timeout: float) -> bool:
        """Hand over what is queued, waiting at most ``timeout`` seconds; False when time ran out."""
        self._queue.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()
