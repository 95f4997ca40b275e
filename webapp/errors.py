"""The review app's service errors; the web layer maps each to one HTTP status."""

from __future__ import annotations

from pipeline.errors import IllegalTransition, TriageError


class WebError(TriageError):
    """A request the review app refuses; ``status`` is the HTTP status it maps to."""

    status = 400


class BadInput(WebError):
    """A value in the request is not acceptable (unknown filter, malformed field): nothing was done."""

    status = 400


class NotAuthenticated(WebError):
    """No valid session: log in first."""

    status = 401


class TooManyAttempts(WebError):
    """Too many failed log-ins for this name or from this address: wait, then try again."""

    status = 429


class Forbidden(WebError):
    """The user may not see or do this (a queue that is not theirs, an admin page, a forged form)."""

    status = 403


class NotFound(WebError):
    """No such inquiry, queue, user, template or attachment."""

    status = 404


class Conflict(WebError):
    """Someone else changed or holds the case first: reload and try again (nothing was lost or done)."""

    status = 409


class TooLarge(WebError):
    """The request body is larger than the configured limit."""

    status = 413


def refused_move(exc: IllegalTransition) -> Conflict:
    """The 409 for an action the inquiry's state does not allow (the state machine refused it; nothing was done)."""
    return Conflict(f"not allowed now: {exc}; nothing was changed or sent (reload the case to see what it allows)")
