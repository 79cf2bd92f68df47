"""User-facing errors.

Every error a user can cause by their input is a :class:`TaskmixError`: the CLI prints its
message and exits with code 2, without a traceback (``--debug`` shows one). Messages name the
file, row or column at fault and say what to do about it.
"""

from __future__ import annotations


class TaskmixError(Exception):
    """An error caused by the user's input or environment, with a message written for people."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\n  hint: {hint}")


class ConfigError(TaskmixError):
    """A suite or run configuration that cannot be read or is not valid."""


class DataError(TaskmixError):
    """A task's data that cannot be read or does not fit its declaration."""


class ModelError(TaskmixError):
    """A model that cannot be found or loaded."""


class StoreError(TaskmixError):
    """A run store that cannot be opened or is inconsistent."""


class Stopped(KeyboardInterrupt):
    """Work stopped by Ctrl-C (or SIGTERM, ``signal`` 15, which the command line turns into this):
    still a KeyboardInterrupt, carrying what was kept (e.g. "3 of 8 runs are finished and kept in
    runs/taskmix.db") when the code it passed through knows."""

    def __init__(self, message: str = "", *, signal: int | None = None):
        super().__init__(message)
        self.message = message
        self.signal = signal


class Interrupted(TaskmixError):
    """How the command line reports a :class:`KeyboardInterrupt`: what was kept, exit code 130
    (Ctrl-C) or 143 (SIGTERM), as shells report a process ended by that signal."""

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int = 130):
        super().__init__(message, hint=hint)
        self.exit_code = exit_code
