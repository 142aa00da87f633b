"""Guests with their VF use, and which are candidates for conversion to a pool."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable

from vfpool_tui.tui import facts
from vfpool_tui.tui.screens.base import ViewScreen
from vfpool_tui.tui.view import GUEST_COLUMNS, Index, guest_rows
from vfpool_tui.tui.widgets.keyed_table import KeyedTable


class GuestsScreen(ViewScreen):
    HELP_TITLE = "Guests view"
    BINDINGS = [Binding("v", "toggle_all", "VF users/all"), Binding("w", "why", "Why", priority=True)]
    DEFAULT_CSS = """
    GuestsScreen #guests-box { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.only_with_vfs = True

    def compose_body(self) -> ComposeResult:
        with Vertical(id="guests-box", classes="box"):
            yield KeyedTable(GUEST_COLUMNS, id="guests")

    def on_mount(self) -> None:
        self.query_one("#guests", KeyedTable).focus()
        super().on_mount()

    def show(self, ix: Index) -> None:
        rows = guest_rows(ix, only_with_vfs=self.only_with_vfs)
        self.query_one("#guests", KeyedTable).set_rows(rows)
        cands = sum(1 for g in ix.scan.guests if g.convertible)
        what = "guests using VFs" if self.only_with_vfs else "all guests"
        box = self.query_one("#guests-box")
        box.border_title = f"Guests · {len(rows)} {what} · {cands} to convert"
        box.border_subtitle = "■hard-coded VF  ●pool  → conversion candidate · v: all/VF users · w: why"

    def action_toggle_all(self) -> None:
        self.only_with_vfs = not self.only_with_vfs
        if self.app.index is not None:
            self.show(self.app.index)

    @property
    def guest_key(self) -> str | None:
        """The guest under the cursor: ``c`` (app.action_convert) opens the converter with it marked."""
        return self.query_one("#guests", KeyedTable).current_key

    def selected_guest_name(self) -> str | None:
        ix = self.app.index
        key = self.query_one("#guests", KeyedTable).current_key
        if ix is None or key is None:
            return None
        g = ix.guest_by_uuid.get(key) or ix.guest_by_name.get(key)
        return g.name if g else None

    def action_why(self) -> None:
        """Why the guest under the cursor does not (or would not) start."""
        self.app.action_why(self.selected_guest_name() or "")

    @on(DataTable.RowSelected, "#guests")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.action_details()

    def select(self, key: str) -> None:
        ix = self.app.index
        if ix is not None and self.only_with_vfs:
            g = ix.guest_by_uuid.get(key) or ix.guest_by_name.get(key)
            if g is not None and not g.vf_uses:
                self.action_toggle_all()
        super().select(key)

    def details(self, ix: Index, table: KeyedTable, key: str):
        g = ix.guest_by_uuid.get(key) or ix.guest_by_name.get(key)
        return facts.guest_details(ix, g) if g else None
