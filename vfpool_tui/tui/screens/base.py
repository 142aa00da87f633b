"""What every view screen shares: banner, filter bar, footer, details, redraw on a new scan."""

from __future__ import annotations

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Input, Label

from vfpool_tui.tui.view import Index
from vfpool_tui.tui.widgets.banner import Banner, Status
from vfpool_tui.tui.widgets.keyed_table import KeyedTable


class FilterBar(Horizontal):
    DEFAULT_CSS = """
    FilterBar { height: 1; display: none; background: $boost; }
    FilterBar.-shown { display: block; }
    FilterBar Label { width: auto; padding: 0 1; color: $accent; text-style: bold; }
    FilterBar Input, FilterBar Input:focus { border: none; height: 1; padding: 0; width: 1fr;
                                             background: $boost; }
    """

    def compose(self) -> ComposeResult:
        yield Label("/ filter")
        # compact, and :focus styled above: Textual's own Input:focus border would hide the text
        yield Input(placeholder="type to filter the table · Enter keeps it · Esc clears", id="filter-input",
                    compact=True)


class ViewScreen(Screen):
    """A top-level view. Subclasses compose the body and implement ``show(ix)``."""

    BINDINGS = [
        # priority (here and for the keys that open a field: w, e, :): the field has the focus
        # before the next key is handled, so a burst like "/mlx" lands in it, never as the
        # view's keys. A focused input still gets these characters (Textual leaves out the
        # bindings of keys a focused input consumes, priority or not).
        Binding("slash", "filter", "Filter", key_display="/", priority=True),
        Binding("d", "details", "Details"),
        Binding("escape", "back", "Back", show=False),
        # priority: the focus moves before the next key is handled, so text typed right after
        # Tab lands in the field it moved to (not in the pane it left, nor as the app's keys)
        Binding("tab", "app.focus_next", "Next pane", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", "Previous pane", show=False, priority=True),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._generation = -1
        self._table: KeyedTable | None = None
        self._pending_key: str | None = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Banner(id="banner")
        yield from self.compose_body()
        yield FilterBar(id="filter-bar")
        yield Footer(compact=True, show_command_palette=False)

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError

    def on_mount(self) -> None:
        self.update_status(self.app.status)
        self.refresh_view()

    def on_screen_resume(self) -> None:
        self.update_status(self.app.status)
        self.refresh_view()

    # ------------------------------------------------------------------ data

    def refresh_view(self) -> None:
        ix: Index | None = self.app.index
        if ix is None or self._generation == self.app.generation:
            return
        self._generation = self.app.generation
        self.show(ix)
        if self._pending_key is not None:
            self.select(self._pending_key)

    def show(self, ix: Index) -> None:
        raise NotImplementedError

    def update_status(self, status: Status) -> None:
        self.query_one(Banner).set_status(status)

    def primary_table(self) -> KeyedTable | None:
        tables = list(self.query(KeyedTable))
        return tables[0] if tables else None

    def select(self, key: str) -> None:
        """Put the cursor on the row with this key (now, or after the first scan arrives)."""
        table = self.primary_table()
        if table is not None and table.select_key(key):
            self._pending_key = None
            table.focus()
        else:
            self._pending_key = key

    # ------------------------------------------------------------------ filter

    @on(events.DescendantFocus)
    def _track_table(self, event: events.DescendantFocus) -> None:
        if isinstance(event.widget, KeyedTable):
            self._table = event.widget

    def current_table(self) -> KeyedTable | None:
        if isinstance(self.focused, KeyedTable):
            return self.focused
        return self._table or self.primary_table()

    def action_filter(self) -> None:
        table = self.current_table()
        if table is None:
            return
        self._table = table
        bar = self.query_one(FilterBar)
        bar.add_class("-shown")
        field = self.query_one("#filter-input", Input)
        field.value = table.filter_text
        # at once, not on the next turn of the event loop (Widget.focus defers): the keys of a paste
        # that follow the / are already queued, and must land in the field, not on the table
        self.set_focus(field)

    @on(Input.Changed, "#filter-input")
    def _filter_changed(self, event: Input.Changed) -> None:
        if self._table is not None:
            self._table.set_filter(event.value)
            self.filter_applied(self._table)

    def filter_applied(self, table: KeyedTable) -> None:
        """``table`` shows other rows now: views that show more about its row follow it."""

    @on(Input.Submitted, "#filter-input")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if not event.value:
            self.query_one(FilterBar).remove_class("-shown")
        if self._table is not None:
            self._table.focus()

    def clear_filter(self) -> bool:
        bar = self.query_one(FilterBar)
        active = bar.has_class("-shown") or any(t.filter_text for t in self.query(KeyedTable))
        if not active:
            return False
        bar.remove_class("-shown")
        field = self.query_one("#filter-input", Input)
        with field.prevent(Input.Changed):
            field.value = ""
        for t in self.query(KeyedTable):
            if t.filter_text:
                t.set_filter("")
                self.filter_applied(t)
        if self._table is not None:
            self._table.focus()
        return True

    # ------------------------------------------------------------------ navigation

    def action_back(self) -> None:
        if self.clear_filter():
            return
        self.go_back()

    def go_back(self) -> None:
        self.app.action_view("host")

    def action_details(self) -> None:
        from vfpool_tui.tui.screens.details import DetailsScreen

        ix = self.app.index
        table = self.current_table()
        if ix is None or table is None or table.current_key is None:
            self.notify("Nothing selected.", markup=False)
            return
        content = self.details(ix, table, table.current_key)
        if content is not None:
            self.app.push_screen(DetailsScreen(*content))

    def details(self, ix: Index, table: KeyedTable, key: str):
        """(title, [renderables]) for the row ``key`` of ``table``, or None."""
        return None
