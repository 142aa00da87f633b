"""Pool wizard step 5: the steps run on the libvirt thread, each shown as it happens; the outcome."""

from __future__ import annotations

import asyncio

from rich.console import Group
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Static

from vfpool_tui.core.pools.create import ENABLE_VFS, PoolRefused, StepStatus
from vfpool_tui.tui import pool_wizard_view as view
from vfpool_tui.tui.screens.pool_wizard.base import CLOSE, TAIL, PoolWizard, execute


class RunStep(PoolWizard):
    STEP = view.RUN
    BINDINGS = [CLOSE, Binding("c", "convert", "Convert guests"), *TAIL]

    def compose_step(self) -> ComposeResult:
        with Vertical(id=view.RUN, classes="wiz-step"):
            with VerticalScroll(id="run-scroll"):
                yield Static("", id="run-steps")
                yield Static("", id="run-outcome")
            with Horizontal(id="run-buttons"):
                yield Button("Close", id="run-close", variant="primary", compact=True)
                yield Button("Convert guests", id="run-convert", compact=True)

    def on_mount(self) -> None:
        self.query_one("#run-buttons").display = False
        self.start()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        result = self.state.result
        if action == "convert":
            return True if result is not None and result.ok else False
        if action == "close":
            return None if self.state.running else True
        return True

    def start(self) -> None:
        state = self.state
        plan = state.plan
        assert plan is not None
        state.running = True
        state.events = []
        state.result = None
        state.run_error = None
        self._render_steps()
        post = self.post_message
        future = self.call(execute, plan, lambda ev: post(self.StepUpdate(ev)))

        async def wait() -> None:
            try:
                if future is None:
                    raise PoolRefused("the libvirt thread is stopped: nothing was done")
                result = await asyncio.wrap_future(future)
            except Exception as err:
                state.run_error = err.reason if isinstance(err, PoolRefused) else f"{type(err).__name__}: {err}"
                result = None
            state.running = False
            state.result = result
            if result is not None:
                state.events = list(result.events)
            self._finish()

        self.run_worker(wait(), group="pool-wizard-execute", exit_on_error=False)

    @on(PoolWizard.StepUpdate)
    def _step_update(self, msg: PoolWizard.StepUpdate) -> None:
        if not self.state.running:
            return  # the result's own event list is complete already
        self.state.events.append(msg.event)
        self._render_steps()
        ev = msg.event
        if ev.key == ENABLE_VFS and ev.status is StepStatus.DONE and not ev.undo:
            # the host has new VFs now: the views underneath show them without waiting for the end
            self.app.request_scan("VFs enabled")

    def _render_steps(self) -> None:
        state = self.state
        self.query_one("#run-steps", Static).update(view.steps_text(state.plan, state.events, state.running))

    def _finish(self) -> None:
        self._render_steps()
        result = self.state.result
        if result is None or not result.ok:
            shown = view.failure(result, self.state.run_error)
        else:
            shown = view.outcome(result, self.state.choice)
        self.query_one("#run-outcome", Static).update(Group(shown))
        self.query_one("#run-convert", Button).display = bool(result and result.ok)
        self.query_one("#run-buttons").display = True
        self.show()
        self.app.request_scan("pool created" if result is not None and result.ok else "pool wizard")

    def show(self) -> None:
        super().show()
        button = self.query_one("#run-close")
        if button.focusable:
            button.focus()

    @on(Button.Pressed, "#run-close")
    def _close_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.close_wizard()

    @on(Button.Pressed, "#run-convert")
    def _convert_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_convert()

    def action_convert(self) -> None:
        result = self.state.result
        if result is None or not result.ok:
            return
        convert = getattr(self.app, "action_convert", None)
        if callable(convert):
            self.state.then = convert
        self.close_wizard()
