"""At start: an earlier run died mid-conversion (a crash, a second Ctrl-C): offer to resume or roll
back what its journal holds. ``check`` runs in a thread worker (it reads the journal directory)."""

from __future__ import annotations

from typing import Any

from vfpool_tui.tui.view import safe


def check(app: Any) -> None:
    """In a thread worker: the journal's unfinished records, offered on the UI thread."""
    from vfpool_tui.core.conversion.journal import Journal
    from vfpool_tui.tui.convert_engine import journal_dir

    jdir = journal_dir(app)
    try:
        records = Journal(jdir).unfinished() if jdir.is_dir() else []
    except OSError:
        return  # not readable (not root): the convert screen says so when it is opened
    if records:
        app.call_from_thread(offer, app, records)


def offer(app: Any, records: list) -> None:
    from vfpool_tui.tui.screens.convert_journal import JournalScreen

    names = ", ".join(safe(r.guest) for r in records)
    if app.readonly:
        app.notify(f"Unfinished conversions in the journal ({names}): resume or roll them back "
                   "from a read-write session.", severity="warning", timeout=30, markup=False)
        return
    app.push_screen(JournalScreen(records), lambda changed: changed and app.request_scan("journal"))
