"""The first screen: PFs with the tasks beside them, the selected PF's VFs, pools as bars."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from vfpool_tui.tui import facts
from vfpool_tui.tui.screens.base import ViewScreen
from vfpool_tui.tui.view import PF_COLUMNS, VF_COLUMNS, Index, legend, pf_rows, safe, vf_rows
from vfpool_tui.tui.widgets.banner import Status
from vfpool_tui.tui.widgets.keyed_table import KeyedTable
from vfpool_tui.tui.widgets.pool_summary import PoolSummary
from vfpool_tui.tui.widgets.tasks import TasksPanel


class HostScreen(ViewScreen):
    HELP_TITLE = "Host view"
    CSS_PATH = "host.tcss"

    def __init__(self) -> None:
        super().__init__()
        self.pf_key: str | None = None  # the PF whose VFs are shown

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="top"):
            with Vertical(id="pf-box", classes="box"):
                yield KeyedTable(PF_COLUMNS, id="pfs")
                yield Static("", id="no-pfs")
            with Vertical(id="tasks-box", classes="box"):
                yield TasksPanel(id="tasks")
        with Vertical(id="vf-box", classes="box"):
            yield KeyedTable(VF_COLUMNS, id="vfs")
        with Vertical(id="pools-box", classes="box"):
            yield PoolSummary(id="pool-summary")

    def on_mount(self) -> None:
        self.query_one("#pf-box").border_title = "PFs"
        self.query_one("#tasks-box").border_title = "Tasks"
        self.query_one("#vf-box").border_title = "VFs"
        self.query_one("#pools-box").border_title = "Pools"
        self.query_one("#no-pfs").display = False
        self.query_one("#pfs", KeyedTable).focus()
        super().on_mount()

    def update_status(self, status: Status) -> None:
        super().update_status(status)
        self.query_one(TasksPanel).set_tasks(self.app.tasks())

    # ------------------------------------------------------------------ data

    def show(self, ix: Index) -> None:
        pfs = self.query_one("#pfs", KeyedTable)
        pfs.set_rows(pf_rows(ix))
        empty = not ix.scan.host.pfs
        pfs.display = not empty
        note = self.query_one("#no-pfs", Static)
        note.display = empty
        if empty:
            msg = Text("No SR-IOV capable NIC found on this host.", style="bold")
            for e in ix.scan.host.errors:
                msg.append("\n" + safe(e), style="dim")
            note.update(msg)
        key = pfs.current_key
        if key not in ix.pf_by_pci and not pfs.filter_text:
            key = ix.scan.host.pfs[0].pci if ix.scan.host.pfs else None
        self.show_vfs(ix, key)
        self.query_one(PoolSummary).show(ix, self.size.width)
        self.query_one(TasksPanel).set_tasks(self.app.tasks())

    def show_vfs(self, ix: Index, pf_key: str | None) -> None:
        self.pf_key = pf_key
        pf = ix.pf_by_pci.get(pf_key) if pf_key else None
        vfs = self.query_one("#vfs", KeyedTable)
        vfs.set_rows(vf_rows(ix, pf))
        box = self.query_one("#vf-box")
        if pf is None:
            hidden = bool(self.query_one("#pfs", KeyedTable).filter_text)
            title = Text("VFs · no PF matches the filter" if hidden else "VFs")
        elif not pf.vfs:
            title = Text(f"VFs of {safe(pf.name)}: none created (0/{pf.totalvfs})")
        else:
            title = Text(f"VFs of {safe(pf.name)} · {pf.numvfs}/{pf.totalvfs}")
        title.append(" ── ")
        title.append_text(legend(short=True, unknown=ix.scan.libvirt_error is not None))
        box.border_title = title

    def filter_applied(self, table: KeyedTable) -> None:
        """The VF pane shows the PF under the cursor, never one the filter hides (none: empty)."""
        ix = self.app.index
        if ix is not None and table.id == "pfs" and table.current_key != self.pf_key:
            self.show_vfs(ix, table.current_key)

    @on(DataTable.RowHighlighted, "#pfs")
    def _pf_highlighted(self, event: DataTable.RowHighlighted) -> None:
        ix = self.app.index
        key = event.row_key.value if event.row_key else None
        if ix is not None and key != self.pf_key:
            self.show_vfs(ix, key)

    @on(DataTable.RowSelected, "#pfs")
    def _pf_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a PF: into its VFs."""
        ix = self.app.index
        key = event.row_key.value if event.row_key else None
        if ix is not None and key != self.pf_key:
            self.show_vfs(ix, key)
        self.query_one("#vfs", KeyedTable).focus()

    @on(DataTable.RowSelected, "#vfs")
    async def _vf_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a VF: to the guest holding it, or its details when nobody does."""
        ix = self.app.index
        key = event.row_key.value if event.row_key else None
        if ix is None or key is None:
            return
        held = ix.holders.get(key, [])
        if held:
            guest = held[0][0]
            await self.app.open_view_at("guests", guest.uuid or guest.name)
        else:
            self.action_details()

    def go_back(self) -> None:
        vfs = self.query_one("#vfs", KeyedTable)
        if vfs.has_focus:
            self.query_one("#pfs", KeyedTable).focus()

    def details(self, ix: Index, table: KeyedTable, key: str):
        if table.id == "pfs":
            pf = ix.pf_by_pci.get(key)
            return facts.pf_details(ix, pf) if pf else None
        vf = ix.vfs.get(key)
        return facts.vf_details(ix, vf) if vf else None
