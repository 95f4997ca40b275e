"""Everything the review app needs, made once at start-up from the settings (never at import time)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from classifiers.config import load_triage_config, resolve
from classifiers.routing import Rule
from pipeline.config import Settings, WebSettings
from pipeline.errors import ConfigError
from responders.context import ReplyContext
from webapp.services.queues import CountCache
from webapp.services.replies import Deliverer
from webapp.desk_sla import OfficeSla, load_office_sla
from webapp.secret import load_secret
from webapp.throttle import LoginThrottle
from webapp.vocabulary import Vocabulary, desks_vocabulary

log = logging.getLogger(__name__)


@dataclass
class WebContext:
    """Settings, database sessions, the office's vocabulary and every desk's SLA targets, the signing key."""

    settings: Settings
    db: sessionmaker[Session]
    vocabulary: Vocabulary
    rules: tuple[Rule, ...]
    sla: OfficeSla
    secret: bytes = field(repr=False)
    templates_dir: Path
    replies: ReplyContext | None = None
    deliverer: Deliverer | None = None
    counts: CountCache | None = None
    throttle: LoginThrottle | None = None

    @property
    def web(self) -> WebSettings:
        """The ``[web]`` settings."""
        return self.settings.web

    def __post_init__(self) -> None:
        if self.throttle is None:
            self.throttle = LoginThrottle(self.db)

    @property
    def login_throttle(self) -> LoginThrottle:
        """The log-in throttle (on this context's database)."""
        assert self.throttle is not None
        return self.throttle

    @property
    def idle_timeout(self) -> timedelta:
        """How long a session may go unused before it ends."""
        return timedelta(minutes=self.web.idle_timeout_minutes)

    @property
    def hold_for(self) -> timedelta:
        """How long opening a case holds it."""
        return timedelta(minutes=self.web.hold_minutes)

    @property
    def session_lifetime(self) -> timedelta:
        """How long a log-in lasts."""
        return timedelta(hours=self.web.session_hours)


def load_replies(settings: Settings) -> ReplyContext | None:
    """The reply templates and policy; None (replies off, logged) when the catalogue is unusable."""
    try:
        return ReplyContext.load(settings)
    except ConfigError as exc:
        log.error("suggested replies are off in the review app: %s", exc)
        return None


def build_context(settings: Settings, db: sessionmaker[Session], *, deliver: bool = True) -> WebContext:
    """Load the taxonomies, routing rules, each desk's SLA, reply templates and the signing key (``ConfigError``)."""
    config = load_triage_config(settings.triage)
    vocabulary = desks_vocabulary(settings, config.taxonomy)
    replies = load_replies(settings)
    return WebContext(
        settings=settings,
        db=db,
        vocabulary=vocabulary,
        rules=config.rules,
        sla=load_office_sla(settings, vocabulary),
        secret=load_secret(settings.web),
        templates_dir=resolve(settings.replies.templates),
        replies=replies,
        deliverer=Deliverer(db, replies) if replies is not None and deliver else None,
        counts=CountCache(settings.web.counts_seconds) if settings.web.counts_seconds else None,
        throttle=LoginThrottle(db, max_failures=settings.web.login_max_failures,
                               window_seconds=settings.web.login_window_minutes * 60),
    )
