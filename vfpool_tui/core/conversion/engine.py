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

This module is the run: ``ConversionEngine`` and its per-guest sequence, with rollback when a step
fails. The other parts, each in its module:

- ``plan.py``: planning and its refusals (``PlanError``), the VF count of a plan
- ``budget.py``: the run's VF budget (``VfBudget``)
- ``shutdown.py``: libvirt's event loop, the lifecycle watcher, the shutdown wait
- ``verify.py``: the verify step (running? which VF and MAC did each device get?)
- ``recover.py``: resume / rollback from the journal (``JournalRecovery``, a base class of the engine)
- ``guest_run.py``: one guest's conversion while it runs (``GuestRun``)
- ``definitions.py``, ``domain_state.py``, ``command_hints.py``: comparing and defining a guest's
  XML, its state in libvirt, the commands a message tells the operator to run
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import libvirt

from vfpool_tui.core.conversion import transform
from vfpool_tui.core.conversion.budget import VfBudget, net_need
from vfpool_tui.core.conversion.command_hints import cli_guest, q, virsh_dom
from vfpool_tui.core.conversion.events import (
    EventSink,
    GuestOutcome,
    GuestPlan,
    Outcome,
    Plan,
    Result,
    Step,
    StepEvent,
    StepState,
)
from vfpool_tui.core.conversion.guest_run import GuestRun
from vfpool_tui.core.conversion.journal import Journal, JournalError
from vfpool_tui.core.conversion.lock import ConversionLock
from vfpool_tui.core.conversion.options import Options

# imported from here by the CLI, the TUI and the tests (they live in the modules named above)
from vfpool_tui.core.conversion.plan import (
    PlanError,  # noqa: F401
    build_plan,
    guest_blocker,
    unfinished_uuids,
)
from vfpool_tui.core.conversion.recover import JournalRecovery
from vfpool_tui.core.conversion.shutdown import (
    LifecycleWatcher,
    ensure_event_loop,  # noqa: F401
    shut_down,
)
from vfpool_tui.core.conversion.verify import (
    macs_from_config,
    parse_port,  # noqa: F401
    wait_running,
    what_it_got,
)
from vfpool_tui.core.model import Scan
from vfpool_tui.core.virt import connection, xmlutil
from vfpool_tui.core.virt.definitions import XML_INACTIVE_SECURE, define_validated, same_xml, schema_errors
from vfpool_tui.core.virt.domain_state import is_gone, power_of, state_of

_Ctx = GuestRun  # its name before it moved to guest_run.py (a test builds one)


# --------------------------------------------------------------------------- the engine


class ConversionEngine(JournalRecovery):
    def __init__(self, conn, journal: Journal, options: Options | None = None):
        connection.silence_libvirt_stderr()
        self.conn = conn
        self.journal = journal
        self.options = options or Options()
        self._force: set[str] = set()
        self._force_lock = threading.Lock()
        self._emit_lock = threading.Lock()
        self._on_event: EventSink | None = None
        self._watcher: LifecycleWatcher | None = None

    # ---------------------------------------------------------------- planning

    def plan(self, scan: Scan, guests: list[str], network: str, *,
             macs: dict[str, dict[str, str]] | None = None,
             sources: dict[str, list[str]] | None = None,
             allow_other_pf: bool = False) -> Plan:
        """Check everything that can be checked without touching a guest, and build the new XML.

        Raises PlanError when the network is unusable; per-guest problems become ``refused``.
        ``macs``: {guest: {vf address: MAC}} for bare hostdevs; ``sources``: {guest: [vf
        addresses]} to convert only some of a guest's VFs (default: all of them). See plan.py.
        """
        return build_plan(self.conn, self.journal, scan, guests, network, macs=macs, sources=sources,
                          allow_other_pf=allow_other_pf)

    # ---------------------------------------------------------------- events and control

    def force(self, guest: str) -> None:
        """Power a guest off (destroy) now if it is waiting for a graceful shutdown (UI key)."""
        with self._force_lock:
            self._force.add(guest)

    def _forced(self, guest: str) -> bool:
        with self._force_lock:
            return guest in self._force

    def _emit(self, ctx: GuestRun | None, guest: str, step: Step, state: StepState, message: str,
              detail: str | None = None, result: Result | None = None) -> None:
        ev = StepEvent(guest=guest, step=step, state=state, message=message, detail=detail, result=result)
        if ctx is not None and step is not Step.DONE:
            ctx.step = step
        with self._emit_lock:
            if ctx is not None and ctx.record is not None:
                try:
                    ctx.record.step(step, state, message)
                except OSError:
                    pass  # the original XML is already on disk; a lost log line is survivable
            if self._on_event is not None:
                try:
                    self._on_event(ev)
                except Exception:  # a broken printer (SSH gone) must not stop a rollback
                    pass

    def _done(self, ctx: GuestRun | None, out: GuestOutcome, wanted: Result = Result.CONVERTED) -> GuestOutcome:
        """Exactly one DONE event per guest, carrying the result (OK when it is the ``wanted`` one)."""
        if out.result is wanted:
            state = StepState.OK
        elif out.result is Result.SKIPPED:
            state = StepState.SKIPPED
        else:
            state = StepState.FAILED
        self._emit(ctx, out.guest, Step.DONE, state, out.message, result=out.result)
        return out

    def _setup(self, on_event: EventSink | None) -> None:
        self._on_event = on_event
        self._watcher = LifecycleWatcher(self.conn)

    def _teardown(self) -> None:
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
        self._on_event = None

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
            budget = VfBudget(plan.pool_free, sum(1 for n in nets.values() if n < 0))
            stop = threading.Event()
            outcomes: dict[str, GuestOutcome] = {}

            def work(gp: GuestPlan) -> GuestOutcome:
                if cancel.is_set() or stop.is_set():
                    why = "cancelled" if cancel.is_set() else "stopped after another guest failed"
                    if nets[gp.guest] < 0:
                        budget.releaser_done()
                    return self._done(None, GuestOutcome(
                        gp.guest, Result.SKIPPED, f"not converted ({why}); nothing changed", state=gp.state))
                out = self._convert(gp, budget, cancel)
                if out.result not in (Result.CONVERTED,) and self.options.stop_on_error:
                    stop.set()
                return out

            # guests that give pool VFs back go first, so nobody waits for a guest still queued
            order = sorted(plan.guests, key=lambda gp: nets[gp.guest])
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
                   releaser=net_need(gp) < 0)
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
            res = transform.convert_domain(original, ctx.network, ctx.sources, ctx.macs)
            errors = schema_errors(res.xml, original)
            if errors:
                raise _Refuse("the converted definition fails libvirt's schema: " + errors[0])
            running = bool(dom.isActive())
            live = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE) if running else None
            net = self.conn.networkLookupByName(ctx.network)
            if not net.isActive():
                raise _Refuse(f"pool network '{ctx.network}' is not active")
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
        ctx.net_need = len(ctx.sources) - len(ctx.pool_sources) if running else 0
        E(ctx, g, Step.PRECHECK, StepState.OK, "running: will be shut down and started again" if running
          else "shut off: will only be re-defined")

        # the pool VFs it will need are taken now, while it still runs: a wait costs no downtime
        if ctx.net_need > 0:
            timeout = self.options.vf_wait_timeout
            if timeout is None:
                timeout = self.options.shutdown_timeout + 30
            if budget.free is not None and budget.free < ctx.net_need:
                E(ctx, g, Step.PRECHECK, StepState.WAITING,
                  "waiting for another guest to free a pool VF (it keeps running meanwhile)")
            if not budget.take(ctx.net_need, cancel, timeout):
                if cancel.is_set():
                    return GuestOutcome(g, Result.SKIPPED, "cancelled before anything changed",
                                        state=state_of(dom))
                msg = f"no free VF in pool '{ctx.network}' for it; still {state_of(dom)}, nothing changed"
                E(ctx, g, Step.PRECHECK, StepState.FAILED, msg)
                return GuestOutcome(g, Result.UNCHANGED, msg, state=state_of(dom))
            ctx.budget_delta = ctx.net_need
        if cancel.is_set():
            self._return_budget(ctx, budget)
            return GuestOutcome(g, Result.SKIPPED, "cancelled before anything changed", state=state_of(dom))

        # back up, fsync'ed, before anything changes
        E(ctx, g, Step.BACKUP, StepState.STARTED, "writing the original XML to the journal")
        try:
            ctx.record = self.journal.begin(
                guest=g, uuid=ctx.uuid, network=ctx.network, sources=ctx.sources,
                was_running=running, inactive_xml=original, live_xml=live, new_xml=res.xml,
                macs=ctx.macs, pool_sources=list(ctx.pool_sources))
        except (OSError, JournalError) as err:
            self._return_budget(ctx, budget)
            why = f"{err.strerror} ({err.filename})" if isinstance(err, OSError) and err.strerror else str(err)
            E(ctx, g, Step.BACKUP, StepState.FAILED, f"cannot write the journal: {why}")
            return GuestOutcome(g, Result.UNCHANGED, f"journal not writable ({why}); still "
                                f"{state_of(dom)}, nothing changed", state=state_of(dom))
        E(ctx, g, Step.BACKUP, StepState.OK, f"original XML saved in {ctx.record.inactive_path}")
        return self._drive(ctx, budget, cancel)

    def _return_budget(self, ctx: GuestRun, budget: VfBudget) -> None:
        """The guest holds what it held before (or less): undo what was counted for it."""
        if ctx.budget_delta:
            budget.give_back(ctx.budget_delta)
            ctx.budget_delta = 0

    def _finish(self, ctx: GuestRun, result: Result, message: str) -> None:
        """End the journal record; a full disk here must not hide the outcome from the operator."""
        if ctx.record is None:
            return
        try:
            ctx.record.finish(result, message)
        except OSError:
            pass

    def _outcome(self, ctx: GuestRun, result: Result, message: str, **kw) -> GuestOutcome:
        rec = ctx.record
        kw.setdefault("state", state_of(ctx.dom) if ctx.dom is not None else None)
        return GuestOutcome(ctx.guest, result, message, record=str(rec.path) if rec else None,
                            backup=str(rec.inactive_path) if rec else None, **kw)

    def _unexpected(self, ctx: GuestRun, budget: VfBudget, err: BaseException) -> GuestOutcome:
        """An error nobody planned for (libvirt connection lost, guest undefined by someone else,
        a bug). Say what is known; the journal record stays open for resume / rollback."""
        g = ctx.guest
        if isinstance(err, libvirt.libvirtError) and is_gone(err):
            return self._vanished(ctx)
        what = connection.describe(err) if isinstance(err, libvirt.libvirtError) else f"internal error {err!r}"
        if not ctx.touched:
            self._return_budget(ctx, budget)
            msg = f"{what} during {ctx.step}, before anything was sent to the guest; nothing changed"
            self._emit(ctx, g, ctx.step, StepState.FAILED, msg)
            self._finish(ctx, Result.UNCHANGED, msg)
            return self._outcome(ctx, Result.UNCHANGED, msg)
        state = state_of(ctx.dom) if ctx.dom is not None else None
        msg = (f"lost track of it during {ctx.step} ({what}); it is "
               f"{state or 'in an unknown state (libvirt does not answer)'}")
        if ctx.record is not None:
            msg += (f". Its original definition is saved in {ctx.record.inactive_path}; once libvirt answers, "
                    f"`vfpool-tui resume` finishes the conversion and `vfpool-tui rollback "
                    f"{cli_guest(g, ctx.uuid)}` undoes it")
        self._emit(ctx, g, ctx.step, StepState.FAILED, msg)
        return self._outcome(ctx, Result.INTERRUPTED, msg, state=state)

    def _vanished(self, ctx: GuestRun) -> GuestOutcome:
        msg = (f"the guest no longer exists in libvirt (undefined by someone else during {ctx.step}); it "
               "was not re-created")
        if ctx.record is not None:
            backup = ctx.record.inactive_path
            msg += (f"; its original definition is saved in {backup} (`virsh define {q(backup)}` "
                    "re-creates it)")
        self._emit(ctx, ctx.guest, ctx.step, StepState.FAILED, msg)
        self._finish(ctx, Result.FAILED, msg)
        return self._outcome(ctx, Result.FAILED, msg, state=None)

    # ---------------------------------------------------------------- the sequence (also resume)

    def _drive(self, ctx: GuestRun, budget: VfBudget, cancel: threading.Event) -> GuestOutcome:
        """Shutdown -> define -> start -> verify, from wherever the guest is now."""
        g, dom, E = ctx.guest, ctx.dom, self._emit
        current = dom.XMLDesc(XML_INACTIVE_SECURE)
        defined_new = not any(s in transform.hardcoded_sources(current) for s in ctx.sources)

        if not defined_new:
            if power_of(dom) == "on":
                if cancel.is_set():
                    return self._stopped_untouched(ctx, budget)
                how = self._shutdown(ctx, cancel)
                if how == "gone":
                    return self._vanished(ctx)
                if how != "off":
                    self._return_budget(ctx, budget)
                    self._finish(ctx, Result.UNCHANGED, how)
                    return self._outcome(ctx, Result.UNCHANGED, how)
            if ctx.net_need < 0:  # its hard-coded pool VFs are free now
                budget.give_back(-ctx.net_need)
                ctx.budget_delta += ctx.net_need
            if ctx.releaser and not ctx.released:
                budget.releaser_done()
                ctx.released = True
            if cancel.is_set():
                return self._restart_original(ctx, budget, "stopped on request before the new definition "
                                                           "was put in place")
            # compare, then define: someone may have edited the guest meanwhile
            now = dom.XMLDesc(XML_INACTIVE_SECURE)
            if not same_xml(now, ctx.base_xml):
                msg = ("its definition was changed by someone else during the conversion; not converted "
                       "(defining the new XML would have overwritten that change)")
                E(ctx, g, Step.DEFINE, StepState.FAILED, msg)
                return self._restart_original(ctx, budget, msg, definition="the definition it has now")
            E(ctx, g, Step.DEFINE, StepState.STARTED, f"defining it on pool '{ctx.network}'",
              detail=ctx.new_xml)
            ctx.touched = True
            try:
                define_validated(self.conn, ctx.new_xml)
            except libvirt.libvirtError as err:
                msg = connection.describe(err)
                E(ctx, g, Step.DEFINE, StepState.FAILED, msg)
                after = dom.XMLDesc(XML_INACTIVE_SECURE)  # libvirt lost: no guess, _unexpected says so
                if same_xml(after, ctx.base_xml):
                    return self._restart_original(ctx, budget, f"define failed ({msg}); the old definition "
                                                               "is untouched")
                return self._restore_original(ctx, budget, f"define failed ({msg}) but changed the "
                                                           "definition")
            E(ctx, g, Step.DEFINE, StepState.OK, "new definition in place")
        # from here on a stop request finishes the conversion: the new definition is in place

        if ctx.was_running and power_of(dom) == "off":
            E(ctx, g, Step.START, StepState.STARTED, f"starting it ({len(ctx.sources)} VF(s) from the pool)")
            ctx.touched = True
            try:
                dom.create()
            except libvirt.libvirtError as err:
                if is_gone(err):
                    return self._vanished(ctx)
                msg = connection.describe(err)
                E(ctx, g, Step.START, StepState.FAILED, msg)
                return self._restore_original(ctx, budget, f"start failed ({msg})")
            E(ctx, g, Step.START, StepState.OK, "started")

        # verify
        E(ctx, g, Step.VERIFY, StepState.STARTED, "checking what it runs with")
        if ctx.was_running:
            if not wait_running(dom, start_timeout=self.options.start_timeout,
                                poll_interval=self.options.poll_interval, clock=time.monotonic,
                                sleep=time.sleep):
                msg = f"it is {state_of(dom) or 'in an unknown state'} after start, not running"
                E(ctx, g, Step.VERIFY, StepState.FAILED, msg)
                if power_of(dom) == "on":
                    try:
                        dom.destroy()
                    except libvirt.libvirtError:
                        pass
                return self._restore_original(ctx, budget, msg)
            vfs, macs = self._what_it_got(ctx)
            shown = ", ".join(f"{v or 'unknown VF'} (MAC {m or 'unknown'})" for v, m in zip(vfs, macs))
            E(ctx, g, Step.VERIFY, StepState.OK, f"running on pool '{ctx.network}': {shown}")
            msg = f"converted; running on pool '{ctx.network}' with {shown}"
        else:
            now = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
            left = [s for s in ctx.sources if s in transform.hardcoded_sources(now)]
            if left:
                msg = "the definition libvirt kept still hard-codes " + ", ".join(left)
                E(ctx, g, Step.VERIFY, StepState.FAILED, msg)
                return self._restore_original(ctx, budget, msg)
            vfs, macs = tuple(None for _ in ctx.sources), macs_from_config(ctx, now)
            E(ctx, g, Step.VERIFY, StepState.OK, f"shut off; defined on pool '{ctx.network}' (a VF is "
                                                 "taken from the pool when it starts)")
            msg = f"converted; shut off, defined on pool '{ctx.network}'"
        self._finish(ctx, Result.CONVERTED, msg)
        return self._outcome(ctx, Result.CONVERTED, msg, vfs=vfs, macs=macs)

    def _stopped_untouched(self, ctx: GuestRun, budget: VfBudget) -> GuestOutcome:
        """A stop request came before anything was sent to the guest."""
        self._return_budget(ctx, budget)
        if ctx.resuming:
            return self._interrupted(ctx, "stopped before anything was sent to the guest")
        msg = "cancelled before anything changed"
        self._finish(ctx, Result.UNCHANGED, msg)
        return self._outcome(ctx, Result.SKIPPED, msg)

    def _interrupted(self, ctx: GuestRun, msg: str) -> GuestOutcome:
        full = (f"{msg}. Run `vfpool-tui resume` to finish or `vfpool-tui rollback "
                f"{cli_guest(ctx.guest, ctx.uuid)}` to undo; original XML: {ctx.record.inactive_path}")
        return self._outcome(ctx, Result.INTERRUPTED, full)

    # ---------------------------------------------------------------- shutdown.py, verify.py on the engine

    def _shutdown(self, ctx: GuestRun, cancel: threading.Event) -> str:
        """'off', 'gone' (undefined by someone else), or a sentence saying why it still runs
        (``shutdown.shut_down``, on this module's clock)."""
        return shut_down(ctx, cancel, emit=self._emit, watcher=self._watcher, is_forced=self._forced,
                         options=self.options, clock=time.monotonic, sleep=time.sleep)

    def _what_it_got(self, ctx: GuestRun) -> tuple[tuple[str | None, ...], tuple[str | None, ...]]:
        """For each converted device: the VF it got and its MAC (``verify.what_it_got``)."""
        return what_it_got(self.conn, ctx)

    # ---------------------------------------------------------------- rollback (a step failed; recover.py)

    def _restart_original(self, ctx: GuestRun, budget: VfBudget, why: str,
                          definition: str = "its original definition") -> GuestOutcome:
        """The old definition is still in place: start the guest again if it was running."""
        g, dom, E = ctx.guest, ctx.dom, self._emit
        backup = str(ctx.record.inactive_path)
        E(ctx, g, Step.ROLLBACK, StepState.STARTED, why)
        if ctx.was_running and power_of(dom) == "off":
            ctx.touched = True
            try:
                dom.create()
            except libvirt.libvirtError as err:
                self._return_budget(ctx, budget)
                msg = (f"{why}; starting it again with {definition} failed "
                       f"({connection.describe(err)}). It is SHUT OFF with {definition} "
                       f"(original XML: {backup}); start it with `virsh start {virsh_dom(g, ctx.uuid)}`")
                E(ctx, g, Step.ROLLBACK, StepState.FAILED, msg)
                self._finish(ctx, Result.FAILED, msg)
                return self._outcome(ctx, Result.FAILED, msg)
        self._return_budget(ctx, budget)
        state = state_of(dom) or "unknown"
        msg = f"{why}; rolled back: {state} with {definition}"
        E(ctx, g, Step.ROLLBACK, StepState.OK, msg)
        self._finish(ctx, Result.ROLLED_BACK, msg)
        return self._outcome(ctx, Result.ROLLED_BACK, msg, state=state)

    def _restore_original(self, ctx: GuestRun, budget: VfBudget, why: str) -> GuestOutcome:
        """The new definition is in place and the guest is off: re-define the original, start it."""
        g, dom, E = ctx.guest, ctx.dom, self._emit
        backup = str(ctx.record.inactive_path)
        E(ctx, g, Step.ROLLBACK, StepState.STARTED, f"{why}; re-defining the original XML")
        try:
            self.conn.defineXML(ctx.original_xml or ctx.record.read().original_inactive())
        except (libvirt.libvirtError, OSError, JournalError) as err:
            state = state_of(dom)
            msg = (f"{why}; re-defining the original XML failed ({connection.describe(err)}). It is "
                   f"{state or 'in an unknown state (libvirt does not answer)'} and DEFINED ON POOL "
                   f"'{ctx.network}'; restore it with `virsh define {q(backup)}`"
                   + (f" then `virsh start {virsh_dom(g, ctx.uuid)}`" if ctx.was_running else ""))
            E(ctx, g, Step.ROLLBACK, StepState.FAILED, msg)
            self._finish(ctx, Result.FAILED, msg)
            return self._outcome(ctx, Result.FAILED, msg, state=state)
        E(ctx, g, Step.ROLLBACK, StepState.INFO, "original definition restored")
        return self._restart_original(ctx, budget, why)


class _Refuse(Exception):
    pass
