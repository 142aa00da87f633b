"""The hosts overview (several ``--connect``): one row per host, Enter opens that host's views.

Per host: its connection, PFs, VFs free / in pools / hard-coded, pools near exhaustion and
problems, from each host's own backend (``tui/hosts.py``); a host that is slow or lost shows as
such while the others fill in. The pane below says more of the highlighted host.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from vfpool_tui.tui.hosts_view import HINT, HOST_COLUMNS, host_info, host_rows
from vfpool_tui.tui.screens.base import ViewScreen
from vfpool_tui.tui.view import Index, safe
from vfpool_tui.tui.widgets.banner import Banner, Status, render_hosts_status
from vfpool_tui.tui.widgets.keyed_table import KeyedTable


class HostsScreen(ViewScreen):
    BINDINGS = [Binding("enter", "open", "Open host")]  # the table's Enter does it; this shows it
    DEFAULT_CSS = """
    HostsScreen #hosts-box { height: auto; max-height: 60%; }
    HostsScreen #hosts { height: auto; max-height: 100%; }
    HostsScreen #host-info-box { height: 1fr; }
    HostsScreen #host-info { padding: 0 1; }
    """

    def compose_body(self) -> ComposeResult:
        with Vertical(id="hosts-box", classes="box"):
            yield KeyedTable(HOST_COLUMNS, id="hosts")
        with VerticalScroll(id="host-info-box", classes="box"):
            yield Static("", id="host-info")

    def on_mount(self) -> None:
        self.query_one("#hosts-box").border_title = "Hosts"
        self.query_one("#host-info-box").border_title = "Host"
        self.query_one("#hosts", KeyedTable).focus()
        super().on_mount()

    # ------------------------------------------------------------------ data

    def update_status(self, status: Status) -> None:
        banner = self.query_one(Banner)
        banner.set_class(False, "-error")
        banner.update(render_hosts_status([h.status for h in self.app.sessions.values()],
                                          self.app.settings.clock()))

    def refresh_view(self) -> None:
        gen = self.app.hosts_generation
        if gen == self._generation:
            return
        self._generation = gen
        table = self.query_one("#hosts", KeyedTable)
        table.set_rows(host_rows(self.app.sessions.values()))
        box = self.query_one("#hosts-box")
        box.border_title = f"Hosts · {len(self.app.sessions)}"
        if table.current_key is None and self.app.current.key is not None:
            table.select_key(self.app.current.key)
        self._show_info(table.current_key)
        if self._pending_key is not None:
            self.select(self._pending_key)

    def show(self, ix: Index) -> None:  # the overview is not one host's view
        pass

    def _show_info(self, key: str | None) -> None:
        h = self.app.sessions.get(key) if key is not None else None
        info = self.query_one("#host-info", Static)
        box = self.query_one("#host-info-box")
        if h is None:
            info.update(Text(""))
            box.border_title = "Host"
            return
        info.update(Text.assemble(host_info(h), HINT))
        box.border_title = Text(f"Host {safe(h.label)}")

    @on(DataTable.RowHighlighted, "#hosts")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_info(event.row_key.value if event.row_key else None)

    @on(DataTable.RowSelected, "#hosts")
    async def _selected(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value if event.row_key else None
        if key is not None:
            await self.app.open_host(key)

    async def action_open(self) -> None:
        key = self.current_host_key()
        if key is not None:
            await self.app.open_host(key)

    # ------------------------------------------------------------------ navigation

    def go_back(self) -> None:
        pass  # the first screen: nothing behind it

    def action_details(self) -> None:
        from vfpool_tui.tui.screens.details import DetailsScreen

        table = self.query_one("#hosts", KeyedTable)
        h = self.app.sessions.get(table.current_key) if table.current_key is not None else None
        if h is None:
            self.notify("Nothing selected.", markup=False)
            return
        self.app.push_screen(DetailsScreen(Text(f" Host {safe(h.label)} "), [host_info(h)]))

    def current_host_key(self) -> str | None:
        return self.query_one("#hosts", KeyedTable).current_key
