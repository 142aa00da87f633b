"""At start: an earlier run died mid-conversion, so offer to resume or roll back (the journal).

``check_journal(app)`` runs in a thread worker (it reads the journal directory) once the first
libvirt connection is up, and hands what it found to ``offer`` on the event loop. With several
hosts nothing is offered, only told: the journal does not say which host a conversion was on, and
resuming one on the wrong host would do harm.
"""

from __future__ import annotations

from typing import Any

from vfpool_tui.tui.view import safe


def check_journal(app: Any) -> None:
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
    if app.multi:
        app.notify(f"Unfinished conversions in the journal ({names}): resume or roll them back with "
                   "vfpool-tui --connect URI (that one host).", severity="warning", timeout=30,
                   markup=False)
        return
    if app.readonly:
        app.notify(f"Unfinished conversions in the journal ({names}): resume or roll them back "
                   "from a read-write session.", severity="warning", timeout=30, markup=False)
        return
    app.push_screen(JournalScreen(records), lambda changed: changed and app.request_scan("journal"))
