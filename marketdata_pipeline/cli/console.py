"""Rich output for people, plain output for pipes.

Tables are coloured on a terminal; when standard output is a pipe or a file they stay plain aligned text,
which scripts (and the tests) parse. FORCE_COLOR=1 forces the terminal form, NO_COLOR drops colours.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.table import Table


def stdout() -> Console:
    # Created per call: sys.stdout may have been replaced (pytest's capsys, redirect_stdout).
    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def stderr() -> Console:
    return Console(file=sys.stderr, highlight=False)


def on_terminal() -> bool:
    return stdout().is_terminal


def print_table(columns: Sequence[str], rows: Iterable[Sequence[str]], styles: Sequence[str | None] = (),
                *, title: str | None = None, header: bool = True) -> None:
    """A coloured table on a terminal, else columns separated by two spaces (a header line if `header`)."""
    rows = [list(r) for r in rows]
    if on_terminal():
        table = Table(title=title, header_style="bold cyan")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row, style in zip(rows, [*styles, *[None] * (len(rows) - len(styles))], strict=False):
            table.add_row(*row, style=style)
        stdout().print(table)
        return
    lines = ([list(columns)] if header else []) + rows
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))] if lines else []
    for line in lines:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())
