"""What ``triage status`` prints: each mailbox's health, last sync, lag, last error and alert."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pipeline.store.sync_state import MailboxReport


def _ago(then: datetime | None, now: datetime) -> str:
    if then is None:
        return "never"
    seconds = max(0.0, (now - then).total_seconds())
    if seconds < 120:
        span = f"{seconds:.0f} s"
    elif seconds < 7200:
        span = f"{seconds / 60:.0f} min"
    elif seconds < 172800:
        span = f"{seconds / 3600:.1f} h"
    else:
        span = f"{seconds / 86400:.1f} days"
    return f"{then:%Y-%m-%d %H:%M:%S} UTC ({span} ago)"


def lag_seconds(report: MailboxReport, now: datetime) -> float | None:
    """Seconds since the last complete sync, or None when there was none."""
    if report.last_success_at is None:
        return None
    return max(0.0, (now - report.last_success_at).total_seconds())


def is_healthy(report: MailboxReport) -> bool:
    """True when a mailbox's last sync worked (or it was never synced yet) and no alert is raised."""
    return report.status in ("ok", "unknown") and not report.alert


def status_exit_code(reports: Iterable[MailboxReport], configured: Iterable[str]) -> int:
    """0 when every configured mailbox is healthy, 1 when one is in error or alerting.

    Mailboxes no longer configured are shown but do not count: nothing syncs them any more.
    """
    names = set(configured)
    return 0 if all(is_healthy(r) for r in reports if r.name in names) else 1


def status_lines(reports: Iterable[MailboxReport], configured: Iterable[str], now: datetime) -> list[str]:
    """Human-readable lines: one block per mailbox, configured ones first."""
    known = {report.name: report for report in reports}
    names = list(configured)
    lines: list[str] = []
    for name in names + sorted(set(known) - set(names)):
        report = known.get(name)
        suffix = "" if name in names else "  (no longer configured)"
        if report is None:
            lines.append(f"{name}: never synced{suffix}")
            continue
        lag = lag_seconds(report, now)
        lines.append(f"{name}: {report.status}  {report.user}@{report.host}{suffix}")
        lines.append(f"  last sync     {_ago(report.last_sync_at, now)}")
        lines.append(f"  last success  {_ago(report.last_success_at, now)}"
                     + (f"  (lag {lag:.0f} s)" if lag is not None else ""))
        if report.alert:
            lines.append(f"  ALERT         {report.alert}")
        if report.last_error:
            lines.append(f"  last error    {report.last_error}")
        for folder in report.folders:
            line = (f"  folder {folder.folder}: UIDVALIDITY {folder.uidvalidity}, last UID {folder.last_uid}, "
                    f"last progress {_ago(folder.last_sync_at, now)}")
            lines.append(line)
            if folder.last_error:
                lines.append(f"    error: {folder.last_error}")
    if not lines:
        lines.append("no mailbox is configured or known")
    return lines


def status_json(reports: Iterable[MailboxReport], now: datetime) -> list[dict[str, Any]]:
    """One JSON-ready dict per mailbox."""
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return [{
        "name": r.name, "host": r.host, "user": r.user, "status": r.status, "alert": r.alert,
        "last_sync_at": iso(r.last_sync_at), "last_success_at": iso(r.last_success_at),
        "lag_seconds": lag_seconds(r, now), "last_error": r.last_error,
        "folders": [{"folder": f.folder, "uidvalidity": f.uidvalidity, "last_uid": f.last_uid,
                     "last_sync_at": iso(f.last_sync_at), "last_error": f.last_error} for f in r.folders],
        "ok": is_healthy(r),
    } for r in reports]
