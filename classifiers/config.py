"""The triage configuration of a process: the taxonomy and the routing rules named by ``[triage]``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from classifiers.routing import Rule, load_rules
from classifiers.taxonomy import Taxonomy, load_taxonomy
from pipeline.config import TriageSettings
from pipeline.errors import ConfigError

# The source tree's copy of config/ and data/, for a relative path that does not exist where we run.
SOURCE_ROOT = Path(__file__).resolve().parent.parent


def resolve(path: Path) -> Path:
    """A configured path: as given when absolute or present here, else the source tree's copy."""
    if path.is_absolute() or path.exists():
        return path
    shipped = SOURCE_ROOT / path
    return shipped if shipped.exists() else path


@dataclass(frozen=True)
class TriageConfig:
    """What an office configures for triage: its taxonomy and its ordered routing rules."""

    taxonomy: Taxonomy
    rules: tuple[Rule, ...]


def load_triage_config(settings: TriageSettings) -> TriageConfig:
    """Read the taxonomy and the rules; ``ConfigError`` lists every problem with its file and line."""
    taxonomy = load_taxonomy(resolve(settings.taxonomy))
    return TriageConfig(taxonomy=taxonomy, rules=load_rules(resolve(settings.routing), taxonomy))


def triage_config_problems(settings: TriageSettings) -> list[tuple[str, str]]:
    """Every problem of the taxonomy and rules files, each with its file and line (empty when valid)."""
    try:
        load_triage_config(settings)
    except ConfigError as exc:
        return list(exc.problems)
    return []
