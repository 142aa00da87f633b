"""Pools with capacity, use and free VFs; a full or inactive pool stands out."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable

from vfpool_tui.tui import facts
from vfpool_tui.tui.screens.base import ViewScreen
from vfpool_tui.tui.view import POOL_COLUMNS, Index, pool_rows
from vfpool_tui.tui.widgets.keyed_table import KeyedTable


class PoolsScreen(ViewScreen):
    HELP_TITLE = "Pools view"
    DEFAULT_CSS = """
    PoolsScreen #pools-box { height: 1fr; }
    """

    def compose_body(self) -> ComposeResult:
        with Vertical(id="pools-box", classes="box"):
            yield KeyedTable(POOL_COLUMNS, id="pools")

    def on_mount(self) -> None:
        self.query_one("#pools", KeyedTable).focus()
        super().on_mount()

    def show(self, ix: Index) -> None:
        self.query_one("#pools", KeyedTable).set_rows(
            pool_rows(ix, 12 if self.size.width < 100 else 24, self.app.pool_history))
        box = self.query_one("#pools-box")
        n = len(ix.scan.pools)
        box.border_title = f"Pools · {n}" if n else "Pools · none yet: press n to create one"
        box.border_subtitle = "█ in use  ▓ blocked (hard-coded)  ░ free"

    @on(DataTable.RowSelected, "#pools")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.action_details()

    def details(self, ix: Index, table: KeyedTable, key: str):
        p = ix.pool_by_name.get(key)
        return facts.pool_details(ix, p, self.app.pool_history.summary(key)) if p else None
