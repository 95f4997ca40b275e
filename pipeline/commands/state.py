"""What the top-level options of ``triage`` chose, shared by every command."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.config import LoadedSettings, load_settings
from pipeline.runtime import Runtime, configure_logging, open_runtime


@dataclass
class CliState:
    """What the top-level options chose; settings are loaded on first use."""

    config_path: str | None
    log_level: str | None
    _loaded: LoadedSettings | None = None
    _runtime: Runtime | None = None
    cleanups: list[Any] = field(default_factory=list)

    def loaded(self) -> LoadedSettings:
        if self._loaded is None:
            self._loaded = load_settings(self.config_path)
            configure_logging(self._loaded.settings.logging, self.log_level)
        return self._loaded

    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = open_runtime(self.loaded().settings)
        return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()
