"""The key that signs the review app's cookies and security tokens: from the environment or a secret file."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pipeline.config import WebSettings
from pipeline.errors import ConfigError

MIN_CHARS = 32


def load_secret(web: WebSettings) -> bytes:
    """``web.secret_key`` (environment) or the content of ``web.secret_key_file``, made at random when missing."""
    if web.secret_key is not None:
        value = web.secret_key.get_secret_value().strip()
        if len(value) < MIN_CHARS:
            raise ConfigError([("web.secret_key", f"must have at least {MIN_CHARS} characters "
                                                  "(python3 -c 'import secrets; print(secrets.token_hex(32))')")])
        return value.encode("utf-8")
    path = Path(web.secret_key_file)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it just now
        except OSError as exc:
            raise ConfigError([("web.secret_key_file", f"cannot create {path}: {exc.strerror}")]) from exc
        else:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(secrets.token_hex(32) + "\n")
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError([("web.secret_key_file", f"cannot read {path}: {exc.strerror}")]) from exc
    if len(value) < MIN_CHARS:
        raise ConfigError([("web.secret_key_file", f"{path} must hold at least {MIN_CHARS} characters")])
    return value.encode("utf-8")
