"""``vfpool-tui convert GUEST... --network NET``: move guests from hard-coded VFs onto a pool.

Device by device: ``--device [GUEST/]DEVICE=POOL`` (repeatable) converts only the devices it names,
each onto its own pool; DEVICE is a MAC, a user alias (``ua-...``) or the VF's PCI address. A guest
with a ``--device`` keeps its other devices as they are; ``--network`` is then the pool of the guests
that have none. A pool over another PF than the device's VF is refused unless allowed for that device
(``--device-other-pf``, same form) or for every device (``--allow-other-pf``).

Per guest: precheck -> back up (journal) -> shutdown -> define -> start -> verify, rolled back on
failure (core/conversion/engine.py). ``--dry-run`` prints each guest's XML diff and the plan and changes
nothing. Every refusal is one line on stderr with exit status 1 and nothing changed.
Ctrl-C, SIGHUP (the SSH session dropped) and SIGTERM start no further guest; a guest being
converted is brought back up first (original definition if the new one is not in place yet), so a
dropped session never leaves a guest down. A second Ctrl-C stops at once, like a crash: the journal
keeps what was done for ``vfpool-tui journal`` / ``resume`` / ``rollback GUEST``. Never imports
textual/rich.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from vfpool_tui.errors import CommandError


def register(subparsers, parents) -> None:
    p = subparsers.add_parser(
        "convert", parents=parents, help="move guests from hard-coded VFs onto a VF pool",
        description="Convert each guest's hard-coded VF devices (<hostdev> or <interface "
                    "type='hostdev'>) into interfaces on a hostdev pool network, keeping MAC, VLAN, "
                    "boot order and guest PCI slot. Running guests are shut down and started again.")
    p.add_argument("guests", nargs="+", metavar="GUEST", help="guest name or UUID")
    p.add_argument("--network", "-n", default=None, metavar="NET",
                   help="the pool network for every device (of the guests no --device names)")
    p.add_argument("--device", "-d", action="append", default=[], metavar="[GUEST/]DEVICE=POOL",
                   help="convert only this device, onto POOL (repeatable: each device its own pool; "
                        "a device not named is left as it is). DEVICE: its MAC, its user alias (ua-...) "
                        "or its VF's PCI address; GUEST/ when several guests are given and it is ambiguous")
    p.add_argument("--device-other-pf", action="append", default=[], metavar="[GUEST/]DEVICE=POOL",
                   help="like --device, and the pool may be over another PF than the device's VF "
                        "(another physical port)")
    add_run_options(p)
    p.add_argument("--dry-run", action="store_true", help="print the XML diff and the plan only")
    p.add_argument("--yes", "-y", action="store_true", help="do it without asking")
    p.add_argument("--concurrency", type=int, default=4, metavar="N",
                   help="convert up to N guests at a time (default 4)")
    p.add_argument("--stop-on-error", action="store_true",
                   help="start no further guest once one has failed")
    p.add_argument("--allow-other-pf", action="store_true",
                   help="convert every VF even when its pool is on another PF (another physical port)")
    p.add_argument("--mac", action="append", default=[], metavar="VF=MAC",
                   help="MAC for a bare <hostdev> VF whose MAC the host does not know (repeatable)")
    p.set_defaults(func=run_convert)


def add_run_options(p) -> None:
    p.add_argument("--journal-dir", metavar="DIR", default=None,
                   help="where originals and steps are kept (default /var/lib/vfpool-tui; "
                        "with --demo a private temporary directory)")
    p.add_argument("--force-after", type=float, default=None, metavar="SECONDS",
                   help="force a guest off (destroy) if it has not shut down SECONDS after the "
                        "ACPI request (default: never force)")
    p.add_argument("--shutdown-timeout", type=float, default=120.0, metavar="SECONDS",
                   help="give up on a guest that has not shut down after SECONDS (default 120)")


# --------------------------------------------------------------------------- plumbing (tests patch these)


def _open(args, write: bool):
    from vfpool_tui.core.conversion.engine import ensure_event_loop
    from vfpool_tui.core.virt.connection import LibvirtUnavailable, open_connection

    ensure_event_loop()  # before the connection: remote connections only deliver events then
    readonly = True if getattr(args, "readonly", False) else (False if write else None)
    try:
        conn = open_connection(getattr(args, "connect", None), readonly=readonly)
    except LibvirtUnavailable as err:
        raise CommandError(str(err)) from None
    _apply_demo_state(conn, args)
    return conn


def _apply_demo_state(conn, args) -> None:
    uri = getattr(args, "connect", None) or ""
    if not uri.startswith("test://"):
        return
    try:
        from vfpool_tui.core.virt.node_state import apply_node_state, node_path_of

        path = node_path_of(uri)
        if path is not None:
            apply_node_state(conn, path)
    except Exception:  # noqa: BLE001 - demo nicety only
        pass


def close_connection(conn, args) -> None:
    """Close libvirt; a ``--demo`` command first writes the shared demo state back (demo/state.py)."""
    from vfpool_tui.demo import state as demo_state

    try:
        if getattr(args, "demo", False) and demo_state.is_state_uri(getattr(args, "connect", None)):
            demo_state.save(conn)
    finally:
        conn.close()


def _scan(conn, discovery: str | None = None):
    from vfpool_tui.core.scan import scan
    from vfpool_tui.core.virt.connection import LibvirtUnavailable

    try:
        return scan(conn=conn, discovery=discovery)
    except LibvirtUnavailable as err:
        raise CommandError(str(err)) from None


def journal_dir(args):
    from vfpool_tui.core.conversion.journal import DEFAULT_DIR

    if getattr(args, "journal_dir", None):
        return args.journal_dir
    if getattr(args, "demo", False):
        from vfpool_tui.demo import state as demo_state

        # shared by every --demo CLI command, with the demo's libvirt state (a private temp dir)
        return str(demo_state.journal_dir())
    return str(DEFAULT_DIR)


def open_journal(args):
    from vfpool_tui.core.conversion.journal import Journal, JournalError

    try:
        return Journal(journal_dir(args)).ensure()
    except JournalError as err:
        raise CommandError(str(err)) from None


def options_from(args, **extra):
    from vfpool_tui.core.conversion.engine import Options

    if args.force_after is not None and args.force_after < 0:
        raise CommandError("--force-after must be 0 or more seconds")
    if args.shutdown_timeout <= 0:
        raise CommandError("--shutdown-timeout must be more than 0 seconds")
    return Options(shutdown_timeout=args.shutdown_timeout, force_after=args.force_after, **extra)


def out(line: str = "") -> None:
    """Print; a terminal that went away (SSH dropped) must not stop a conversion or a rollback."""
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except (OSError, ValueError):
        pass


def print_event(ev) -> None:
    stamp = time.strftime("%H:%M:%S", time.localtime(ev.time))
    out(f"{stamp} {ev.guest}: {ev.step} {ev.state}: {ev.message}")


class CancelOnSignals:
    """SIGINT, SIGHUP and SIGTERM set ``cancel``: the engine starts no further guest and brings the
    ones it is converting back up (never leaves one down)."""

    SIGNALS = (signal.SIGINT, signal.SIGHUP, signal.SIGTERM)

    def __init__(self, cancel: threading.Event):
        self.cancel = cancel
        self._old = {}

    def _handler(self, signum, _frame):
        if not self.cancel.is_set():
            self.cancel.set()
            out(f"vfpool-tui: {signal.Signals(signum).name}: stopping: no further guest is started; "
                "a guest being converted is brought back up first (Ctrl-C again: stop at once)")
        elif signum == signal.SIGINT:
            # the operator insists: stop now, as a crash would; every step is in the journal already
            out("vfpool-tui: stopped at once; the journal keeps the unfinished conversion: "
                "see 'vfpool-tui journal', then 'vfpool-tui resume' or 'vfpool-tui rollback GUEST'")
            os._exit(130)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._old[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)


def confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise CommandError("refusing to change guests without --yes (stdin is not a terminal)")
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def _parse_macs(items: list[str]) -> dict[str, str]:
    from vfpool_tui.core import pci
    from vfpool_tui.core.conversion.transform import is_mac

    macs = {}
    for item in items:
        vf, sep, mac = item.partition("=")
        if not sep:
            raise CommandError(f"--mac {item!r}: write it as VF=MAC, e.g. 0000:02:10.1=52:54:00:12:34:56")
        try:
            vf = pci.normalize(vf)
        except pci.PciAddressError as err:
            raise CommandError(f"--mac {item!r}: {err}") from None
        if not is_mac(mac):
            raise CommandError(f"--mac {item!r}: {mac!r} is not a MAC address")
        macs[vf] = mac.lower()
    return macs


def device_targets(result, guests: list[str], plain: list[str], other_pf: list[str]) -> dict:
    """``--device`` / ``--device-other-pf`` values as {guest name: [DeviceTarget]}.

    ``[GUEST/]DEVICE=POOL``: libvirt refuses '/' in guest names, and a MAC, an alias or a PCI
    address has no '='. Without GUEST/ the device must belong to exactly one of ``guests``.
    """
    from vfpool_tui.core.conversion.devices import DeviceTarget, matches

    known = [g for g in result.guests if g.name in guests or g.uuid in guests]
    out: dict[str, list] = {}
    for opt, items, allow in (("--device", plain, False), ("--device-other-pf", other_pf, True)):
        for item in items:
            who, slash, rest = item.partition("/")
            if not slash:
                who, rest = "", item
            device, eq, pool = rest.partition("=")
            if not eq or not device.strip() or not pool.strip():
                raise CommandError(f"{opt} {item!r}: write it as [GUEST/]DEVICE=POOL, e.g. "
                                   "ua-net0=pool-a or web/52:54:00:12:34:56=pool-b")
            if who:
                g = next((x for x in known if who in (x.name, x.uuid)), None)
                if g is None:
                    raise CommandError(f"{opt} {item!r}: '{who}' is not one of the guests to convert")
            else:
                owners = [x for x in known if any(matches(u, device) for u in x.vf_uses)]
                if not owners:
                    raise CommandError(f"{opt} {item!r}: none of the guests to convert has a VF device "
                                       f"'{device}' (a MAC, a user alias or a VF address)")
                if len(owners) > 1:
                    raise CommandError(f"{opt} {item!r}: '{device}' is a device of "
                                       + ", ".join(f"'{x.name}'" for x in owners)
                                       + f"; write GUEST/{device}={pool}")
                g = owners[0]
            out.setdefault(g.name, []).append(DeviceTarget(device.strip(), pool.strip(), allow))
    return out


def _named_in(result, guest: str, devices: dict) -> bool:
    g = next((x for x in result.guests if guest in (x.name, x.uuid)), None)
    return g is not None and g.name in devices


# --------------------------------------------------------------------------- convert


def run_convert(args) -> int:
    from vfpool_tui.core.conversion.engine import ConversionEngine, PlanError
    from vfpool_tui.core.conversion.events import Result
    from vfpool_tui.core.conversion.journal import Journal, JournalError
    from vfpool_tui.core.conversion.lock import ConversionLock, LockBusy

    if args.readonly and not args.dry_run:
        raise CommandError("convert changes guests; it cannot run with --readonly (try --dry-run)")
    if args.concurrency < 1:
        raise CommandError("--concurrency must be 1 or more")
    options = options_from(args, concurrency=args.concurrency, stop_on_error=args.stop_on_error)
    macs_by_vf = _parse_macs(args.mac)

    conn = _open(args, write=not args.dry_run)
    try:
        result = _scan(conn, getattr(args, "discovery", None))
        macs: dict[str, dict[str, str]] = {}
        for g in result.guests:
            for u in g.vf_uses:
                if u.pci in macs_by_vf:
                    macs.setdefault(g.name, {})[u.pci] = macs_by_vf[u.pci]
        unused = sorted(set(macs_by_vf) - {vf for m in macs.values() for vf in m})
        if unused:
            raise CommandError(f"--mac {unused[0]}: no guest has that VF hard-coded")

        devices = device_targets(result, list(args.guests), args.device, args.device_other_pf)
        if not args.network:
            bare = [g for g in args.guests if not _named_in(result, g, devices)]
            if bare:
                raise CommandError(f"no pool for '{bare[0]}': give --network NET (every device) or "
                                   "--device DEVICE=POOL (each device onto its own pool)")
        jdir = journal_dir(args)
        journal = Journal(jdir)
        engine = ConversionEngine(conn, journal, options)
        try:
            plan = engine.plan(result, list(args.guests), args.network, devices=devices, macs=macs,
                               allow_other_pf=args.allow_other_pf)
        except PlanError as err:
            raise CommandError(str(err)) from None
        if plan.refused:
            raise CommandError("; ".join(
                f"cannot convert '{r.guest}': {r.reason}" if r.guest else f"cannot convert: {r.reason}"
                for r in plan.refused))
        pending = {r.guest for r in journal.unfinished()} if os.path.isdir(jdir) else set()
        stuck = [g.guest for g in plan.guests if g.guest in pending]
        if stuck:
            raise CommandError(f"'{stuck[0]}' has an unfinished conversion in {jdir}: run "
                               f"`vfpool-tui resume` or `vfpool-tui rollback {stuck[0]}` first")

        _print_plan(plan)
        if args.dry_run:
            for gp in plan.guests:
                out()
                out(gp.diff().rstrip("\n"))
            out()
            out("dry run: nothing changed")
            return 0

        if not args.yes:
            running = [g.guest for g in plan.guests if g.was_running]
            q = f"Convert {len(plan.guests)} guest(s) to {plan.target_phrase()}"
            if running:
                q += f"? {', '.join(running)} will be shut down and started again (downtime)"
            if not confirm(q + "?" if not running else q + "."):
                out("nothing changed")
                return 1

        try:
            journal.ensure()  # created 0700 if missing
        except JournalError as err:
            raise CommandError(str(err)) from None
        cancel = threading.Event()
        lock = ConversionLock(journal.dir)
        try:
            lock.acquire("convert " + " ".join(args.guests))
        except LockBusy as err:
            raise CommandError(str(err)) from None
        except OSError as err:
            raise CommandError(f"cannot lock {lock.path}: {err}") from None
        try:
            out(f"journal: {journal.dir}")
            with CancelOnSignals(cancel):
                outcome = engine.run(plan, print_event, cancel, lock=lock)
        finally:
            lock.release()
        return _print_outcome(outcome.guests, cancelled=outcome.cancelled, wanted=Result.CONVERTED)
    finally:
        try:
            close_connection(conn, args)
        except Exception:  # noqa: BLE001
            pass


def _print_plan(plan) -> None:
    out(f"plan: {plan.summary()}")
    for gp in plan.guests:
        what = "running: shut down, define, start" if gp.was_running else f"{gp.state}: define only"
        if len(gp.pools) == 1:
            out(f"  {gp.guest} ({what}): {', '.join(gp.sources)} -> '{gp.network}'")
        else:
            out(f"  {gp.guest} ({what}): " + ", ".join(f"{s} -> '{n}'" for s, n in gp.targets))
        for src, mac in gp.macs:
            out(f"    {src}: keeps MAC {mac}")
        for w in gp.boot_warnings:
            out(f"    warning: {w}")
        for note in gp.notes:
            out(f"    note: {note}")
    for w in plan.warnings:
        out(f"  warning: {w}")


def outcome_line(g) -> str:
    """``guest: result: message``, the result said once (a message may begin with it already)."""
    if g.message.split(";", 1)[0].split(":", 1)[0].strip() == str(g.result):
        return f"{g.guest}: {g.message}"
    return f"{g.guest}: {g.result}: {g.message}"


def _print_outcome(guests, cancelled: bool, wanted, say_result: bool = True) -> int:
    """One line per guest (``say_result=False``: the messages say it, e.g. "reverted: ...")."""
    from vfpool_tui.core.conversion.events import Result

    out()
    for g in guests:
        out(outcome_line(g) if say_result else f"{g.guest}: {g.message}")
        if g.result not in (wanted, Result.SKIPPED, Result.UNCHANGED) and g.backup:
            out(f"  original XML: {g.backup}")
    if cancelled:
        return 130
    return 0 if all(g.result is wanted for g in guests) else 1
