"""Convert step 3: a screen that owns the conversion task (exosphere's ProgressScreen shape).

It starts the engine in a thread worker (``group="convert"``), advances one row per guest from the
engine's ``StepEvent``s (posted to the UI thread as messages), keeps a log of every step with the
libvirt call it makes and, for define steps, the XML before and after (``x``), and at the end shows
a summary and asks the app for a rescan. It ``dismiss()``es with the frozen ``Outcome``.

Keys: ``f`` forces the selected guest off (``engine.force``) while it waits for its ACPI shutdown;
Esc / ctrl+c (and q) ask whether to stop: the engine stops at the next safe point and the journal
keeps anything half-way for resume / rollback. Threading: see ``tui/convert_engine.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from vfpool_tui.core.conversion.events import GuestOutcome, Outcome, Plan, Result, Step, StepEvent, StepState
from vfpool_tui.tui import convert_engine, convert_view
from vfpool_tui.tui.view import safe

# job(engine, on_event, cancel) -> Outcome, in the worker thread
JobRun = Callable[[Any, Callable[[StepEvent], None], threading.Event], Outcome]


@dataclass(frozen=True)
class Job:
    """What the progress screen runs: the guests it will report on and how to run the engine."""

    what: str  # "convert", "resume", "rollback", "revert"
    guests: tuple[str, ...]
    run: JobRun
    # guest -> (definition before, definition after) of the change it makes; loaded in the worker
    load_xml: Callable[[], dict[str, tuple[str, str]]] = field(default=lambda: {})
    # engine(conn, journal, options) for ``run``; None: the ConversionEngine (a remedy: its runner)
    make_engine: Callable[..., Any] | None = None


def convert_job(plan: Plan) -> Job:
    xml = {g.guest: (g.old_xml, g.new_xml) for g in plan.guests}
    return Job("convert", tuple(g.guest for g in plan.guests),
               lambda engine, on_event, cancel: engine.run(plan, on_event, cancel),
               lambda: xml)


def journal_job(records: list, action: str) -> Job:
    """Resume, roll back or revert journal records one after the other, under one lock."""
    from vfpool_tui.core.conversion.engine import PlanError, RevertRefused
    from vfpool_tui.core.conversion.journal import JournalError
    from vfpool_tui.core.conversion.lock import ConversionLock

    def run(engine, on_event, cancel) -> Outcome:
        lock = ConversionLock(engine.journal.ensure().dir)
        lock.acquire(f"{action} (vfpool-tui)")
        outs = []
        try:
            for info in records:
                if cancel.is_set():
                    outs.append(GuestOutcome(info.guest, Result.SKIPPED,
                                             f"not attempted (cancelled); still in {info.path}"))
                    continue
                fn = {"resume": engine.resume, "rollback": engine.rollback, "revert": engine.revert}[action]
                try:
                    outs.append(fn(info, on_event, cancel, lock=lock))
                except RevertRefused as err:  # the definition changed since: say how, nothing done
                    changed = [ln for ln in err.diff.splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]
                    shown = "\n".join(changed[:8]) + ("\n…" if len(changed) > 8 else "")
                    outs.append(GuestOutcome(info.guest, Result.UNCHANGED, f"{err}:\n{shown}",
                                             record=str(info.path), backup=str(info.inactive_path)))
                except (PlanError, JournalError, OSError) as err:
                    outs.append(GuestOutcome(info.guest, Result.UNCHANGED, str(err),
                                             record=str(info.path), backup=str(info.inactive_path)))
        finally:
            lock.release()
        return Outcome(tuple(outs), cancelled=cancel.is_set())

    def load_xml() -> dict[str, tuple[str, str]]:
        out = {}
        for info in records:
            try:
                old = info.original_inactive()
                new = info.defined_xml() if action == "revert" else info.new_xml()
            except OSError:
                continue
            out[info.guest] = (new, old) if action in ("rollback", "revert") else (old, new)
        return out

    return Job(action, tuple(r.guest for r in records), run, load_xml)


class EngineEvent(Message):
    """A StepEvent from the engine's threads."""

    def __init__(self, event: StepEvent) -> None:
        super().__init__()
        self.event = event


class XmlReady(Message):
    def __init__(self, xml: dict[str, tuple[str, str]]) -> None:
        super().__init__()
        self.xml = xml


@dataclass
class LogEntry:
    text: Text
    guest: str | None = None
    xml: tuple[str, str] | None = None  # (before, after)
    label: str = ""


class XmlScreen(Screen[None]):
    """The XML before and after a define (d: diff, b: before, a: after)."""

    CSS_PATH = "convert.tcss"
    BINDINGS = [
        Binding("d", "show('diff')", "Diff"),
        Binding("b", "show('before')", "Before"),
        Binding("a", "show('after')", "After"),
        Binding("escape", "close", "Back"),
    ]

    def __init__(self, title: Text, before: str, after: str, guest: str) -> None:
        super().__init__()
        self._title, self.before, self.after, self.guest = title, before, after, guest
        self.mode = "diff"

    def compose(self) -> ComposeResult:
        yield Static(self._title, id="convert-title")
        with VerticalScroll(id="xml-box", classes="box"):
            yield Static(id="xml")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.action_show("diff")
        self.query_one("#xml-box").focus()

    def action_show(self, mode: str) -> None:
        from vfpool_tui.core.conversion.transform import unified_diff

        self.mode = mode
        if mode == "diff":
            body = unified_diff(self.before, self.after, self.guest).rstrip("\n") or "(no change)"
            lexer, title = "diff", "Diff (before → after)"
        else:
            body = (self.before if mode == "before" else self.after).rstrip("\n")
            lexer, title = "xml", "XML before" if mode == "before" else "XML after"
        self.query_one("#xml", Static).update(
            Syntax(body, lexer, theme="ansi_dark", word_wrap=False, background_color="default"))
        box = self.query_one("#xml-box")
        box.border_title = title
        box.border_subtitle = "d: diff · b: before · a: after · esc: back"

    def action_close(self) -> None:
        self.dismiss(None)


class ProgressScreen(Screen[Outcome | None]):
    HELP_TITLE = "Conversion running"
    CSS_PATH = "convert.tcss"
    BINDINGS = [
        Binding("f", "force", "Force off"),
        Binding("x", "xml", "XML"),
        Binding("escape", "stop_or_close", "Cancel/Close"),
        Binding("ctrl+c", "stop_or_close", "Cancel", show=False),
        Binding("q", "stop_or_close", "Cancel/Close", show=False),
        Binding("enter", "close", "Close", show=False),
        Binding("tab", "app.focus_next", "Next pane", show=False),
        Binding("shift+tab", "app.focus_previous", "Previous pane", show=False),
    ]

    clock: Callable[[], float] = staticmethod(time.monotonic)  # elapsed times (tests freeze it)

    def __init__(self, job: Job, title: Text) -> None:
        super().__init__()
        self.job = job
        self._title = title
        self.cancel = threading.Event()
        self.engine: Any = None
        self.rows = {g: convert_view.GuestProgress(g) for g in job.guests}
        self.log_entries: list[LogEntry] = []
        self.xml: dict[str, tuple[str, str]] = {}
        self.outcome: Outcome | None = None
        self.error: str | None = None
        self.running = False
        self.finished = False
        self._timer = None
        self._stop_dialog: Any = None  # "Stop the conversion?" while it is open

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        from vfpool_tui.tui.widgets.keyed_table import KeyedTable

        yield Static(self._title, id="convert-title")
        yield Static(id="progress-status")
        with Vertical(id="progress-box", classes="box"):
            yield KeyedTable(convert_view.PROGRESS_COLUMNS, id="progress")
        yield Static(id="summary")
        with Vertical(id="log-box", classes="box"):
            yield OptionList(id="log")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        from vfpool_tui.tui.widgets.keyed_table import KeyedTable

        self.query_one("#progress-box").border_title = "Guests"
        log_box = self.query_one("#log-box")
        log_box.border_title = "Log: steps and libvirt calls"
        log_box.border_subtitle = "x / enter: XML before/after"
        self.query_one("#summary").display = False
        self._add_log(LogEntry(Text.assemble(("journal: ", "dim"), safe(str(
            convert_engine.journal_dir(self.app))))))
        self._redraw_rows()
        self.query_one("#progress", KeyedTable).focus()
        self._set_status()
        self._timer = self.set_interval(1.0, self._redraw_rows)
        self.running = True
        self._start()

    def on_unmount(self) -> None:
        # the app is going away under a running conversion: stop at the next safe point
        self.cancel.set()

    # ------------------------------------------------------------------ the task

    @work(group="convert-connect", exit_on_error=False)
    async def _start(self) -> None:
        try:
            conn = await convert_engine.app_connection(self.app)
        except Exception as err:  # noqa: BLE001
            self._done(None, f"cannot start: {err}")
            return
        self._run(conn, convert_engine.journal_dir(self.app))

    @work(thread=True, group="convert", exit_on_error=False)
    def _run(self, conn: Any, journal_dir) -> Outcome:
        from vfpool_tui.core.conversion.engine import ConversionEngine, ensure_event_loop
        from vfpool_tui.core.conversion.journal import Journal

        ensure_event_loop()
        journal = Journal(journal_dir).ensure()
        self.engine = (self.job.make_engine or ConversionEngine)(conn, journal, convert_engine.options())
        try:
            self.post_message(XmlReady(self.job.load_xml()))
        except Exception:  # noqa: BLE001 - the log shows less, the run is not affected
            pass
        return self.job.run(self.engine, lambda ev: self.post_message(EngineEvent(ev)), self.cancel)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        w = event.worker
        if w.group != "convert":
            return
        if event.state is WorkerState.SUCCESS:
            self._done(w.result, None)
        elif event.state is WorkerState.ERROR:
            err = w.error
            self._done(None, f"{err}" if err.__class__.__name__ in ("LockBusy", "JournalError")
                       else f"{type(err).__name__}: {err}")
        elif event.state is WorkerState.CANCELLED:
            self._done(None, "the conversion task was cancelled")

    @on(XmlReady)
    def _xml_ready(self, msg: XmlReady) -> None:
        self.xml = msg.xml

    @on(EngineEvent)
    def _engine_event(self, msg: EngineEvent) -> None:
        ev = msg.event
        row = self.rows.get(ev.guest)
        if row is None and ev.guest:
            row = self.rows[ev.guest] = convert_view.GuestProgress(ev.guest)
        if row is not None:
            row.apply(ev, self.clock())
        self._add_log(LogEntry(self._log_text(ev), ev.guest, self._xml_of(ev),
                               f"{ev.guest}: {ev.step} {ev.state}"))
        self._redraw_rows()

    def _xml_of(self, ev: StepEvent) -> tuple[str, str] | None:
        pair = self.xml.get(ev.guest)
        if ev.step is Step.DEFINE and ev.state is StepState.STARTED:
            before = pair[0] if pair else ""
            return (before, ev.detail or (pair[1] if pair else ""))
        if ev.step is Step.ROLLBACK and ev.state in (StepState.STARTED, StepState.INFO) and pair \
                and ("re-defining" in ev.message or "restored" in ev.message):
            if self.job.what == "rollback":
                return pair
            return (pair[1], pair[0])
        return None

    def _log_text(self, ev: StepEvent) -> Text:
        return convert_view.log_line(ev, self.app.settings.clock(), self._xml_of(ev) is not None)

    def _done(self, outcome: Outcome | None, error: str | None) -> None:
        if self.finished:
            return
        self.finished, self.running = True, False
        self.outcome, self.error = outcome, error
        self._close_stop_dialog()
        if self._timer is not None:
            self._timer.stop()
        if outcome is not None:
            for g in outcome.guests:
                row = self.rows.get(g.guest)
                if row is not None and row.result is None:
                    row.result = g.result
                    row.message = g.message
                    row.ended = row.ended or (self.clock() if row.started is not None else None)
                    row.waiting_shutdown = False
        self._redraw_rows()
        summary = self.query_one("#summary", Static)
        summary.update(self.summary_text(outcome, error))
        summary.display = True
        self._add_log(LogEntry(Text.assemble((self.app.settings.clock() + " ", "dim"),
                                             self.summary_text(outcome, error))))
        self._set_status()
        self.app.request_scan(self.job.what)

    def summary_text(self, outcome: Outcome | None, error: str | None) -> Text:
        """The summary under the rows when the task ended (a remedy's screen says it its way)."""
        return convert_view.outcome_summary(outcome, error)

    # ------------------------------------------------------------------ drawing

    def _redraw_rows(self) -> None:
        from vfpool_tui.tui.widgets.keyed_table import KeyedTable

        now = self.clock()
        self.query_one("#progress", KeyedTable).set_rows([r.row(now) for r in self.rows.values()])

    def _add_log(self, entry: LogEntry) -> None:
        log = self.query_one("#log", OptionList)
        follow = not log.has_focus or log.highlighted in (None, len(self.log_entries) - 1)
        self.log_entries.append(entry)
        log.add_option(Option(entry.text))
        if follow:
            if log.has_focus:
                log.highlighted = len(self.log_entries) - 1
            log.call_after_refresh(log.scroll_end, animate=False)

    def _set_status(self) -> None:
        status = Text()
        if self.finished:
            status.append("Finished. ", style="bold")
            status.append("enter/esc: close · x: XML of a log line", style="dim")
        elif self.cancel.is_set():
            status.append("Stopping at the next safe point… ", style="bold yellow")
            status.append("f: force off a guest still waiting for its shutdown", style="dim")
        else:
            status.append("Running. ", style="bold cyan")
            status.append("f: force off a guest waiting for shutdown · esc: cancel", style="dim")
        self.query_one("#progress-status", Static).update(status)

    # ------------------------------------------------------------------ keys

    def _selected_guest(self) -> str | None:
        from vfpool_tui.tui.widgets.keyed_table import KeyedTable

        return self.query_one("#progress", KeyedTable).current_key

    def action_force(self) -> None:
        guest = self._selected_guest()
        row = self.rows.get(guest) if guest else None
        if row is None or not self.running:
            self.notify("Nothing to force: no conversion is running.", markup=False)
            return
        if not row.waiting_shutdown or self.engine is None:
            self.notify("f forces a guest off only while it waits for its shutdown.", markup=False)
            return
        self.engine.force(guest)
        self._add_log(LogEntry(Text.assemble((self.app.settings.clock() + " ", "dim"),
                                             (safe(guest), "bold"),
                                             " force off requested by the operator (destroy)")))
        self.notify(f"Forcing {safe(guest)} off (destroy).", markup=False)

    def action_xml(self) -> None:
        log = self.query_one("#log", OptionList)
        idx = log.highlighted
        entries = [e for e in self.log_entries if e.xml is not None]
        if idx is not None and 0 <= idx < len(self.log_entries) and self.log_entries[idx].xml:
            entry = self.log_entries[idx]
        elif entries and not log.has_focus:
            # from the guests table: the last define of the selected guest
            guest = self._selected_guest()
            mine = [e for e in entries if e.guest == guest]
            entry = (mine or entries)[-1]
        else:
            self.notify("This log line has no XML (define steps have it).", markup=False)
            return
        before, after = entry.xml
        title = Text("XML · ", style="bold")
        title.append(safe(entry.label))
        self.app.push_screen(XmlScreen(title, before, after, entry.guest or ""))

    @on(DataTable.RowSelected, "#progress")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_close()

    @on(OptionList.OptionSelected, "#log")
    def _log_selected(self, event: OptionList.OptionSelected) -> None:
        self.action_xml()

    def action_close(self) -> None:
        if self.finished:
            self.dismiss(self.outcome)

    def action_stop_or_close(self) -> None:
        if self.finished:
            self.dismiss(self.outcome)
            return
        if self.cancel.is_set():
            self.notify("Already stopping at the next safe point.", markup=False)
            return
        from vfpool_tui.tui.screens.convert_confirm import ConfirmScreen

        body = Text()
        body.append("The engine stops at the next safe point and never leaves a guest down; its "
                    "original XML is on disk before anything changes:\n")
        body.append("  • guests not started yet are skipped, unchanged;\n")
        body.append("  • a guest already asked to shut down (ACPI) is waited for until it powers off "
                    "(f forces it off), then started again with its original definition;\n")
        body.append("  • a guest past that point finishes or is rolled back; anything left half-way "
                    "stays in the journal, to resume or roll back (j on the convert screen).")
        self._stop_dialog = ConfirmScreen("Stop the conversion?", body, "Stop",
                                          cancel_label="Keep going", mild=True)
        self.app.push_screen(self._stop_dialog, self._stop_answer)

    def _close_stop_dialog(self) -> None:
        """The run ended while "Stop the conversion?" was open: there is nothing left to stop."""
        dialog, self._stop_dialog = self._stop_dialog, None
        if dialog is not None and dialog.is_attached and self.app.screen is dialog:
            dialog.dismiss(None)
            self.notify("The conversion finished before it was stopped.", markup=False)

    def _stop_answer(self, yes: bool | None) -> None:
        self._stop_dialog = None
        if yes and not self.finished:
            self.cancel.set()
            self._add_log(LogEntry(Text.assemble((self.app.settings.clock() + " ", "dim"),
                                                 ("cancel requested: stopping at the next safe point",
                                                  "bold yellow"))))
            self._set_status()
