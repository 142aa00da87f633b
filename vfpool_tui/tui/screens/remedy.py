"""Carrying out a remedy from the troubleshoot view: pick one (when several apply), read its plan in
a confirmation whose default is Cancel (the guests that go down, the steps, the command line that
does the same), then watch it on the conversion's progress screen (``ProgressScreen``: one row for
the target or each VF and one per guest, the log, ``f`` forces a guest off, Esc asks to stop).

The plan is built from the app's scan when the remedy is picked; the run checks it again against a
fresh scan right before acting (``core.remedy.runner``), in the progress screen's thread worker, on
the app's connection.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from vfpool_tui.core.remedy.outcome import RemedyOutcome, RemedyResult
from vfpool_tui.core.remedy.plans import RemedyPlan, RemedyRefused
from vfpool_tui.tui import remedy_view
from vfpool_tui.tui.remedy_view import Offer
from vfpool_tui.tui.screens.convert_progress import Job, ProgressScreen
from vfpool_tui.tui.view import safe


class PickRemedy(ModalScreen[int | None]):
    """Which remedy (Enter), or none (Esc)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    PickRemedy { align: center middle; }
    PickRemedy #pick { width: 74; max-width: 100%; height: auto; border: thick $warning;
                       background: $surface; padding: 0 1; }
    PickRemedy OptionList { height: auto; max-height: 10; }
    """

    def __init__(self, found: list[Offer]) -> None:
        super().__init__()
        self.found = found

    def compose(self) -> ComposeResult:
        with Vertical(id="pick"):
            yield Static(Text("Fix what? (Enter: see the plan · Esc: nothing)", style="bold"))
            yield OptionList(*(Option(Text.assemble(safe(o.label), (f"  ({o.problem})", "dim")))
                               for o in self.found), id="remedies")

    @on(OptionList.OptionSelected, "#remedies")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option_index)

    def action_cancel(self) -> None:
        self.dismiss(None)


def remedy_job(plan: RemedyPlan, app: Any) -> Job:
    """The progress screen's task: the runner (``make_engine``) on the app's connection, checking
    the plan against a fresh scan on that connection right before acting."""
    from vfpool_tui.core.remedy.runner import RemedyRunner

    rows = plan.vfs if plan.vfs else (plan.target,)

    def run(engine: Any, on_event, cancel) -> RemedyOutcome:
        try:
            return engine.run(plan, on_event, cancel, rescan=app_rescan(app, engine.conn))
        except RemedyRefused as err:
            return RemedyOutcome(plan.kind, RemedyResult.UNCHANGED, f"refused: {err.reason}")

    return Job(plan.kind, (*rows, *(g.guest for g in plan.guests)), run, make_engine=RemedyRunner)


class RemedyProgressScreen(ProgressScreen):
    """The conversion's progress screen running a remedy, with the remedy's summary."""

    def __init__(self, plan: RemedyPlan, title: Text, app: Any) -> None:
        super().__init__(remedy_job(plan, app), title)
        self.plan = plan

    def on_mount(self) -> None:  # after ProgressScreen.on_mount (Textual calls each class's handler)
        self.query_one("#progress-box").border_title = "Steps: the target, then each guest"

    def summary_text(self, outcome, error) -> Text:
        return remedy_view.summary(outcome, error)


def app_rescan(app: Any, conn: Any):
    """A fresh scan on ``conn`` as the app makes them (its scanner or host discovery), for the
    runner's check right before acting (called in the progress screen's worker thread)."""
    settings = app.settings

    def rescan():
        if settings.scanner is not None:
            return settings.scanner(conn)
        from vfpool_tui.core.scan import scan

        host = settings.discover() if settings.discover is not None else None
        return scan(conn=conn, host=host)

    return rescan


def start(screen: Any, found: list[Offer]) -> None:
    """From the troubleshoot screen: pick, preview, confirm (default Cancel), run."""
    app = screen.app
    if app.readonly:
        app._refuse_readonly("A remedy")
        return
    if not found:
        app.notify("Nothing to fix here that this tool can carry out.", markup=False)
        return
    if len(found) == 1:
        _preview(app, found[0])
        return
    app.push_screen(PickRemedy(found), lambda i: _preview(app, found[i]) if i is not None else None)


def _preview(app: Any, offer: Offer) -> None:
    from vfpool_tui.tui.screens.convert_confirm import ConfirmScreen

    try:
        plan = offer.build(app.scan)
    except RemedyRefused as err:
        app.notify(f"Refused: {err.reason}", severity="warning", markup=False)
        return
    title = Text(plan.title, style="bold")
    if plan.guests:
        title.append(f" · {len(plan.guests)} guest(s) down meanwhile", style="bold red")

    def answer(yes: bool | None) -> None:
        if yes:
            _run(app, plan)

    app.push_screen(ConfirmScreen(title, remedy_view.plan_body(plan), "Do it", mild=not plan.guests), answer)


def _run(app: Any, plan: RemedyPlan) -> None:
    title = Text("Remedy · ", style="bold")
    title.append(safe(plan.title))
    app.push_screen(RemedyProgressScreen(plan, title, app))
