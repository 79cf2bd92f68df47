"""What a command prints: rich tables and messages on a console that never hard-wraps, or
(``--json``) one JSON object of the same tables on stdout with the messages on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

# Tables are wide: when output goes to a file or pipe, do not wrap them at 80 columns. Messages are
# never hard-wrapped (soft_wrap): a line piped into a log stays one line, whatever COLUMNS says.
console = Console(soft_wrap=True) if sys.stdout.isatty() else Console(width=200, soft_wrap=True)
err = Console(stderr=True, soft_wrap=True, highlight=False)


class Output:
    """Where a command's results go: rich tables and messages, or (``--json``) one JSON object of
    the same tables on stdout with the messages on stderr."""

    def __init__(self, as_json: bool = False):
        self.as_json = as_json
        self.tables: dict[str, Any] = {}

    def table(self, key: str, frame, title: str | None = None, columns=None) -> None:
        """Print a table: a pandas frame, or a list of dicts (a row each) with its ``columns``."""
        if isinstance(frame, list):
            columns = list(columns or (frame[0] if frame else []))
            rows = [[r.get(c) for c in columns] for r in frame]
            records = [dict(zip(columns, r, strict=True)) for r in rows]
        else:
            columns = list(frame.columns)
            rows = [list(r) for _, r in frame.iterrows()]
            records = json.loads(frame.to_json(orient="records"))
        if self.as_json:
            self.tables[key] = records
            return
        table = Table(title=title, show_lines=False, header_style="bold")
        for col in columns:
            table.add_column(str(col), overflow="fold")
        for row in rows:
            table.add_row(*[Text(_cell(v)) for v in row])  # Text: a '[' in a name is not markup
        console.print(table)

    def value(self, key: str, value: Any) -> None:
        """A result that is not a table (a path, a list of groups); kept in the JSON object."""
        if self.as_json:
            self.tables[key] = value

    def say(self, text: str, markup: bool = True) -> None:
        (err if self.as_json else console).print(text, markup=markup, highlight=False)

    def done(self) -> None:
        if self.as_json:
            print(json.dumps(self.tables, indent=1, default=str))


def _cell(v) -> str:
    if isinstance(v, float) and v != v:  # NaN: nothing measured
        return "-"
    if isinstance(v, float):
        return f"{v:,.4g}"
    return str(v)


def show_partition(out: Output, key: str, groups: list[list[str]], title: str) -> None:
    together = ["+".join(g) for g in groups if len(g) > 1]
    alone = [g[0] for g in groups if len(g) == 1]
    out.value(key, groups)
    out.say(
        f"[bold]{title}:[/] {escape('; '.join(together) or '(no group)')}"
        + (f"   alone: {', '.join(alone)}" if alone else "")
    )
