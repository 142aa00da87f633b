"""Problems from the core, each with its explanation below the list."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from vfpool_tui.tui import facts
from vfpool_tui.tui.screens.base import ViewScreen
from vfpool_tui.tui.view import PROBLEM_COLUMNS, Index, problem_by_key, problem_rows, safe
from vfpool_tui.tui.widgets.keyed_table import KeyedTable


class ProblemsScreen(ViewScreen):
    HELP_TITLE = "Problems view"
    DEFAULT_CSS = """
    ProblemsScreen #problems-box { height: 1fr; }
    ProblemsScreen #explain-box { height: 40%; }
    ProblemsScreen #explain { padding: 0 1; }
    """

    def compose_body(self) -> ComposeResult:
        with Vertical(id="problems-box", classes="box"):
            yield KeyedTable(PROBLEM_COLUMNS, id="problems")
        with VerticalScroll(id="explain-box", classes="box"):
            yield Static("", id="explain")

    def on_mount(self) -> None:
        self.query_one("#explain-box").border_title = "Explanation"
        self.query_one("#problems", KeyedTable).focus()
        super().on_mount()

    def show(self, ix: Index) -> None:
        table = self.query_one("#problems", KeyedTable)
        table.set_rows(problem_rows(ix))
        n = len(ix.scan.problems)
        self.query_one("#problems-box").border_title = f"Problems · {n}" if n else "Problems · none found"
        self._explain(table.current_key)

    def _explain(self, key: str | None) -> None:
        ix = self.app.index
        p = problem_by_key(ix, key) if ix is not None and key else None
        if p is None:
            text = Text("No problem found on this host." if ix is not None and not ix.scan.problems
                        else "", style="green")
        else:
            text = Text(safe(p.message))
        self.query_one("#explain", Static).update(text)

    @on(DataTable.RowHighlighted, "#problems")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._explain(event.row_key.value if event.row_key else None)

    @on(DataTable.RowSelected, "#problems")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.action_details()

    def details(self, ix: Index, table: KeyedTable, key: str):
        p = problem_by_key(ix, key)
        return facts.problem_details(p) if p else None
