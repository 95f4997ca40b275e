"""TLS client contexts for the mail servers triage talks to (IMAP, SMTP)."""

from __future__ import annotations

import ssl
from pathlib import Path

from pipeline.errors import TriageError


def client_tls_context(verify: bool, ca_file: Path | None, error: type[TriageError]) -> ssl.SSLContext:
    """A client context that verifies the server (system CAs or ``ca_file``) unless ``verify`` is off.

    A ``ca_file`` that cannot be loaded raises ``error`` with the reason.
    """
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise error(f"cannot load ca_file {ca_file}: {getattr(exc, 'strerror', None) or exc}") from exc
