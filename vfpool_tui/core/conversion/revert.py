"""Undo a FINISHED conversion: the guest's original definition back, through the same sequence

    precheck -> shutdown -> define (the original) -> start -> verify

journalled in the conversion's own record (reopened as "revert"), with its own step events. Refused,
with the diff, when the guest's definition changed since the conversion (someone edited it on the
pool: putting the original back would lose that change). A guest running before the revert runs
afterwards, on its original definition, or again on the pool when the original cannot start (its
hard-coded VF taken by another guest meanwhile, say).

``rollback`` (``recover.py``) is for interrupted or failed runs; ``revert`` is for a conversion that
worked and is no longer wanted.
"""

from __future__ import annotations

import threading
import time

import libvirt

from vfpool_tui.core.conversion import transform
from vfpool_tui.core.conversion.events import EventSink, GuestOutcome, Result, Step, StepState
from vfpool_tui.core.conversion.guest_run import GuestRun
from vfpool_tui.core.conversion.journal import RecordInfo, read_record
from vfpool_tui.core.conversion.lock import ConversionLock
from vfpool_tui.core.conversion.plan import PlanError
from vfpool_tui.core.conversion.sequence import GuestSequence
from vfpool_tui.core.conversion.verify import wait_running
from vfpool_tui.core.virt import connection
from vfpool_tui.core.virt.definitions import XML_INACTIVE_SECURE, same_xml
from vfpool_tui.core.virt.domain_state import is_gone, power_of, state_of


class RevertRefused(PlanError):
    """The guest's definition changed since the conversion: ``diff`` shows how (recorded -> now)."""

    def __init__(self, message: str, diff: str):
        super().__init__(message)
        self.diff = diff


class Revert(GuestSequence):
    """Put a converted guest back on its original definition (a base class of the engine)."""

    def revert(self, info: RecordInfo, on_event: EventSink | None = None,
               cancel_event: threading.Event | None = None,
               lock: ConversionLock | None = None) -> GuestOutcome:
        """Revert the finished conversion ``info``. Raises PlanError (RevertRefused with the diff
        when its definition changed since) before anything is touched."""
        cancel = cancel_event or threading.Event()
        own_lock = lock is None
        lock = lock or ConversionLock(self.journal.ensure().dir)
        if own_lock:
            lock.acquire("revert")
        try:
            info, dom, current, original = self._revert_check(info)
            self._setup(on_event)
            try:
                rec = self.journal.open(info)
                try:
                    rec.reopen("revert")
                except OSError as err:
                    raise PlanError(f"cannot write the journal record {info.path}: {err.strerror or err}") from None
                ctx = GuestRun(guest=info.guest, uuid=info.uuid, network=info.network, sources=info.sources,
                               pool_sources=(), macs={}, was_running=bool(dom.isActive()), dom=dom,
                               record=rec, original_xml=original, base_xml=current, new_xml=original,
                               resuming=True, targets=info.targets)
                try:
                    out = self._revert(ctx, cancel)
                except Exception as err:  # noqa: BLE001 - libvirt lost, or a bug: say what is known
                    out = self._revert_lost(ctx, err)
                return self._done(ctx, out, Result.ROLLED_BACK)
            finally:
                self._teardown()
        finally:
            if own_lock:
                lock.release()

    def _revert_check(self, info: RecordInfo):
        """Under the lock, before anything changes: the record, the guest, its definition unchanged."""
        fresh = read_record(info.path)
        if fresh is None:
            raise PlanError(f"journal record {info.path} cannot be read")
        info = fresh
        if not info.finished:
            raise PlanError(f"the conversion of '{info.guest}' ({info.id}) is unfinished: `vfpool-tui "
                            f"rollback {info.guest}` undoes it, `vfpool-tui resume` finishes it")
        if info.result != Result.CONVERTED:
            raise PlanError(f"'{info.guest}' ({info.id}) was not converted ({info.result}): nothing to revert")
        try:
            original = info.original_inactive()
            kept = info.defined_xml()
        except OSError as err:
            raise PlanError(f"cannot read the record {info.path}: {err.strerror or err}") from None
        try:
            dom = self.conn.lookupByUUIDString(info.uuid)
        except libvirt.libvirtError as err:
            if is_gone(err):
                raise PlanError(f"guest '{info.guest}' ({info.uuid}) no longer exists; its original "
                                f"definition is in {info.inactive_path}") from None
            raise PlanError(f"cannot read guest '{info.guest}': {connection.describe(err)}") from None
        current = dom.XMLDesc(XML_INACTIVE_SECURE)
        if not same_xml(current, kept):
            diff = transform.unified_diff(kept, current, info.guest).replace(
                f"{info.guest} (now)", f"{info.guest} (as converted)", 1).replace(
                f"{info.guest} (on the pool)", f"{info.guest} (now)", 1)
            raise RevertRefused(f"'{info.guest}' was changed since its conversion ({info.id}); reverting "
                                "would lose that change, so nothing was done", diff)
        return info, dom, current, original

    def _revert(self, ctx: GuestRun, cancel: threading.Event) -> GuestOutcome:
        g, dom, E = ctx.guest, ctx.dom, self._emit
        E(ctx, g, Step.PRECHECK, StepState.OK, f"on {ctx.on_pools()} as converted; "
          + ("running: will be shut down, re-defined and started again" if ctx.was_running
             else f"{state_of(dom)}: will only be re-defined"))
        if power_of(dom) == "on":
            if cancel.is_set():
                return self._revert_not_done(ctx, "cancelled before anything changed")
            how = self._shutdown(ctx, cancel)
            if how == "gone":
                return self._vanished(ctx)
            if how != "off":
                return self._revert_not_done(ctx, how)
        now = dom.XMLDesc(XML_INACTIVE_SECURE)
        if not same_xml(now, ctx.base_xml):
            return self._back_on_pool(ctx, "its definition was changed by someone else during the revert; "
                                           "not reverted", define=False)
        E(ctx, g, Step.DEFINE, StepState.STARTED, "defining its original definition again", detail=ctx.original_xml)
        ctx.touched = True
        try:
            self.conn.defineXML(ctx.original_xml)
        except libvirt.libvirtError as err:
            msg = f"defining the original failed ({connection.describe(err)})"
            E(ctx, g, Step.DEFINE, StepState.FAILED, msg)
            return self._back_on_pool(ctx, msg, define=not same_xml(dom.XMLDesc(XML_INACTIVE_SECURE),
                                                                     ctx.base_xml))
        E(ctx, g, Step.DEFINE, StepState.OK, "original definition in place")
        if ctx.was_running:
            E(ctx, g, Step.START, StepState.STARTED, "starting it on its hard-coded VF(s) "
              + ", ".join(ctx.sources))
            try:
                dom.create()
            except libvirt.libvirtError as err:
                if is_gone(err):
                    return self._vanished(ctx)
                msg = f"starting it on its original definition failed ({connection.describe(err)})"
                E(ctx, g, Step.START, StepState.FAILED, msg)
                return self._back_on_pool(ctx, msg, define=True)
            E(ctx, g, Step.START, StepState.OK, "started")
        E(ctx, g, Step.VERIFY, StepState.STARTED, "checking its definition and state")
        left = [s for s in ctx.sources if s not in transform.hardcoded_sources(
            dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))]
        if left:
            msg = "the definition libvirt kept does not hard-code " + ", ".join(left)
            E(ctx, g, Step.VERIFY, StepState.FAILED, msg)
            return self._back_on_pool(ctx, msg, define=True)
        if ctx.was_running and not wait_running(dom, start_timeout=self.options.start_timeout,
                                                poll_interval=self.options.poll_interval,
                                                clock=time.monotonic, sleep=time.sleep):
            msg = f"it is {state_of(dom) or 'in an unknown state'} after start, not running"
            E(ctx, g, Step.VERIFY, StepState.FAILED, msg)
            if power_of(dom) == "on":
                dom.destroy()
            return self._back_on_pool(ctx, msg, define=True)
        state = state_of(dom) or "unknown"
        msg = (f"reverted: {state} with its original definition (hard-coded "
               f"{', '.join(ctx.sources)}; original XML {ctx.record.inactive_path})")
        E(ctx, g, Step.VERIFY, StepState.OK, msg)
        self._finish(ctx, Result.ROLLED_BACK, msg)
        return self._outcome(ctx, Result.ROLLED_BACK, msg, state=state)

    def _revert_not_done(self, ctx: GuestRun, why: str) -> GuestOutcome:
        msg = f"not reverted: {why}; still {state_of(ctx.dom)} on {ctx.on_pools()}"
        self._emit(ctx, ctx.guest, Step.PRECHECK if not ctx.touched else Step.SHUTDOWN, StepState.FAILED, msg)
        self._finish(ctx, Result.CONVERTED, msg)  # the record still describes where the guest is
        return self._outcome(ctx, Result.UNCHANGED, msg)

    def _back_on_pool(self, ctx: GuestRun, why: str, define: bool) -> GuestOutcome:
        """A revert step failed: the pool definition back (when replaced), running again if it was."""
        g, dom, E = ctx.guest, ctx.dom, self._emit
        E(ctx, g, Step.ROLLBACK, StepState.STARTED, f"{why}; back to the pool definition")
        try:
            if define:
                self.conn.defineXML(ctx.base_xml)
            if ctx.was_running and power_of(dom) == "off":
                dom.create()
        except libvirt.libvirtError as err:
            msg = (f"{why}; putting the pool definition back failed ({connection.describe(err)}). It is "
                   f"{state_of(dom) or 'in an unknown state'}; its original definition is in "
                   f"{ctx.record.inactive_path}, the pool one in {ctx.record.path}")
            E(ctx, g, Step.ROLLBACK, StepState.FAILED, msg)
            self._finish(ctx, Result.FAILED, msg)
            return self._outcome(ctx, Result.FAILED, msg)
        msg = f"not reverted: {why}; {state_of(dom)} on {ctx.on_pools()} as before"
        E(ctx, g, Step.ROLLBACK, StepState.OK, msg)
        self._finish(ctx, Result.CONVERTED, msg)
        return self._outcome(ctx, Result.UNCHANGED, msg)

    def _revert_lost(self, ctx: GuestRun, err: BaseException) -> GuestOutcome:
        what = connection.describe(err) if isinstance(err, libvirt.libvirtError) else f"internal error {err!r}"
        msg = (f"lost track of it during the revert's {ctx.step} ({what}); it is "
               f"{(state_of(ctx.dom) if ctx.dom is not None else None) or 'in an unknown state'}. Its "
               f"original definition is in {ctx.record.inactive_path}; `vfpool-tui rollback {ctx.guest}` "
               "puts it back once libvirt answers")
        self._emit(ctx, ctx.guest, ctx.step, StepState.FAILED, msg)
        return self._outcome(ctx, Result.INTERRUPTED, msg)
