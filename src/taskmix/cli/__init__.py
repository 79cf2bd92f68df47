"""The `taskmix` command line: one thin function per command (:mod:`taskmix.cli.commands`); the
work is in the library.

Every command parses its flags into the library's config objects (one helper, always validated),
calls one library function and prints what it returns (``--json``: the same tables as JSON).
Input errors are one readable message and exit code 2 (``--debug`` shows the traceback); Ctrl-C
says what was kept and exits 130.

The vocabulary is the same on every command: the suite is the first argument; ``--tasks`` keeps
some of its tasks; ``--adaptation`` is how a model trains, ``--method`` how tasks are grouped;
``--config``, ``--device``, ``--executor`` and ``--seeds`` wherever a command trains.
"""

from __future__ import annotations

from taskmix.cli.commands import _state, app  # noqa: F401  (_state: --debug, read by main and tests)
from taskmix.cli.main import main

__all__ = ["app", "main"]
