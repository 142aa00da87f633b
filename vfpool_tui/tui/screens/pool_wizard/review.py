"""Pool wizard step 4: the plan, checked with libvirt; the udev rule offered; Enter asks to create."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Checkbox, Input, Static

from vfpool_tui.core.pools.create import PoolRefused
from vfpool_tui.tui import pool_wizard_view as view
from vfpool_tui.tui.screens.pool_wizard.base import BACK, TAIL, PoolWizard, SpaceCheckbox, make_plan
from vfpool_tui.tui.view import safe


class ReviewStep(PoolWizard):
    STEP = view.REVIEW
    BINDINGS = [Binding("enter", "create", "Create…", priority=True), BACK, *TAIL]

    def compose_step(self) -> ComposeResult:
        with VerticalScroll(id=view.REVIEW, classes="wiz-step"):
            yield Static("", id="review-text")
            yield SpaceCheckbox("", False, id="persist", compact=True)
            yield Static("", id="rule-text")
            yield Static("", id="review-steps")

    def on_mount(self) -> None:
        self._make_plan(persist=False)

    def show(self) -> None:
        super().show()
        box = self.query_one("#persist")
        if self.state.plan is not None and box.focusable:
            box.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "create":
            state = self.state
            return True if state.plan is not None and not state.planning and not self.readonly else None
        return True

    def _plan_kwargs(self, persist: bool) -> dict:
        state = self.state
        vlan, _problems, _n, _v = view.check_form(state.name, state.vlan, state.taken_names(),
                                                  state.taken_known)
        assert state.pf is not None
        return dict(pf_key=state.pf.pci, name=state.name, managed=state.managed, vlan=vlan,
                    numvfs=state.numvfs, persist=persist, **self.roots())

    def _make_plan(self, persist: bool) -> None:
        state = self.state
        if state.pf is None:
            return
        # the newest scan: a guest may have started since the wizard opened
        scan = self.app.scan or state.scan
        future = self.call(make_plan, scan, self._plan_kwargs(persist))
        state.plan = None
        state.planning = True
        self._show_review(Text("Checking the plan with libvirt …", style="dim"))
        self.refresh_bindings()
        if future is None:
            state.planning = False
            self._show_review(view.bad("the libvirt thread is stopped: nothing can be checked"))
            return

        async def wait() -> None:
            try:
                plan = await asyncio.wrap_future(future)
            except PoolRefused as err:
                state.planning = False
                self._show_review(Text.assemble(("Refused: ", "bold red"), safe(err.reason), "\n",
                                                ("Esc goes back to change it.", "dim")))
            except Exception as err:  # a bug or an unexpected host: say it, change nothing
                state.planning = False
                self._show_review(view.bad(f"the plan could not be made: {type(err).__name__}: {err}"))
            else:
                state.planning = False
                state.plan = plan
                self._show_review(None)
            self.refresh_bindings()

        self.run_worker(wait(), group="pool-wizard-plan", exit_on_error=False)

    def _show_review(self, status: Text | None) -> None:
        plan = self.state.plan
        pf = self.state.pf
        persist_box = self.query_one("#persist", Checkbox)
        rule = self.query_one("#rule-text", Static)
        if plan is None or pf is None:
            self.query_one("#review-text", Static).update(status or Text(""))
            self.query_one("#review-steps", Static).update("")
            persist_box.display = False
            rule.display = False
            return
        remote = view.through_libvirt(self.state.scan)  # no udev rule can be written there
        self.query_one("#review-text", Static).update(view.review_text(plan, pf, self.state.choice, remote))
        self.query_one("#review-steps", Static).update(view.review_steps(plan))
        shown = (view.needs_rule(plan) or plan.persist) and not remote
        persist_box.display = shown
        with persist_box.prevent(Checkbox.Changed):
            persist_box.value = plan.persist
        persist_box.label = view.persist_label(plan)
        rule.display = shown
        rule.update(view.rule_view(plan, pf, self.roots()["udev_root"]))

    @on(Checkbox.Changed, "#persist")
    def _persist_changed(self, event: Checkbox.Changed) -> None:
        self._make_plan(event.value)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()

    # ------------------------------------------------------------------ confirm, then the run step

    def action_create(self) -> None:
        from vfpool_tui.tui.screens.pool_wizard.confirm import ConfirmCreate

        if self.readonly:
            self.notify("This session is read-only: nothing can be created.", severity="warning",
                        markup=False)
            return
        if self.state.plan is None or self.state.planning:
            return
        self.app.push_screen(ConfirmCreate(self.state.plan), self._confirmed)

    def _confirmed(self, go: bool | None) -> None:
        from vfpool_tui.tui.screens.pool_wizard.run import RunStep

        if not go or self.state.plan is None:
            return
        if self.readonly:  # never reach execute in a read-only session
            self.notify("This session is read-only: nothing was created.", severity="warning", markup=False)
            return
        self.state.running = True
        self.go(RunStep(self.state))
