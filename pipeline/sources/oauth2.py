"""XOAUTH2 access tokens from a configured command (Microsoft 365, Gmail).

The command is run without a shell (wrap it in ``sh -c '...'`` for pipes) and
prints either the bare access token, or a JSON object with ``access_token`` and
optionally ``expires_in`` (seconds) or ``expires_at``/``expires_on`` (epoch
seconds or ISO 8601). Tokens are never logged or shown in ``repr``.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from pipeline.errors import ImapAuthError

EXPIRY_WARNING = timedelta(minutes=5)


@dataclass(frozen=True)
class AccessToken:
    """An OAuth2 access token and, when the command said so, when it expires."""

    value: str = field(repr=False)
    expires_at: datetime | None = None

    def expiry_warning(self, now: datetime) -> str | None:
        """A one-line warning when the token has expired or expires within five minutes, else None."""
        if self.expires_at is None:
            return None
        left = (self.expires_at - now).total_seconds()
        if left <= 0:
            return f"the OAuth2 token from the token command expired at {self.expires_at:%Y-%m-%d %H:%M:%SZ}"
        if left < EXPIRY_WARNING.total_seconds():
            return (f"the OAuth2 token from the token command expires in {left:.0f} s; "
                    "check that the command refreshes it")
        return None


def _expiry(data: dict[str, Any], now: datetime) -> datetime | None:
    if "expires_in" in data:
        return now + timedelta(seconds=float(data["expires_in"]))
    for key in ("expires_at", "expires_on"):
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().isdigit()):
            return datetime.fromtimestamp(float(value), timezone.utc)
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return None


def parse_token_output(output: str, now: datetime, *, mailbox: str | None = None) -> AccessToken:
    """The token in a token command's output (bare token or JSON); raise ``ImapAuthError`` when there is none."""
    text = output.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
            token = str(data.get("access_token") or data.get("accessToken") or "").strip()
            expires_at = _expiry(data, now)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ImapAuthError(f"the token command printed JSON that cannot be read ({type(exc).__name__})",
                                mailbox=mailbox) from exc
        if not token:
            raise ImapAuthError("the token command printed JSON without access_token", mailbox=mailbox)
        return AccessToken(token, expires_at)
    token = text.splitlines()[0].strip() if text else ""
    if not token:
        raise ImapAuthError("the token command printed no token", mailbox=mailbox)
    return AccessToken(token)


def run_token_command(command: str, *, timeout: float, mailbox: str | None = None) -> AccessToken:
    """Run the configured token command and return its token; failures are ``ImapAuthError``."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ImapAuthError(f"oauth2_token_command cannot be split into words: {exc}", mailbox=mailbox) from exc
    if not argv:
        raise ImapAuthError("oauth2_token_command is empty", mailbox=mailbox)
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise ImapAuthError(f"token command not found: {argv[0]}", mailbox=mailbox) from exc
    except PermissionError as exc:
        raise ImapAuthError(f"token command not executable: {argv[0]}", mailbox=mailbox) from exc
    except subprocess.TimeoutExpired as exc:
        raise ImapAuthError(f"token command gave no token within {timeout:g} s", mailbox=mailbox) from exc
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["no message"])[-1][:200]
        raise ImapAuthError(f"token command failed with exit status {result.returncode}: {detail}", mailbox=mailbox)
    return parse_token_output(result.stdout, datetime.now(timezone.utc), mailbox=mailbox)
