"""Security tokens and headers: CSRF tokens bound to the session, signed flash messages, strict response headers."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

# The app's own pages: nothing from elsewhere, no inline script, mail HTML only in a sandboxed frame of our own.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# The framed mail: no script at all, inline styles only, inline images only, links open outside.
MAIL_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src 'none'; form-action 'none'; "
    "base-uri 'none'; frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox"
)
# A downloaded attachment opened by mistake in the browser still runs nothing.
DOWNLOAD_CSP = "default-src 'none'; sandbox"

_BASE_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}


def csrf_token(secret: bytes, session_id: str) -> str:
    """The CSRF token of a session: an HMAC of its id, so it needs no storage and dies with the session."""
    return hmac.new(secret, b"csrf:" + session_id.encode("ascii"), hashlib.sha256).hexdigest()


def login_token(secret: bytes, nonce: str) -> str:
    """The CSRF token of the log-in form, bound to the nonce in the visitor's pre-session cookie."""
    return hmac.new(secret, b"login:" + nonce.encode("ascii", "replace"), hashlib.sha256).hexdigest()


def new_nonce() -> str:
    """A random nonce for the log-in form's cookie."""
    return secrets.token_urlsafe(24)


def tokens_match(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a token."""
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode("utf-8", "replace"))


class Flash:
    """Short messages carried over a redirect in a signed, short-lived cookie (never in the URL)."""

    COOKIE = "triage_flash"

    def __init__(self, secret: bytes) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="triage-flash")

    def dumps(self, kind: str, text: str, extra: dict[str, Any] | None = None) -> str:
        """The cookie value for a message."""
        return self._serializer.dumps({"kind": kind, "text": text[:500], "extra": extra or {}})

    def loads(self, value: str | None) -> dict[str, Any] | None:
        """The message in a cookie, if it is ours and recent."""
        if not value:
            return None
        try:
            data = self._serializer.loads(value, max_age=120)
        except BadSignature:
            return None
        return data if isinstance(data, dict) else None


class SecurityHeaders:
    """ASGI middleware: strict default headers on every response; a route may set its own CSP and framing."""

    def __init__(self, app: App, *, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = dict(_BASE_HEADERS)
                extra["content-security-policy"] = PAGE_CSP
                extra["x-frame-options"] = "DENY"
                if not static:
                    extra["cache-control"] = "no-store"
                if self.hsts:
                    extra["strict-transport-security"] = "max-age=31536000"
                for name, value in extra.items():
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """ASGI middleware: a request body larger than the limit gets 413 before any route reads it."""

    def __init__(self, app: App, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = self.max_bytes + 1
                if declared > self.max_bytes:
                    await _too_large(send, self.max_bytes)
                    return
        seen = 0
        started = False
        exceeded = False

        async def counted() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    exceeded = True
                    raise _BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if exceeded:  # whatever the app made of the interrupted body (FastAPI says 400), it is a 413
                if not started and message["type"] == "http.response.start":
                    started = True
                    await _too_large(send, self.max_bytes)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _too_large(send, self.max_bytes)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send: Send, limit: int) -> None:
    body = f"request body too large (the limit is {limit} bytes)".encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
