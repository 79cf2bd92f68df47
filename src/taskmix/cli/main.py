"""The entry point: runs the app; every error a user can cause is one message and exit code 2, an
interrupt says what was kept and exits 130 (SIGTERM: 143)."""

from __future__ import annotations

import functools
import inspect
import signal
import sys

from rich.markup import escape

from taskmix.cli.commands import _state, app
from taskmix.cli.output import console, err
from taskmix.errors import Interrupted, Stopped, TaskmixError


def _interruptible(command):
    """A command whose Ctrl-C (or SIGTERM) ends as :class:`Interrupted`: typer would turn a
    KeyboardInterrupt into a silent exit code; this one says what was kept."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt as e:
            raise Interrupted(
                getattr(e, "message", "") or "nothing half-written is kept",
                hint="run the same command again to carry on; finished runs are not run again",
                exit_code=128 + (getattr(e, "signal", None) or signal.SIGINT),
            ) from None

    return run


def unwrapped(doc: str) -> str:
    """A docstring as help text: the lines of a paragraph joined (typer keeps a docstring's line
    breaks, so at any other width the text is ragged); indented lines (examples) kept as they are.
    Typer dedents what follows the first paragraph as one block, so an example block keeps its
    indentation only behind a paragraph of its own ("Examples:") that is not that block's first
    line — the commands' docstrings are written so, and a test holds them to it."""
    lines: list[str] = []
    for line in inspect.cleandoc(doc).splitlines():
        prose = line.strip() and not line.startswith(" ")
        if prose and lines and lines[-1].strip() and not lines[-1].startswith(" "):
            lines[-1] += " " + line
        else:
            lines.append(line)
    return "\n".join(lines)


for _info in app.registered_commands:
    _info.help = unwrapped(_info.help or _info.callback.__doc__ or "")
    _info.callback = _interruptible(_info.callback)


def _on_sigterm(signum, frame) -> None:
    raise Stopped(signal=signum)


def _click_error(e: BaseException, name: str) -> bool:
    """Whether ``e`` is click's exception ``name``, from click itself or the copy typer bundles."""
    return any(c.__name__ == name for c in type(e).__mro__)


def _fail(message: str, hint: str | None, code: int, label: str = "error") -> None:
    err.print(f"[bold red]{label}:[/] {escape(message)}")
    if hint:
        err.print(f"[yellow]hint:[/] {escape(hint)}")
    sys.exit(code)


def _failed(e: TaskmixError) -> None:
    label = "error"
    if isinstance(e, Interrupted):
        label = "terminated (SIGTERM)" if e.exit_code == 128 + signal.SIGTERM else "interrupted"
    _fail(e.message, e.hint, e.exit_code, label)


def _click_failed(e: Exception) -> None:
    """Exit for an exception of click (or typer's copy of it) or of the file system."""
    if _click_error(e, "NoArgsIsHelpError"):  # `taskmix` alone, or a command group without one
        console.print(e.format_message(), markup=False, highlight=False)
        sys.exit(0)
    if _click_error(e, "ClickException"):  # a usage error: unknown option or command, bad value
        ctx = getattr(e, "ctx", None)
        command = ctx.command_path if ctx is not None else "taskmix"
        lists = "the commands" if command == "taskmix" else "its options"
        _fail(e.format_message().strip(), f"`{command} --help` lists {lists}", 2)
    if _click_error(e, "Abort"):
        _fail("interrupted", None, 130, "interrupted")
    if _click_error(e, "Exit"):
        sys.exit(e.exit_code)
    if isinstance(e, OSError):  # the file system refused something a check did not foresee
        where = f"{e.filename}: " if e.filename else ""
        _fail(f"{where}{e.strerror or e}", "run again with --debug to see where it happened", 2)
    raise e


def main() -> None:
    """Entry point: run the app. Input errors and command-line mistakes become one message and
    exit code 2; Ctrl-C says what was kept and exits 130 (SIGTERM: 143)."""
    if hasattr(signal, "SIGTERM"):
        try:
            signal.signal(signal.SIGTERM, _on_sigterm)
        except ValueError:  # not the main thread (e.g. called from a test runner's thread)
            pass
    try:
        code = app(standalone_mode=False)
    except TaskmixError as e:
        if _state["debug"]:
            raise
        _failed(e)
    except Exception as e:  # click's (or typer's copy of click's) exceptions, and the file system's
        if _state["debug"]:
            raise
        _click_failed(e)
    if isinstance(code, int) and code:  # typer's way of reporting an interrupt outside a command
        if code == 130:
            _fail("interrupted", None, 130, "interrupted")
        sys.exit(code)
