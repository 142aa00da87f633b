"""``vfpool-tui remedy release-vfs|restart-pool|grow-pf``: carry out the fixes ``doctor`` names.

Each prints its plan (the guests shut down for it, the steps in order), asks (default no; ``--yes``
goes ahead, a script without a terminal must give it), then runs it with one line per step; the
journal (``--journal-dir``, the conversions' directory) keeps every original state first.
``--dry-run`` prints the plan and changes nothing; ``--readonly`` refuses anything else in one line.
Ctrl-C, SIGHUP (the SSH session dropped) and SIGTERM stop before the first change (the guests
shut down for it start again) or, past it, let the run finish; a run that was killed half-way is
finished by ``remedy resume``. Exit status: 0 done, 1 refused, failed or undone, 130 stopped.
Never imports textual or rich.
"""

from __future__ import annotations

import threading

from vfpool_tui.commands.convert import (
    CancelOnSignals,
    _open,
    _scan,
    add_run_options,
    close_connection,
    confirm,
    journal_dir,
    options_from,
    out,
    print_event,
)
from vfpool_tui.errors import CommandError


def register(subparsers, parents) -> None:
    p = subparsers.add_parser("remedy", parents=parents, help="carry out the fixes doctor names",
                              description="Fix what `vfpool-tui doctor` finds: previewed, confirmed, "
                                          "journalled, undone in reverse order if a step fails.")
    sub = p.add_subparsers(dest="remedy_command", metavar="REMEDY", required=True)

    def common(sp, *, guests: bool) -> None:
        if guests:
            add_run_options(sp)
        else:
            sp.add_argument("--journal-dir", metavar="DIR", default=None,
                            help="where the record is kept (default /var/lib/vfpool-tui)")
        sp.add_argument("--dry-run", action="store_true", help="print the plan only; change nothing")
        sp.add_argument("--yes", "-y", action="store_true", help="do it without asking")

    r = sub.add_parser("release-vfs", parents=parents, help="give leaked VFs back to the host driver",
                       description="VFs bound to vfio-pci that no guest uses (problem vfio-unused) go "
                                   "back to their host driver through libvirt's node-device API "
                                   "(virsh nodedev-reattach); works on a remote connection. Refused for a "
                                   "VF any guest definition names, checked again right before each one.")
    r.add_argument("vfs", nargs="*", metavar="PCI", help="VF addresses (default: every leaked VF)")
    common(r, guests=False)
    r.set_defaults(func=run_remedy, remedy="release-vfs")

    s = sub.add_parser("restart-pool", parents=parents, help="rebuild a stale pool's VF list",
                       description="libvirt builds a pool's VF list when the network starts: VFs made "
                                   "later are not in it (problem pool-stale). Shuts the pool's running "
                                   "guests down, stops and starts the network, starts the guests again.")
    s.add_argument("network", metavar="NET", help="the pool network")
    common(s, guests=True)
    s.set_defaults(func=run_remedy, remedy="restart-pool")

    g = sub.add_parser("grow-pf", parents=parents, help="raise a PF's VF count (sriov_numvfs)",
                       description="The kernel takes a new count only from 0, which destroys every VF "
                                   "of the PF: shuts down every guest holding one (pool or hard-coded), "
                                   "stops its pool networks, writes 0 then N, waits for the VFs, starts "
                                   "the networks and the guests again. This machine's sysfs only.")
    g.add_argument("pf", metavar="PF", help="the PF: its netdev name or PCI address")
    g.add_argument("--numvfs", type=int, required=True, metavar="N", help="the new VF count (more than now)")
    g.add_argument("--persist-numvfs", action="store_true",
                   help="also write a udev rule under /etc/udev/rules.d that sets N at boot")
    common(g, guests=True)
    g.set_defaults(func=run_remedy, remedy="grow-pf")

    ls = sub.add_parser("journal", parents=parents, help="list remedy runs (unfinished ones first)")
    ls.add_argument("--journal-dir", metavar="DIR", default=None)
    ls.set_defaults(func=run_list)

    rs = sub.add_parser("resume", parents=parents, help="finish remedy runs a dropped session left half-way",
                        description="Finish each unfinished remedy record from where the host is now: "
                                    "the VF count it was going to, the networks and guests running again.")
    add_run_options(rs)
    rs.add_argument("--yes", "-y", action="store_true", help="do it without asking")
    rs.set_defaults(func=run_resume)


def _roots(args) -> dict[str, str]:
    from vfpool_tui.commands.pool import _roots as pool_roots

    return pool_roots(args)


def plan_from(args, scan):
    from vfpool_tui.core.remedy import plans

    if args.remedy == "release-vfs":
        return plans.plan_release(scan, args.vfs)
    if args.remedy == "restart-pool":
        return plans.plan_restart(scan, args.network)
    return plans.plan_grow(scan, args.pf, args.numvfs, persist=args.persist_numvfs, **_roots(args))


def run_remedy(args) -> int:
    from vfpool_tui.core.conversion.journal import Journal, JournalError
    from vfpool_tui.core.conversion.lock import LockBusy
    from vfpool_tui.core.remedy.plans import RemedyRefused
    from vfpool_tui.core.remedy.runner import RemedyRunner

    if args.readonly and not args.dry_run:
        raise CommandError(f"--readonly: remedy {args.remedy} would change the host (use --dry-run to see the plan)")
    if hasattr(args, "shutdown_timeout"):
        options = options_from(args, concurrency=4)
    else:
        from vfpool_tui.core.conversion.options import Options

        options = Options()
    conn = _open(args, write=not args.dry_run)
    discovery = getattr(args, "discovery", None)
    try:
        scan = _scan(conn, discovery)
        try:
            plan = plan_from(args, scan)
        except RemedyRefused as err:
            raise CommandError(f"remedy {args.remedy} refused: {err.reason}") from None
        for line in plan.describe():
            out(line)
        if args.dry_run:
            out("dry run: nothing changed")
            return 0
        if not args.yes:
            q = plan.title + ("? The guests above are shut down and started again (downtime)."
                              if plan.guests else "?")
            if not confirm(q):
                out("nothing changed")
                return 1
        try:
            journal = Journal(journal_dir(args)).ensure()
        except JournalError as err:
            raise CommandError(str(err)) from None
        cancel = threading.Event()
        out(f"journal: {journal.dir}")
        try:
            with CancelOnSignals(cancel):
                outcome = RemedyRunner(conn, journal, options).run(
                    plan, print_event, cancel, rescan=lambda: _scan(conn, discovery))
        except (RemedyRefused, LockBusy) as err:
            raise CommandError(f"remedy {args.remedy} refused: {err}") from None
        out()
        out(f"{outcome.result}: {outcome.message}")
        if outcome.record:
            out(f"record: {outcome.record}")
        if outcome.cancelled and not outcome.ok:
            return 130
        return 0 if outcome.ok else 1
    finally:
        try:
            close_connection(conn, args)
        except Exception:  # noqa: BLE001
            pass


def run_list(args) -> int:
    from vfpool_tui.core.conversion.journal import Journal
    from vfpool_tui.core.remedy.records import RemedyJournal

    records = RemedyJournal(Journal(journal_dir(args))).records()
    if not records:
        out(f"no remedy runs in {journal_dir(args)}")
        return 0
    for rec in sorted(records, key=lambda r: (r.finished, r.started)):
        out(rec.describe())
        out(f"    record: {rec.path}")
    return 0


def run_resume(args) -> int:
    from vfpool_tui.core.conversion.journal import Journal, JournalError
    from vfpool_tui.core.conversion.lock import LockBusy
    from vfpool_tui.core.remedy.records import RemedyJournal
    from vfpool_tui.core.remedy.resume import finish

    if args.readonly:
        raise CommandError("--readonly: remedy resume would change the host")
    try:
        journal = Journal(journal_dir(args)).ensure()
    except JournalError as err:
        raise CommandError(str(err)) from None
    records = RemedyJournal(journal).unfinished()
    if not records:
        out(f"no unfinished remedy runs in {journal.dir}")
        return 0
    for rec in records:
        out(rec.describe())
    if not args.yes and not confirm(f"Finish {len(records)} remedy run(s)?"):
        out("nothing changed")
        return 1
    conn = _open(args, write=True)
    status = 0
    try:
        for rec in records:
            try:
                outcome = finish(conn, journal, rec, options_from(args), print_event)
            except LockBusy as err:
                raise CommandError(str(err)) from None
            out(f"{rec.id}: {outcome.result}: {outcome.message}")
            status = status or (0 if outcome.ok else 1)
    finally:
        close_connection(conn, args)
    return status
