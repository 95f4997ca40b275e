"""What every command gets: the top-level options, and settings and the runtime loaded on first use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from pipeline.config import LoadedSettings, load_settings

if TYPE_CHECKING:  # the runtime pulls in SQLAlchemy: only commands that use the database pay for it
    from pipeline.runtime import Runtime


@dataclass
class CliState:
    """What the top-level options chose; settings are loaded on first use."""

    config_path: str | None
    log_level: str | None
    _loaded: LoadedSettings | None = None
    _runtime: Runtime | None = None

    def loaded(self) -> LoadedSettings:
        """The settings, loaded (and logging configured) the first time they are asked for."""
        if self._loaded is None:
            from pipeline.logs import configure_logging

            self._loaded = load_settings(self.config_path)
            configure_logging(self._loaded.settings.logging, self.log_level)
        return self._loaded

    def runtime(self) -> Runtime:
        """The database engine and sessions of these settings (migrations applied), opened once."""
        if self._runtime is None:
            from pipeline.runtime import open_runtime
            from pipeline.store.sqlite_path import check_sqlite_location

            settings = self.loaded().settings
            new_file = check_sqlite_location(settings.database)
            if new_file is not None:
                click.echo(f"triage: creating a new empty database at {new_file.resolve()}", err=True)
            self._runtime = open_runtime(settings)
        return self._runtime

    def close(self) -> None:
        """Release the runtime, if one was opened."""
        if self._runtime is not None:
            self._runtime.close()


pass_state = click.make_pass_decorator(CliState)
