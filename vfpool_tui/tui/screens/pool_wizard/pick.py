"""Pool wizard step 1: pick a PF (the first screen of the wizard; ``n`` opens it)."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from vfpool_tui.core.model import Scan
from vfpool_tui.core.pools import create as pool_create
from vfpool_tui.core.pools.create import PfChoice
from vfpool_tui.tui import pool_wizard_view as view
from vfpool_tui.tui.screens.pool_wizard.base import CLOSE, NEXT, TAIL, PoolWizard, WizardState, network_names
from vfpool_tui.tui.view import safe
from vfpool_tui.tui.widgets.keyed_table import StableDataTable


class PickStep(PoolWizard):
    STEP = view.PICK
    BINDINGS = [NEXT, CLOSE, Binding("v", "numvfs", "VF count"), *TAIL]

    def __init__(self, preselect: str | None = None, *, sysfs_root: str | None = None,
                 udev_root: str | None = None) -> None:
        super().__init__(WizardState(preselect=preselect, sysfs_root=sysfs_root, udev_root=udev_root))

    def compose_step(self) -> ComposeResult:
        with Vertical(id=view.PICK, classes="wiz-step"):
            yield StableDataTable(id="pf-table", cursor_type="row", zebra_stripes=False)
            with VerticalScroll(id="pf-info-box", classes="box"):
                yield Static("", id="pf-info")

    def on_mount(self) -> None:
        self.query_one("#pf-info-box").border_title = "PF"
        table = self.query_one("#pf-table", DataTable)
        for key, label in view.PF_COLUMNS:
            table.add_column(label, key=key)
        self.load_scan(self.app.scan)
        self._fetch_names()

    def show(self) -> None:
        self.state.via_vfs = False
        super().show()
        self.query_one("#pf-table").focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("next", "numvfs"):
            c = self._highlighted()
            return True if c is not None and c.selectable else None
        return True

    @property
    def choices(self) -> dict[str, PfChoice]:
        return self.state.choices

    def load_scan(self, scan: Scan | None) -> None:
        state = self.state
        state.scan = scan
        table = self.query_one("#pf-table", DataTable)
        table.clear()
        state.choices = {}
        if scan is None:
            self.query_one("#pf-info", Static).update(Text("No scan yet: wait for the first scan, "
                                                           "then press n again.", style="bold"))
            return
        for c in pool_create.pf_choices(scan):
            state.choices[c.pf.pci] = c
            table.add_row(*view.choice_cells(c, view.through_libvirt(scan)), key=c.pf.pci)
        if not state.choices:
            self.query_one("#pf-info", Static).update(Text("No SR-IOV capable NIC found on this host.",
                                                           style="bold"))
            return
        keys = list(state.choices)
        if state.preselect in state.choices:
            row = keys.index(state.preselect)
        else:  # first PF that can be picked
            row = next((i for i, k in enumerate(keys) if state.choices[k].selectable), 0)
        table.move_cursor(row=row)
        self._show_choice(state.choices[keys[row]])

    def _highlighted(self) -> PfChoice | None:
        if not self.is_mounted:
            return None
        table = self.query_one("#pf-table", DataTable)
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:
            return None
        return self.state.choices.get(key)

    @on(DataTable.RowHighlighted, "#pf-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value if event.row_key else None
        if key in self.state.choices:
            self._show_choice(self.state.choices[key])
        self.refresh_bindings()

    @on(DataTable.RowSelected, "#pf-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_next()

    def _show_choice(self, c: PfChoice) -> None:
        self.query_one("#pf-info", Static).update(view.choice_info(c, self.state.scan, self.readonly))
        self.query_one("#pf-info-box").border_title = Text(f"PF {safe(c.pf.name)}")

    def _fetch_names(self) -> None:
        future = self.call(network_names)
        if future is None:
            return

        async def wait() -> None:
            try:
                names = await asyncio.wrap_future(future)
            except Exception:
                return  # the plan checks again with libvirt before anything is created
            self.state.taken = set(names)
            self.state.taken_known = True
            top = self.app.screen
            if isinstance(top, PoolWizard):
                top.names_known()

        self.run_worker(wait(), group="pool-wizard-names", exit_on_error=False)

    # ------------------------------------------------------------------ actions

    def action_next(self) -> None:
        from vfpool_tui.tui.screens.pool_wizard.name import NameStep
        from vfpool_tui.tui.screens.pool_wizard.vfs import VfsStep

        c = self._highlighted()
        if c is None:
            return
        if not c.selectable:
            self.notify(f"{c.pf.name}: {c.problem}", severity="warning", markup=False)
            return
        if c.pf.numvfs == 0 and view.through_libvirt(self.state.scan):
            self._refuse_numvfs(c)
            return
        self.state.choose(c)
        self.go(VfsStep(self.state) if c.pf.numvfs == 0 else NameStep(self.state))

    def _refuse_numvfs(self, c: PfChoice) -> None:
        self.notify(f"{c.pf.name}: {view.numvfs_refused(c.pf, self.state.scan)}", severity="warning",
                    markup=False)

    def action_numvfs(self) -> None:
        from vfpool_tui.tui.screens.pool_wizard.vfs import VfsStep

        c = self._highlighted()
        if c is None or not c.selectable:
            return
        if view.through_libvirt(self.state.scan):
            self._refuse_numvfs(c)
            return
        self.state.choose(c)
        self.go(VfsStep(self.state))

    def _came_back(self, _result: object) -> None:
        super()._came_back(_result)
        if self.state.closing:  # the wizard is closed: now the app may go on (c: convert)
            then = self.state.then
            if then is not None:
                self.app.call_later(then)
