"""``vfpool-tui journal`` / ``resume`` / ``rollback GUEST``: finish or undo conversions from the journal.

- ``journal``: list unfinished conversions (``--all``: every record), with the backup file of each.
- ``resume [GUEST...]``: finish unfinished conversions from wherever each guest is now.
- ``rollback GUEST``: put the guest back on its original definition (running again if it was),
  whether its last conversion was interrupted, failed or finished.
- ``revert GUEST...``: undo finished conversions: shutdown, define the original, start, verify;
  refused, with the diff, for a guest whose definition changed since its conversion.
"""

from __future__ import annotations

import threading

from vfpool_tui.errors import CommandError
from vfpool_tui.commands.convert import (
    CancelOnSignals,
    _open,
    _print_outcome,
    close_connection,
    add_run_options,
    confirm,
    journal_dir,
    options_from,
    out,
    print_event,
)


def register(subparsers, parents) -> None:
    j = subparsers.add_parser("journal", parents=parents, help="list unfinished guest conversions",
                              description="List the conversions in the journal that were interrupted "
                                          "and need `resume` or `rollback`.")
    j.add_argument("--journal-dir", metavar="DIR", default=None,
                   help="journal directory (default /var/lib/vfpool-tui)")
    j.add_argument("--all", action="store_true", help="list finished conversions too")
    j.set_defaults(func=run_journal)

    r = subparsers.add_parser("resume", parents=parents, help="finish interrupted conversions",
                              description="Finish each unfinished conversion in the journal (or those "
                                          "of the named guests) from the state the guest is in now.")
    r.add_argument("guests", nargs="*", metavar="GUEST", help="only these guests (default: all)")
    add_run_options(r)
    r.add_argument("--yes", "-y", action="store_true", help="do it without asking")
    r.set_defaults(func=run_resume)

    b = subparsers.add_parser("rollback", parents=parents, help="undo a guest's conversion",
                              description="Re-define the guest's original XML from the journal and "
                                          "start it again if it was running.")
    b.add_argument("guest", metavar="GUEST", help="guest name or UUID (or a journal record id)")
    add_run_options(b)
    b.add_argument("--yes", "-y", action="store_true", help="do it without asking")
    b.set_defaults(func=run_rollback)

    v = subparsers.add_parser("revert", parents=parents, help="undo finished conversions",
                              description="Put each guest back on the definition it had before its last "
                                          "(finished) conversion: shut down, define the original, start "
                                          "again if it runs now. Refused, with the diff, when the guest's "
                                          "definition changed since the conversion.")
    v.add_argument("guests", nargs="+", metavar="GUEST", help="guest name or UUID (or a journal record id)")
    add_run_options(v)
    v.add_argument("--yes", "-y", action="store_true", help="do it without asking")
    v.set_defaults(func=run_revert)


def _journal(args):
    from vfpool_tui.core.conversion.journal import Journal

    return Journal(journal_dir(args))


def run_journal(args) -> int:
    journal = _journal(args)
    records = journal.records() if args.all else journal.unfinished()
    if not records:
        out(f"no {'' if args.all else 'unfinished '}conversions in {journal.dir}")
        return 0
    for rec in records:
        out(rec.describe())
        out(f"    original XML: {rec.inactive_path}")
        if not rec.finished:
            out(f"    `vfpool-tui resume {rec.guest}` or `vfpool-tui rollback {rec.guest}`")
    return 0


def _engine(args, conn, journal):
    from vfpool_tui.core.conversion.engine import ConversionEngine

    return ConversionEngine(conn, journal, options_from(args, concurrency=1))


def _locked(journal, what):
    from vfpool_tui.core.conversion.lock import ConversionLock, LockBusy

    lock = ConversionLock(journal.dir)
    try:
        return lock.acquire(what)
    except LockBusy as err:
        raise CommandError(str(err)) from None
    except OSError as err:
        raise CommandError(f"cannot lock {lock.path}: {err}") from None


def _each(args, journal, records, what: str, act):
    """``act(engine, record, cancel, lock)`` for each record, under one lock, stopping on Ctrl-C or
    SIGHUP. A guest refused (PlanError) is said, with the diff when there is one, and counted.
    Returns (outcomes, refused, cancelled)."""
    from vfpool_tui.core.conversion.engine import PlanError

    conn = _open(args, write=True)
    lock = _locked(journal, what)
    cancel = threading.Event()
    outcomes, refused = [], 0
    try:
        engine = _engine(args, conn, journal)
        with CancelOnSignals(cancel):
            for rec in records:
                if cancel.is_set():
                    break
                try:
                    outcomes.append(act(engine, rec, cancel, lock))
                except PlanError as err:
                    refused += 1
                    diff = getattr(err, "diff", None)
                    out(f"{rec.guest}: {err}" + (":" if diff else ""))
                    if diff:
                        out(diff.rstrip("\n"))
    finally:
        lock.release()
        close_connection(conn, args)
    return outcomes, refused, cancel.is_set()


def run_resume(args) -> int:
    from vfpool_tui.core.conversion.events import Result

    if args.readonly:
        raise CommandError("resume changes guests; it cannot run with --readonly")
    journal = _journal(args)
    records = journal.unfinished()
    if args.guests:
        wanted = set(args.guests)
        records = [r for r in records if wanted & {r.guest, r.uuid, r.id}]
        missing = wanted - {x for r in records for x in (r.guest, r.uuid, r.id)}
        if missing:
            raise CommandError(f"no unfinished conversion of '{sorted(missing)[0]}' in {journal.dir}")
    if not records:
        out(f"no unfinished conversions in {journal.dir}")
        return 0
    for rec in records:
        out(rec.describe())
    if not args.yes and not confirm(f"Resume {len(records)} conversion(s)?"):
        out("nothing changed")
        return 1
    outcomes, _, cancelled = _each(args, journal, records, "resume",
                                   lambda engine, rec, cancel, lock: engine.resume(rec, print_event, cancel, lock=lock))
    return _print_outcome(outcomes, cancelled=cancelled, wanted=Result.CONVERTED)


def run_rollback(args) -> int:
    from vfpool_tui.core.conversion.engine import PlanError
    from vfpool_tui.core.conversion.events import Result

    if args.readonly:
        raise CommandError("rollback changes guests; it cannot run with --readonly")
    journal = _journal(args)
    rec = journal.latest_for(args.guest)
    if rec is None:
        raise CommandError(f"no conversion of '{args.guest}' in {journal.dir}")
    out(rec.describe())
    what = "running again" if rec.was_running else "shut off"
    if not args.yes and not confirm(f"Put '{rec.guest}' back on {rec.inactive_path} ({what})?"):
        out("nothing changed")
        return 1
    conn = _open(args, write=True)
    lock = _locked(journal, f"rollback {rec.guest}")
    cancel = threading.Event()
    try:
        engine = _engine(args, conn, journal)
        with CancelOnSignals(cancel):
            try:
                outcome = engine.rollback(rec, print_event, cancel, lock=lock)
            except PlanError as err:
                raise CommandError(str(err)) from None
    finally:
        lock.release()
        close_connection(conn, args)
    return _print_outcome([outcome], cancelled=cancel.is_set(), wanted=Result.ROLLED_BACK)


def run_revert(args) -> int:
    from vfpool_tui.core.conversion.events import Result

    if args.readonly:
        raise CommandError("revert changes guests; it cannot run with --readonly")
    journal = _journal(args)
    records = []
    for name in dict.fromkeys(args.guests):
        rec = journal.latest_for(name)
        if rec is None:
            raise CommandError(f"no conversion of '{name}' in {journal.dir}")
        records.append(rec)
    for rec in records:
        out(rec.describe())
    if not args.yes and not confirm(f"Put {len(records)} guest(s) back on their original definition "
                                    "(running ones are shut down and started again)?"):
        out("nothing changed")
        return 1
    outcomes, refused, cancelled = _each(args, journal, records, "revert",
                                         lambda engine, rec, cancel, lock: engine.revert(rec, print_event, cancel,
                                                                                        lock=lock))
    status = _print_outcome(outcomes, cancelled=cancelled, wanted=Result.ROLLED_BACK, say_result=False)
    return status or (1 if refused else 0)
