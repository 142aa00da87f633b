"""Pool wizard step 2 (when the PF has no VFs, or on ``v``): how many VFs to enable."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Input, Label, Static

from vfpool_tui.tui import pool_wizard_view as view
from vfpool_tui.tui.screens.pool_wizard.base import BACK, NEXT, TAIL, PoolWizard


class VfsStep(PoolWizard):
    STEP = view.VFS
    BINDINGS = [NEXT, BACK, *TAIL]

    def compose_step(self) -> ComposeResult:
        with VerticalScroll(id=view.VFS, classes="wiz-step"):
            yield Static("", id="vfs-intro")
            yield Label("VFs to enable:", classes="field-label")
            yield Input(id="numvfs", type="integer", compact=True, max_length=4)
            yield Static("", id="numvfs-why")

    def show(self) -> None:
        pf = self.state.pf
        assert pf is not None
        self.state.via_vfs = True
        self.query_one("#vfs-intro", Static).update(view.vfs_intro(pf))
        field = self.query_one("#numvfs", Input)
        field.value = view.numvfs_start(pf, self.state.numvfs)
        self._check()
        super().show()
        field.focus()

    def _check(self) -> int | None:
        state = self.state
        assert state.pf is not None and state.scan is not None
        n, why = view.numvfs_check(state.scan, state.pf, self.query_one("#numvfs", Input).value)
        self.query_one("#numvfs-why", Static).update(why)
        return n

    @on(Input.Changed, "#numvfs")
    def _changed(self, _event: Input.Changed) -> None:
        self._check()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_next()

    def action_next(self) -> None:
        from vfpool_tui.tui.screens.pool_wizard.name import NameStep

        n = self._check()
        if n is None:
            return
        pf = self.state.pf
        assert pf is not None
        self.state.numvfs = None if n == pf.numvfs else n
        self.go(NameStep(self.state))

    def action_back(self) -> None:
        self.state.via_vfs = False
        super().action_back()
