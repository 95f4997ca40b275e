"""Typed settings, read once from one TOML file and the environment.

Precedence, lowest first: built-in defaults, the TOML file (``--config``,
``TRIAGE_CONFIG`` or ``config/triage.toml``), then environment variables.
An environment variable names its key with ``__`` between levels
(``TRIAGE_MAILBOXES__DESK__HOST``); a single ``_`` after a section's name also
works for flat keys (``TRIAGE_DATABASE_URL`` is ``database.url``).

Secrets (passwords, tokens) come only from the environment or a secret file,
are held as ``SecretStr`` and never printed.
"""

from __future__ import annotations

import copy
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from pipeline.errors import ConfigError
from pipeline.tomlines import TomlLines

ENV_PREFIX = "TRIAGE_"
CONFIG_ENV = "TRIAGE_CONFIG"
DEFAULT_CONFIG_PATH = Path("config/triage.toml")

# Keys that hold secrets: they may never be written in the configuration file.
SECRET_KEYS = frozenset({"password", "token", "secret_key", "oauth2_token"})


def read_secret(value: SecretStr | None, path: Path | None, key: str) -> str | None:
    """A secret given in the environment, else read from its secret file, else None."""
    if value is not None:
        return value.get_secret_value()
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError([(key, f"cannot read secret file {path}: {exc.strerror}")]) from exc


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    """Where inquiries are stored."""

    url: str = "sqlite:///var/triage.db"
    busy_timeout_seconds: float = Field(default=10.0, ge=0)
    pool_size: int = Field(default=5, ge=1)
    echo: bool = False


class IngestSettings(_Section):
    """How messages are imported and stored."""

    batch_size: int = Field(default=200, ge=1, le=10_000)
    max_message_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=0)
    max_text_chars: int = Field(default=200_000, ge=1000)
    progress: Literal["auto", "always", "never"] = "auto"


class LoggingSettings(_Section):
    """Where and how much the program logs."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class TriageSettings(_Section):
    """Where triage finds its taxonomy, routing rules, model and training corpus.

    Relative paths are taken from the working directory, then from the source tree.
    """

    taxonomy: Path = Path("config/taxonomy.toml")
    routing: Path = Path("config/routing.toml")
    model_path: Path = Path("var/models/triage-model.skops")
    corpus: Path = Path("data/corpus")
    auto_train: bool = True


class _MailServer(_Section):
    """What every mail server connection needs: address, TLS mode, certificate checks, a secret."""

    host: str
    port: int | None = Field(default=None, ge=1, le=65535)
    tls: Literal["implicit", "starttls", "none"] = "implicit"
    verify_certificate: bool = True
    ca_file: Path | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    timeout_seconds: float = Field(default=30.0, ge=1)

    @field_validator("tls", mode="before")
    @classmethod
    def _lower_tls(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_server(self) -> "_MailServer":
        if self.tls == "none" and not _is_loopback(self.host):
            raise ValueError("tls = 'none' (plain text) is allowed only on loopback hosts")
        if self.password is not None and self.password_file is not None:
            raise ValueError("give either password (environment) or password_file, not both")
        return self


class SmtpSettings(_MailServer):
    """The SMTP server that sends approved replies and acknowledgements for one mailbox."""

    tls: Literal["implicit", "starttls", "none"] = "starttls"
    user: str | None = None

    @property
    def effective_port(self) -> int:
        """The port to connect to: the configured one or the default for the TLS mode."""
        if self.port is not None:
            return self.port
        return {"implicit": 465, "starttls": 587, "none": 25}[self.tls]

    def resolve_password(self) -> str | None:
        """The password, read from the environment value or the secret file."""
        return read_secret(self.password, self.password_file, "smtp.password_file")


class DeliverySettings(_Section):
    """How approved replies leave one mailbox: into its Drafts folder, or by SMTP with a copy in Sent."""

    mode: Literal["drafts", "smtp"] = "drafts"
    drafts_folder: str = "Drafts"
    sent_folder: str = "Sent"
    append_to_sent: bool = True
    from_address: str | None = None
    from_name: str | None = None
    smtp: SmtpSettings | None = None
    auto_acknowledge: bool = False

    @model_validator(mode="after")
    def _check(self) -> "DeliverySettings":
        if self.mode == "smtp" and self.smtp is None:
            raise ValueError("mode = 'smtp' needs an [mailboxes.<name>.delivery.smtp] table (host, port, tls, user)")
        if self.auto_acknowledge and self.smtp is None:
            raise ValueError("auto_acknowledge sends mail by itself: it needs a [mailboxes.<name>.delivery.smtp] table")
        return self


class RepliesSettings(_Section):
    """Suggested replies: where the templates are, who is never answered, and how much automatic mail is allowed."""

    templates: Path = Path("config/templates")
    case_register: Path | None = None  # an extract of the register status answers look facts up in (None: blanks)
    own_addresses: tuple[str, ...] = ()
    block_list: tuple[str, ...] = ()
    auto_cap: int = Field(default=10, ge=0)
    auto_cap_hours: float = Field(default=3.0, gt=0)
    default_mailbox: str | None = None
    max_attempts: int = Field(default=5, ge=1)
    recovery_after_seconds: float = Field(default=300.0, ge=0)
    interval_seconds: float = Field(default=15.0, ge=1)  # how often `triage run` suggests and delivers
    # Replies to inquiries that came from no configured mailbox (files given to `triage ingest`) go to this
    # Maildir, readable by any mail client: the demo's approve works without a mail server.
    outbox: Path = Path("var/outbox")
    outbox_from: str = "helpdesk@localhost"  # the From address of the replies written to the outbox

    @field_validator("own_addresses", "block_list", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value


class MailboxSettings(_MailServer):
    """One IMAP mailbox to watch."""

    user: str
    oauth2_token_command: str | None = None
    folders: tuple[str, ...] = ("INBOX",)
    after_ingest: Literal["leave", "seen", "move"] = "leave"
    move_to: str | None = None
    since: date | None = None
    poll_interval_seconds: float = Field(default=60.0, ge=1)
    idle: bool = True
    idle_timeout_seconds: float = Field(default=600.0, ge=5)
    max_connections: int = Field(default=2, ge=1, le=20)
    batch_size: int = Field(default=100, ge=1, le=5000)
    enabled: bool = True
    delivery: DeliverySettings = DeliverySettings()
    desk: str | None = None  # the desk this mailbox's mail belongs to (None: the default desk)

    @field_validator("folders", mode="before")
    @classmethod
    def _split_folders(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @model_validator(mode="after")
    def _check(self) -> "MailboxSettings":
        if self.after_ingest == "move" and not self.move_to:
            raise ValueError("after_ingest = 'move' needs move_to (the folder to move to)")
        if self.after_ingest == "move" and self.move_to in self.folders:
            raise ValueError("move_to must not be one of the watched folders (messages would go round forever)")
        if not self.folders:
            raise ValueError("folders must name at least one folder")
        return self

    @property
    def effective_port(self) -> int:
        """The port to connect to: the configured one or the default for the TLS mode."""
        if self.port is not None:
            return self.port
        return 993 if self.tls == "implicit" else 143

    def resolve_password(self) -> str | None:
        """The password, read from the environment value or the secret file."""
        return read_secret(self.password, self.password_file, "password_file")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WebSettings(_Section):
    """The staff review app (``triage serve``): where it listens, sessions, holds, SLAs.

    The session secret never goes in the file: ``TRIAGE_WEB__SECRET_KEY``, or
    ``secret_key_file`` (made with a random key, mode 0600, when missing).
    """

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    secret_key: SecretStr | None = None
    secret_key_file: Path = Path("var/web-secret.key")
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    hold_minutes: float = Field(default=15.0, gt=0, le=24 * 60)
    sla: Path = Path("config/sla.toml")
    page_size: int = Field(default=50, ge=5, le=500)
    counts_seconds: float = Field(default=15.0, ge=0, le=3600)
    cookie_secure: bool = False
    max_form_bytes: int = Field(default=1024 * 1024, ge=1024)
    login_max_failures: int = Field(default=5, ge=1)  # failed log-ins per name or address before a pause
    login_window_minutes: float = Field(default=15.0, gt=0)
    # Addresses (or networks) of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed.
    trusted_proxies: list[str] = Field(default_factory=list)
    idle_timeout_minutes: float = Field(default=30.0, gt=0, le=24 * 60)  # a session unused this long ends

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError as exc:
                raise ValueError(f"not an address or network: {item!r}") from exc
        return [item.strip() for item in value]


class DeskSettings(_Section):
    """One desk: who answers (sender identity), in which languages, with which taxonomy, rules, model and templates.

    ``folder`` holds the desk's own ``taxonomy.toml``, ``routing.toml``, ``sla.toml`` and ``templates/``
    (with its ``catalogue.toml``: the desk's name, signature and links per language); a path given here
    overrides the folder's. A desk without a folder uses the ``[triage]``, ``[replies]`` and ``[web]``
    paths (the default desk of an install with no ``[desks]``).
    """

    name: str = ""
    folder: Path | None = None
    display_name: str | None = None  # the From name of its replies (default: office.name of its catalogue)
    languages: tuple[str, ...] = ()  # its working languages: each needs templates for every intent
    addresses: tuple[str, ...] = ()  # receiving addresses of mail that belongs to it (beside its mailboxes)
    default: bool = False  # mail of no mailbox and no address of a desk (e.g. `triage ingest` files) goes here
    taxonomy: Path | None = None
    routing: Path | None = None
    sla: Path | None = None
    templates: Path | None = None
    corpus: Path | None = None
    model_path: Path | None = None

    @field_validator("languages", "addresses", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value


class DaemonSettings(_Section):
    """How ``triage run`` shares work with other daemons and shows its health.

    Pending work (inquiries still ``new``) is looked for at start and every
    ``pending_interval_seconds``. A folder is synced under a lease that lasts
    ``lease_seconds`` by the database's clock and is renewed while syncing; a
    dead daemon's folders are taken over once its leases run out.
    ``metrics_port`` (off when unset) serves ``/healthz`` and ``/metrics``.
    """

    pending_interval_seconds: float = Field(default=30.0, ge=1)
    pending_batch: int = Field(default=200, ge=1, le=10_000)
    lease_seconds: float = Field(default=15.0, ge=2, le=3600)
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=0, le=65535)


RETRAINING_PERIODS = {"daily": 24.0, "weekly": 24.0 * 7}


class RetrainingSettings(_Section):
    """Scheduled retraining by ``triage run`` (off by default).

    With ``schedule`` set, one daemon (the one that takes the retraining lease)
    trains a new version from the corpus and staff corrections once per period
    (``daily``, ``weekly``, or every ``interval_hours`` with ``interval``),
    compares it with the live model on the same held-out data and records the
    result. It is made live only with ``auto_promote`` and when it is not worse
    than the live model by more than ``margin`` (the promotion gate).
    """

    schedule: Literal["off", "daily", "weekly", "interval"] = "off"
    interval_hours: float = Field(default=168.0, gt=0, le=24 * 366)  # the period of schedule = "interval"
    auto_promote: bool = False
    margin: float = Field(default=0.0, ge=0, le=1)

    @property
    def enabled(self) -> bool:
        """Whether the daemon retrains on a schedule."""
        return self.schedule != "off"

    @property
    def period_hours(self) -> float:
        """Hours between two scheduled runs."""
        return RETRAINING_PERIODS.get(self.schedule, self.interval_hours)


class Settings(_Section):
    """Every setting of triage, validated and frozen."""

    database: DatabaseSettings = DatabaseSettings()
    ingest: IngestSettings = IngestSettings()
    logging: LoggingSettings = LoggingSettings()
    mailboxes: dict[str, MailboxSettings] = Field(default_factory=dict)
    triage: TriageSettings = TriageSettings()
    replies: RepliesSettings = RepliesSettings()
    web: WebSettings = WebSettings()
    daemon: DaemonSettings = DaemonSettings()
    retraining: RetrainingSettings = RetrainingSettings()
    desks: dict[str, DeskSettings] = Field(default_factory=dict)


@dataclass(frozen=True)
class LoadedSettings:
    """Settings together with where they came from."""

    settings: Settings
    path: Path | None
    raw: Mapping[str, Any]


def resolve_config_path(explicit: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path | None:
    """The configuration file to read: explicit, ``TRIAGE_CONFIG``, the default, or none."""
    if explicit:
        return Path(explicit)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    if DEFAULT_CONFIG_PATH.is_file():
        return DEFAULT_CONFIG_PATH
    return None


_TOML_ERROR_LINE = re.compile(r"\(at line (\d+), column \d+\)")


def parse_toml(text: str, where: str | Path) -> dict[str, Any]:
    """TOML text as a dict; a syntax error is a ``ConfigError`` naming ``where`` and the line."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = _TOML_ERROR_LINE.search(str(exc))
        raise ConfigError([(f"{where}:{line.group(1)}" if line else str(where), f"not valid TOML: {exc}")]) from exc


def _read_config_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError([(str(path), "configuration file not found")]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError([(str(path), f"cannot read configuration file: {reason}")]) from exc


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file into a dict, turning every failure into a ``ConfigError``."""
    return parse_toml(_read_config_text(path), path)


def env_overrides(env: Mapping[str, str], sections: frozenset[str]) -> dict[str, Any]:
    """Nested overrides from ``TRIAGE_*`` environment variables."""
    tree: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX):].split("__") if p]
        if not parts:
            continue
        if len(parts) == 1 and parts[0] not in sections:
            section, _, key = parts[0].partition("_")
            if section in sections and key:
                parts = [section, key]
            else:
                continue
        node = tree
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[parts[-1]] = value
    return tree


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _secrets_in_file(tree: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    problems = []
    for key, value in tree.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            problems.extend(_secrets_in_file(value, dotted))
        elif key in SECRET_KEYS:
            env_name = ENV_PREFIX + "__".join(p.upper() for p in dotted.split("."))
            problems.append(
                (dotted, f"secrets must not be written in the configuration file; set {env_name} or use a *_file key")
            )
    return problems


def _match_mailbox_names(file_tree: Mapping[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Environment names are case-insensitive: TRIAGE_MAILBOXES__DESK__... also overrides ``[mailboxes.Desk]``."""
    from_env = overrides.get("mailboxes")
    in_file = file_tree.get("mailboxes")
    if not isinstance(from_env, dict) or not isinstance(in_file, Mapping):
        return overrides
    by_lower = {str(name).lower(): name for name in in_file}
    overrides["mailboxes"] = {by_lower.get(name, name): value for name, value in from_env.items()}
    return overrides


def validation_problems(exc: ValidationError) -> list[tuple[str, str]]:
    """Each pydantic error as ``(dotted key, message)``."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        key = ".".join(str(p) for p in error["loc"])
        message = error["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        problems.append((key, message))
    return problems


@dataclass(frozen=True)
class SettingsInspection:
    """Every problem of the settings, found in one pass, and settings to check the rest with.

    ``loaded`` holds the file's and the environment's values with each faulty one left at its
    default (a faulty table left out), so the checks of templates, rules and the rest can still
    run; it is None only when the file cannot be read or parsed.
    """

    loaded: LoadedSettings | None
    problems: list[tuple[str, str]]
    path: Path | None = None
    text: str | None = None
    from_env: Mapping[str, Any] = field(default_factory=dict)

    def where(self, key: str) -> str | None:
        """Where a settings key (``ingest.batch_size``) was written: ``file:line``, ``environment``, or None."""
        parts = tuple(key.split("."))
        node: Any = self.from_env
        for part in parts:
            if not isinstance(node, Mapping) or part not in node:
                break
            node = node[part]
        else:
            return "environment"
        if self.path is None or self.text is None:
            return None
        line = TomlLines(self.text).line_of(parts)
        return f"{self.path}:{line}" if line is not None else str(self.path)


def _drop(tree: dict[str, Any], loc: tuple[Any, ...]) -> bool:
    """Remove the value at ``loc``, or its deepest ancestor present; False when there is none."""
    node: Any = tree
    found: tuple[dict[str, Any], Any] | None = None
    for part in loc:
        if not isinstance(node, dict) or part not in node:
            break
        found = (node, part)
        node = node[part]
    if found is None:
        return False
    del found[0][found[1]]
    return True


_MAX_ROUNDS = 20


def inspect_settings(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> SettingsInspection:
    """Read and validate the settings, collecting every problem instead of stopping at the first round."""
    env = os.environ if env is None else env
    config_path = resolve_config_path(path, env)
    text: str | None = None
    file_tree: dict[str, Any] = {}
    if config_path is not None:
        try:
            text = _read_config_text(config_path)
            file_tree = parse_toml(text, config_path)
        except ConfigError as exc:
            return SettingsInspection(None, list(exc.problems), config_path, text)
    problems = _secrets_in_file(file_tree)
    sections = frozenset(Settings.model_fields)
    from_env = _match_mailbox_names(file_tree, env_overrides(env, sections))
    raw = _merge(file_tree, from_env)
    # A faulty value hides the checks that need the rest of its table (a model validator runs only
    # once every field is valid): drop what is faulty and validate again, until nothing new appears.
    remaining = copy.deepcopy(raw)
    settings: Settings | None = None
    for _ in range(_MAX_ROUNDS):
        try:
            settings = Settings.model_validate(remaining)
            break
        except ValidationError as exc:
            dropped = False
            for error, problem in zip(exc.errors(include_url=False, include_input=False), validation_problems(exc)):
                if problem not in problems:
                    problems.append(problem)
                dropped = _drop(remaining, tuple(error["loc"])) or dropped
            if not dropped:
                break
    loaded = LoadedSettings(settings=settings, path=config_path, raw=raw) if settings is not None else None
    return SettingsInspection(loaded, problems, config_path, text, from_env)


def load_settings(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> LoadedSettings:
    """Read and validate the settings; raise ``ConfigError`` listing every problem."""
    inspection = inspect_settings(path, env)
    if inspection.problems or inspection.loaded is None:
        raise ConfigError(inspection.problems)
    return inspection.loaded
