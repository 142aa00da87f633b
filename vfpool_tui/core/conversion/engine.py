"""The conversion engine: hard-coded VF guests onto a hostdev pool, per guest

    precheck -> back up -> shutdown -> define -> start -> verify

with rollback to a known state on any failure, a journal on disk for interrupted runs, bounded
concurrency, and a VF budget so no more guests are started on a pool than it has free VFs.

No UI here (no textual, no rich): progress is a stream of ``events.StepEvent`` given to
``on_event``; the result is a frozen ``events.Outcome``. Thread use: one libvirt connection is
shared by the worker threads (libvirt's virConnect is thread-safe); ``on_event`` is called from
those threads, one call at a time. Every wait has a timeout and checks ``cancel_event``.

libvirt calls used: ``XMLDesc``, ``isActive``, ``isPersistent``, ``state``, ``hasManagedSaveImage``,
``snapshotNum``, ``shutdown``, ``destroy``, ``create``, ``conn.defineXMLFlags(VALIDATE)`` for the new
definition (plain ``defineXML`` to restore the original), ``conn.networkLookupByName``,
``net.listAllPorts``, and lifecycle events (``domainEventRegisterAny``) with polling as fallback.

Safety rules: the original XML is on disk (fsync'ed) before anything is sent to a guest; the new XML
is defined only while the definition it was made from is still in place (someone may edit or undefine
the guest during the shutdown wait); a stop request never leaves a guest down; a libvirt error
nobody planned for is reported as "lost track" with the backup, the journal record left open.

This module is the run: ``ConversionEngine`` plans, runs the guests of a plan in parallel under the
VF budget, and does each guest's precheck and backup. The other parts, each in its module:

- ``plan.py``: planning and its refusals (``PlanError``), the VF count of a plan
- ``budget.py``: the run's VF budget (``VfBudget``)
- ``shutdown.py``: libvirt's event loop, the lifecycle watcher, the shutdown wait
- ``verify.py``: the verify step (running? which VF and MAC did each device get?)
- ``sequence.py``: shutdown -> define -> start -> verify of one guest (``GuestSequence``), shared
  with resume; ``rollback.py``: back to the original definition when a step fails (``Rollback``);
  ``reporting.py``: step events, outcomes and journal endings (``RunReporting``)
- ``recover.py``: resume / rollback from the journal (``JournalRecovery``, a base class of the engine)
- ``revert.py``: undo a finished conversion (``Revert``, a base class of the engine)
- ``guest_run.py``: one guest's conversion while it runs (``GuestRun``)
- ``definitions.py``, ``domain_state.py``, ``command_hints.py``: comparing and defining a guest's
  XML, its state in libvirt, the commands a message tells the operator to run
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import libvirt

from vfpool_tui.core.conversion import transform
from vfpool_tui.core.conversion.budget import VfBudget, is_releaser, net_need
from vfpool_tui.core.conversion.devices import DeviceTarget, pool_phrase
from vfpool_tui.core.conversion.events import (
    EventSink,
    GuestOutcome,
    GuestPlan,
    Outcome,
    Plan,
    Result,
    Step,
    StepState,
)
from vfpool_tui.core.conversion.guest_run import GuestRun
from vfpool_tui.core.conversion.journal import JournalError
from vfpool_tui.core.conversion.lock import ConversionLock

# imported from here by the CLI, the TUI and the tests (they live in the modules named above)
from vfpool_tui.core.conversion.options import Options  # noqa: F401
from vfpool_tui.core.conversion.plan import (
    PlanError,  # noqa: F401
    build_plan,
    guest_blocker,
    unfinished_uuids,
)
from vfpool_tui.core.conversion.recover import JournalRecovery
from vfpool_tui.core.conversion.revert import Revert, RevertRefused  # noqa: F401
from vfpool_tui.core.conversion.shutdown import ensure_event_loop  # noqa: F401
from vfpool_tui.core.conversion.verify import parse_port  # noqa: F401
from vfpool_tui.core.model import Scan
from vfpool_tui.core.virt import connection, xmlutil
from vfpool_tui.core.virt.definitions import XML_INACTIVE_SECURE, schema_errors
from vfpool_tui.core.virt.domain_state import is_gone, state_of

_Ctx = GuestRun  # its name before it moved to guest_run.py (a test builds one)


# --------------------------------------------------------------------------- the engine


class ConversionEngine(JournalRecovery, Revert):
    """Plan and run conversions; resume and roll back from the journal (``recover.py``); revert a
    finished conversion (``revert.py``)."""

    # ---------------------------------------------------------------- planning

    def plan(self, scan: Scan, guests: list[str], network: str | None, *,
             devices: dict[str, list[DeviceTarget]] | None = None,
             macs: dict[str, dict[str, str]] | None = None,
             sources: dict[str, list[str]] | None = None,
             allow_other_pf: bool = False) -> Plan:
        """Check everything that can be checked without touching a guest, and build the new XML.

        Raises PlanError when a pool is unusable; per-guest problems become ``refused``.
        ``network``: the pool for every device of a guest not in ``devices``; ``devices``: {guest:
        [DeviceTarget]} to convert only the named devices, each onto its own pool.
        ``macs``: {guest: {vf address: MAC}} for bare hostdevs; ``sources``: {guest: [vf
        addresses]} to convert only some of a guest's VFs (default: all of them). See plan.py.
        """
        return build_plan(self.conn, self.journal, scan, guests, network, devices=devices, macs=macs,
                          sources=sources, allow_other_pf=allow_other_pf)

    # ---------------------------------------------------------------- run

    def run(self, plan: Plan, on_event: EventSink | None = None,
            cancel_event: threading.Event | None = None,
            lock: ConversionLock | None = None) -> Outcome:
        """Convert every guest of the plan. Raises LockBusy when another instance is converting.

        ``cancel_event`` (Ctrl-C, SIGHUP, a UI key) starts no further guest. A guest already being
        converted is first brought back to a running state, never left down: on its original
        definition when the new one is not in place yet (ROLLED_BACK), else on the new one
        (CONVERTED). Guests not touched end SKIPPED, nothing changed.
        """
        cancel = cancel_event or threading.Event()
        own_lock = lock is None
        lock = lock or ConversionLock(self.journal.ensure().dir)
        if own_lock:
            lock.acquire("convert")
        self._setup(on_event)
        try:
            nets = {gp.guest: net_need(gp) for gp in plan.guests}
            free = ({b.network: b.free for b in plan.budgets} if plan.budgets
                    else {plan.network: plan.pool_free})
            budget = VfBudget(free, sum(1 for n in nets.values() if is_releaser(n)))
            stop = threading.Event()
            outcomes: dict[str, GuestOutcome] = {}

            def work(gp: GuestPlan) -> GuestOutcome:
                if cancel.is_set() or stop.is_set():
                    why = "cancelled" if cancel.is_set() else "stopped after another guest failed"
                    if is_releaser(nets[gp.guest]):
                        budget.releaser_done()
                    return self._done(None, GuestOutcome(
                        gp.guest, Result.SKIPPED, f"not converted ({why}); nothing changed", state=gp.state))
                out = self._convert(gp, budget, cancel)
                if out.result not in (Result.CONVERTED,) and self.options.stop_on_error:
                    stop.set()
                return out

            # guests that give pool VFs back go first, so nobody waits for a guest still queued
            order = sorted(plan.guests, key=lambda gp: sum(nets[gp.guest].values()))
            n = max(1, int(self.options.concurrency))
            with ThreadPoolExecutor(max_workers=n, thread_name_prefix="vfpool-convert") as pool:
                futures = {gp.guest: pool.submit(work, gp) for gp in order}
                for gp in plan.guests:
                    try:
                        outcomes[gp.guest] = futures[gp.guest].result()
                    except Exception as err:  # a bug: report it, never lose the guest
                        outcomes[gp.guest] = GuestOutcome(
                            gp.guest, Result.FAILED, f"internal error: {err!r}; see `vfpool-tui journal` "
                            "for its backup")
            return Outcome(guests=tuple(outcomes[g.guest] for g in plan.guests), cancelled=cancel.is_set())
        finally:
            self._teardown()
            if own_lock:
                lock.release()

    def _convert(self, gp: GuestPlan, budget: VfBudget, cancel: threading.Event) -> GuestOutcome:
        ctx = GuestRun(guest=gp.guest, uuid=gp.uuid, network=gp.network, sources=gp.sources,
                       pool_sources=gp.pool_sources, macs=dict(gp.macs), was_running=False,
                       releaser=is_releaser(net_need(gp)), targets=dict(gp.targets))
        ctx.gives_back = gp.gives_back or tuple((s, gp.network) for s in gp.pool_sources)
        try:
            try:
                out = self._convert_inner(ctx, budget, cancel)
            except Exception as err:  # noqa: BLE001 - libvirt lost mid-way, or a bug: say what is known
                out = self._unexpected(ctx, budget, err)
            return self._done(ctx, out)
        finally:
            if ctx.releaser and not ctx.released:
                budget.releaser_done()

    def _convert_inner(self, ctx: GuestRun, budget: VfBudget, cancel: threading.Event) -> GuestOutcome:
        g = ctx.guest
        E = self._emit
        E(ctx, g, Step.PRECHECK, StepState.STARTED, "checking the guest and the pool")
        try:
            dom = self.conn.lookupByUUIDString(ctx.uuid)
            ctx.dom = dom
            if not dom.isPersistent():
                raise _Refuse("it is transient")
            # checked again here, under the lock: the plan may be old (the TUI plans, then runs)
            why = guest_blocker(dom, g, ctx.uuid, unfinished_uuids(self.journal))
            if why:
                raise _Refuse(why)
            original = dom.XMLDesc(XML_INACTIVE_SECURE)
            present = transform.hardcoded_sources(original)
            gone = [s for s in ctx.sources if s not in present]
            if gone:
                raise _Refuse("its definition changed since the plan: " + ", ".join(gone)
                              + " is no longer hard-coded")
            res = transform.convert_domain(original, ctx.target_map(), ctx.sources, ctx.macs)
            errors = schema_errors(res.xml, original)
            if errors:
                raise _Refuse("the converted definition fails libvirt's schema: " + errors[0])
            running = bool(dom.isActive())
            live = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE) if running else None
            for name in ctx.pools:
                if not self.conn.networkLookupByName(name).isActive():
                    raise _Refuse(f"pool network '{name}' is not active")
        except _Refuse as why:
            E(ctx, g, Step.PRECHECK, StepState.FAILED, str(why))
            return GuestOutcome(g, Result.UNCHANGED, f"refused: {why}; nothing changed",
                                state=state_of(ctx.dom) if ctx.dom else None)
        except (libvirt.libvirtError, transform.TransformError, xmlutil.XmlError) as err:
            msg = connection.describe(err)
            if isinstance(err, libvirt.libvirtError) and is_gone(err):
                msg = f"it no longer exists ({msg})"
            E(ctx, g, Step.PRECHECK, StepState.FAILED, msg)
            return GuestOutcome(g, Result.UNCHANGED, f"refused: {msg}; nothing changed",
                                state=state_of(ctx.dom) if ctx.dom else None)
        ctx.was_running = running
        ctx.original_xml = ctx.base_xml = original
        ctx.new_xml = res.xml
        ctx.changes = res.changes
        ctx.net_need = _needs(ctx) if running else {}
        E(ctx, g, Step.PRECHECK, StepState.OK, "running: will be shut down and started again" if running
          else "shut off: will only be re-defined")

        # the pool VFs it will need are taken now, while it still runs: a wait costs no downtime
        takes = {p: n for p, n in ctx.net_need.items() if n > 0}
        if takes:
            timeout = self.options.vf_wait_timeout
            if timeout is None:
                timeout = self.options.shutdown_timeout + 30
            if budget.short(takes):
                E(ctx, g, Step.PRECHECK, StepState.WAITING,
                  "waiting for another guest to free a pool VF (it keeps running meanwhile)")
            if not budget.take(takes, cancel, timeout):
                if cancel.is_set():
                    return GuestOutcome(g, Result.SKIPPED, "cancelled before anything changed",
                                        state=state_of(dom))
                short = budget.short(takes) or list(takes)
                msg = (f"no free VF in {pool_phrase(short)} for it; still {state_of(dom)}, "
                       "nothing changed")
                E(ctx, g, Step.PRECHECK, StepState.FAILED, msg)
                return GuestOutcome(g, Result.UNCHANGED, msg, state=state_of(dom))
            ctx.budget_delta = dict(takes)
        if cancel.is_set():
            self._return_budget(ctx, budget)
            return GuestOutcome(g, Result.SKIPPED, "cancelled before anything changed", state=state_of(dom))

        # back up, fsync'ed, before anything changes
        E(ctx, g, Step.BACKUP, StepState.STARTED, "writing the original XML to the journal")
        try:
            ctx.record = self.journal.begin(
                guest=g, uuid=ctx.uuid, network=ctx.network, sources=ctx.sources,
                was_running=running, inactive_xml=original, live_xml=live, new_xml=res.xml,
                macs=ctx.macs, pool_sources=list(ctx.pool_sources), targets=ctx.target_map(),
                gives_back=[list(x) for x in ctx.gives_back])
        except (OSError, JournalError) as err:
            self._return_budget(ctx, budget)
            why = f"{err.strerror} ({err.filename})" if isinstance(err, OSError) and err.strerror else str(err)
            E(ctx, g, Step.BACKUP, StepState.FAILED, f"cannot write the journal: {why}")
            return GuestOutcome(g, Result.UNCHANGED, f"journal not writable ({why}); still "
                                f"{state_of(dom)}, nothing changed", state=state_of(dom))
        E(ctx, g, Step.BACKUP, StepState.OK, f"original XML saved in {ctx.record.inactive_path}")
        return self._drive(ctx, budget, cancel)


class _Refuse(Exception):
    pass


def _needs(ctx: GuestRun) -> dict[str, int]:
    """{pool: VFs a running guest takes from it beyond what it gives back to it} (may be < 0)."""
    out: dict[str, int] = {}
    for net in ctx.target_map().values():
        out[net] = out.get(net, 0) + 1
    for _src, net in ctx.gives_back:
        out[net] = out.get(net, 0) - 1
    return {p: n for p, n in out.items() if n}
