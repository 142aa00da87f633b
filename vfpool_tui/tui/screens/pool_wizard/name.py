"""Pool wizard step 3: the network's name, managed, VLAN, with the exact network XML beside them."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Checkbox, Input, Label, Static

from vfpool_tui.tui import pool_wizard_view as view
from vfpool_tui.tui.screens.pool_wizard.base import BACK, NEXT, TAIL, PoolWizard, SpaceCheckbox


class NameStep(PoolWizard):
    STEP = view.NAME
    BINDINGS = [NEXT, BACK, *TAIL]

    def compose_step(self) -> ComposeResult:
        with Horizontal(id=view.NAME, classes="wiz-step"):
            with VerticalScroll(id="form"):
                yield Static("", id="name-pf")
                yield Label("Network name", classes="field-label")
                yield Input(id="name", compact=True, placeholder="e.g. sriov-pool-a")
                yield Static("", id="name-why")
                yield SpaceCheckbox("managed='yes': libvirt binds VFs", self.state.managed, id="managed",
                                    compact=True)
                yield Label("VLAN tag (optional, 1-4094)", classes="field-label")
                yield Input(self.state.vlan, id="vlan", type="integer", compact=True, max_length=5,
                            placeholder="none")
                yield Static("", id="vlan-why")
            with VerticalScroll(id="preview-box", classes="box"):
                yield Static("", id="xml-preview")

    def on_mount(self) -> None:
        self.query_one("#preview-box").border_title = "Network XML (exactly what is defined)"

    def show(self) -> None:
        state = self.state
        pf = state.pf
        assert pf is not None
        state.plan = None
        self.query_one("#name-pf", Static).update(view.name_head(pf, state.numvfs))
        if not state.name:
            state.name = view.suggest_name(pf, state.taken_names())
        field = self.query_one("#name", Input)
        if field.value != state.name:
            field.value = state.name
        self.update_form()
        super().show()
        field.focus()

    def names_known(self) -> None:
        self.update_form()

    def _form(self):
        state = self.state
        return view.check_form(state.name, state.vlan, state.taken_names(), state.taken_known)

    def update_form(self) -> None:
        state = self.state
        pf = state.pf
        if pf is None:
            return
        vlan, _problems, name_line, vlan_line = self._form()
        self.query_one("#managed", Checkbox).label = view.managed_label(state.managed)
        self.query_one("#name-why", Static).update(name_line)
        self.query_one("#vlan-why", Static).update(vlan_line)
        self.query_one("#xml-preview", Static).update(view.preview(state.name, pf, state.managed, vlan))

    @on(Input.Changed, "#name")
    @on(Input.Changed, "#vlan")
    @on(Checkbox.Changed, "#managed")
    def _form_changed(self, _event: Message) -> None:
        self.state.name = self.query_one("#name", Input).value
        self.state.vlan = self.query_one("#vlan", Input).value
        self.state.managed = self.query_one("#managed", Checkbox).value
        self.update_form()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_next()

    def action_next(self) -> None:
        from vfpool_tui.tui.screens.pool_wizard.review import ReviewStep

        _vlan, problems, _n, _v = self._form()
        if problems:
            self.notify(problems[0].plain.lstrip("✖ "), severity="warning", markup=False)
            return
        self.go(ReviewStep(self.state))
