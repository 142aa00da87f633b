"""Conversions in the journal: resume or roll back an unfinished one, revert a finished one.

A record is unfinished when vfpool-tui was interrupted mid-conversion (Ctrl-C, the SSH session
dropped, a crash). ``r`` resumes it (finishes the conversion from wherever the guest is now), ``b``
rolls it back to the original definition (and running if it was). A finished conversion (the
guest's latest record, converted) is listed too: ``v`` reverts it (``vfpool-tui revert``: shutdown,
define the original, start, verify; refused, with the diff, when the definition changed since).
Each may shut the guest down: each asks first (default Cancel), then runs on the progress screen.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from vfpool_tui.tui import convert_engine
from vfpool_tui.tui.view import Row, cell, safe
from vfpool_tui.tui.widgets.keyed_table import KeyedTable

COLUMNS = (("guest", "Guest"), ("network", "Pool"), ("started", "Started"), ("was", "Was"),
           ("last", "Last step"))


def revertable(journal) -> list:
    """Finished conversions that can be reverted: each guest's latest record, when it converted."""
    latest: dict[str, object] = {}
    for r in journal.records():
        latest[r.uuid or r.guest] = r
    return [r for r in latest.values() if r.finished and r.result == "converted"]


def record_rows(records: list) -> list[Row]:
    rows = []
    for r in records:
        last = r.last_step
        cells = (
            cell(r.guest, "bold" if not r.finished else ""),
            cell(", ".join(r.networks)),
            cell(time.strftime("%m-%d %H:%M", time.localtime(r.started)), "dim"),
            cell("running" if r.was_running else "shut off", "dim"),
            cell("converted · v: revert", "green") if r.finished else
            cell(f"{last['step']} {last['state']}: {last.get('message', '')}" if last else "none yet"),
        )
        rows.append(Row(r.id, cells, " ".join(c.plain for c in cells).casefold()))
    return rows


class JournalOffer:
    """A screen that offers the journal's unfinished conversions (the convert screen: at open, and j).

    Keeps ``self.unfinished`` (the records) and calls ``self._show_plan()`` when they change; after
    a resume or a rollback sets ``self._generation = -1`` so the screen redraws from the next scan.
    """

    unfinished: list

    def action_journal(self) -> None:
        self._load_journal(offer=False)

    @work(thread=True, group="convert-journal", exclusive=True, exit_on_error=False)
    def _load_journal(self, offer: bool, quiet: bool = False) -> None:
        from vfpool_tui.core.conversion.journal import Journal

        jdir = convert_engine.journal_dir(self.app)
        try:
            journal = Journal(jdir)
            records = journal.unfinished() if jdir.is_dir() else []
            done = revertable(journal) if jdir.is_dir() else []
            error = None
        except OSError as err:
            records, done, error = [], [], f"cannot read the journal {jdir}: {err}"
        self.app.call_from_thread(self._journal_loaded, records, error, offer, quiet, done)

    def _journal_loaded(self, records: list, error: str | None, offer: bool, quiet: bool,
                        done: list = ()) -> None:
        self.unfinished = records
        self._show_plan()
        if error and not quiet:
            self.notify(error, severity="warning", markup=False)
        if quiet or (offer and not records):
            return
        if not offer or records:
            self.app.push_screen(JournalScreen([*records, *done]), self._journal_done)

    def _journal_done(self, changed: bool | None) -> None:
        self._load_journal(offer=False, quiet=True)
        if changed:
            self._generation = -1


class JournalScreen(Screen[bool]):
    """``dismiss(True)`` when something was resumed, rolled back or reverted."""

    CSS_PATH = "convert.tcss"
    BINDINGS = [
        Binding("r", "act('resume')", "Resume"),
        Binding("b", "act('rollback')", "Roll back"),
        Binding("v", "act('revert')", "Revert"),
        Binding("escape", "close", "Back"),
    ]

    def __init__(self, records: list) -> None:
        super().__init__()
        self.records = list(records)
        self.changed = False

    def compose(self) -> ComposeResult:
        yield Static(Text("Conversions in the journal: unfinished, and finished ones to revert",
                          style="bold"), id="convert-title")
        with Vertical(id="journal-box", classes="box"):
            yield KeyedTable(COLUMNS, id="journal", empty="no unfinished conversion, none to revert")
        yield Static(id="journal-help")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        box = self.query_one("#journal-box")
        box.border_title = f"Journal {safe(str(convert_engine.journal_dir(self.app)))}"
        self._show()
        self.query_one("#journal", KeyedTable).focus()

    def _show(self) -> None:
        self.query_one("#journal", KeyedTable).set_rows(record_rows(self.records))
        help_ = Text()
        if any(not r.finished for r in self.records):
            help_.append("vfpool-tui was interrupted while converting some guests. ")
            help_.append("r", style="bold")
            help_.append(": resume (finish the conversion) · ")
            help_.append("b", style="bold")
            help_.append(": roll back to the original definition · esc: leave them for later")
        if any(r.finished for r in self.records):
            help_.append("\n" if help_.plain else "")
            help_.append("v", style="bold")
            help_.append(": revert a finished conversion (its original definition back)")
        if not self.records:
            help_.append("Nothing unfinished, nothing to revert. esc: back", style="dim")
        self.query_one("#journal-help", Static).update(help_)

    def _selected(self):
        key = self.query_one("#journal", KeyedTable).current_key
        return next((r for r in self.records if r.id == key), None)

    def action_act(self, action: str) -> None:
        from vfpool_tui.tui.screens.convert_confirm import ConfirmScreen

        if self.app.readonly:
            self.notify("This session is read-only.", severity="warning", markup=False)
            return
        info = self._selected()
        if info is None:
            return
        if (action == "revert") != info.finished:
            self.notify("v reverts a finished conversion; r and b act on an unfinished one.", markup=False)
            return
        body = Text()
        body.append(safe(info.guest), style="bold")
        if action == "revert":
            body.append(" goes back from ")
            body.append(safe(", ".join(info.networks)), style="bold")
            body.append(" to its original definition ")
            body.append(safe(str(info.inactive_path)), style="dim")
            body.append(": if it runs it is shut down (downtime) and started again on its hard-coded "
                        "VF(s) " + ", ".join(info.sources) + ". Refused, nothing done, if its definition "
                        "changed since the conversion.")
        elif action == "resume":
            body.append(" will be finished onto pool ")
            body.append(safe(info.network), style="bold")
            body.append(": if it still runs with its original definition it is shut down (downtime) "
                        "and started again on the pool.")
        else:
            body.append(" gets its original definition back ")
            body.append(safe(str(info.inactive_path)), style="dim")
            body.append(": if it runs on the pool it is shut down (downtime) and started again"
                        + (" (it was running)." if info.was_running else "."))
        title, label = {"resume": ("Resume the conversion?", "Resume"),
                        "rollback": ("Roll back the conversion?", "Roll back"),
                        "revert": ("Revert the conversion?", "Revert")}[action]
        self.app.push_screen(ConfirmScreen(title, body, label), lambda yes: self._confirmed(yes, info, action))

    def _confirmed(self, yes: bool | None, info, action: str) -> None:
        if not yes:
            return
        from vfpool_tui.tui.screens.convert_progress import ProgressScreen, journal_job

        title = Text({"resume": "Resuming ", "rollback": "Rolling back ", "revert": "Reverting "}[action],
                     style="bold")
        title.append(safe(info.guest), style="bold")
        self.app.push_screen(ProgressScreen(journal_job([info], action), title), self._ran)

    def _ran(self, outcome) -> None:
        self.changed = True
        self._reload()

    @work(thread=True, group="convert-journal", exclusive=True, exit_on_error=False)
    def _reload(self) -> None:
        from vfpool_tui.core.conversion.journal import Journal

        try:
            journal = Journal(convert_engine.journal_dir(self.app))
            records = [*journal.unfinished(), *revertable(journal)]
        except OSError:
            records = self.records
        self.app.call_from_thread(self._reloaded, records)

    def _reloaded(self, records: list) -> None:
        self.records = list(records)
        self._show()

    def action_close(self) -> None:
        self.dismiss(self.changed)
