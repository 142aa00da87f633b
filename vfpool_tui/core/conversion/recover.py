"""Resume and rollback from the journal: one guest whose conversion was interrupted.

``resume`` finishes the conversion from wherever the guest is now (still on its original definition,
or already defined on the pool); ``rollback`` puts the original definition back, and starts the guest
again if it was running. A definition that is neither the original nor the one the conversion made is
saved in the record first, so changes made since are not lost.

``JournalRecovery`` is a base class of ``engine.ConversionEngine``: it drives the same per-guest
sequence and events as a run (``sequence.GuestSequence``, its own base) on the engine's ``conn`` and
``journal``.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import libvirt

from vfpool_tui.core.conversion import transform
from vfpool_tui.core.conversion.budget import VfBudget
from vfpool_tui.core.conversion.command_hints import cli_guest, q
from vfpool_tui.core.conversion.events import GuestOutcome, Result, Step, StepState
from vfpool_tui.core.conversion.guest_run import GuestRun
from vfpool_tui.core.conversion.journal import RecordInfo, read_record
from vfpool_tui.core.conversion.lock import ConversionLock
from vfpool_tui.core.conversion.plan import PlanError
from vfpool_tui.core.conversion.sequence import GuestSequence
from vfpool_tui.core.virt import connection
from vfpool_tui.core.virt.definitions import XML_INACTIVE_SECURE, same_xml
from vfpool_tui.core.virt.domain_state import is_gone, power_of, state_of

if TYPE_CHECKING:
    from vfpool_tui.core.conversion.events import EventSink


class JournalRecovery(GuestSequence):
    """Resume / roll back one guest from its journal record (a base class of ConversionEngine)."""

    def resume(self, info: RecordInfo, on_event: EventSink | None = None,
               cancel_event: threading.Event | None = None,
               lock: ConversionLock | None = None) -> GuestOutcome:
        """Finish an interrupted conversion from wherever the guest is now."""
        return self._from_record(info, "resume", on_event, cancel_event, lock)

    def rollback(self, info: RecordInfo, on_event: EventSink | None = None,
                 cancel_event: threading.Event | None = None,
                 lock: ConversionLock | None = None) -> GuestOutcome:
        """Put a guest back on its original definition (and running if it was), from the journal.

        The guest's definition at that moment is saved in the record first when it is neither the
        original nor the one the conversion defined (changes made since are not lost).
        """
        return self._from_record(info, "rollback", on_event, cancel_event, lock)

    def _from_record(self, info: RecordInfo, action: str, on_event, cancel_event, lock) -> GuestOutcome:
        cancel = cancel_event or threading.Event()
        own_lock = lock is None
        lock = lock or ConversionLock(self.journal.ensure().dir)
        if own_lock:
            lock.acquire(action)
        try:
            # read again under the lock: another instance may have finished it since it was listed
            fresh = read_record(info.path)
            if fresh is None:
                raise PlanError(f"journal record {info.path} cannot be read")
            info = fresh
            if action == "resume" and info.finished:
                raise PlanError(f"the conversion of '{info.guest}' ({info.id}) is already finished: {info.result}")
            if action == "rollback" and info.finished and info.result in (Result.ROLLED_BACK, Result.UNCHANGED):
                raise PlanError(f"'{info.guest}' ({info.id}) is already on its original definition: {info.result}")
            try:
                original = info.original_inactive()
            except OSError as err:
                raise PlanError(f"cannot read the original XML {info.inactive_path}: {err.strerror or err}") from None
            self._setup(on_event)
            try:
                rec = self.journal.open(info)
                pool_sources = tuple(info.meta.get("pool_sources") or ())
                ctx = GuestRun(guest=info.guest, uuid=info.uuid, network=info.network, sources=info.sources,
                               pool_sources=pool_sources, macs=dict(info.meta.get("macs") or {}),
                               was_running=info.was_running, record=rec, original_xml=original,
                               resuming=True, touched=True, targets=info.targets)
                try:
                    rec.reopen(action)
                except OSError as err:
                    raise PlanError(f"cannot write the journal record {info.path}: {err.strerror or err}") from None
                budget = VfBudget(None, 0)  # a single guest: libvirt's own refusal is the bound
                try:
                    try:
                        ctx.dom = self.conn.lookupByUUIDString(info.uuid)
                    except libvirt.libvirtError as err:
                        if not is_gone(err):
                            raise
                        ctx.dom = None
                    if action == "resume":
                        out = self._resume(ctx, info, budget, cancel)
                    else:
                        out = self._rollback(ctx, info, budget, cancel)
                except Exception as err:  # noqa: BLE001 - libvirt lost, or a bug: the record stays open
                    out = self._unexpected(ctx, budget, err)
                return self._done(ctx, out, Result.CONVERTED if action == "resume" else Result.ROLLED_BACK)
            finally:
                self._teardown()
        finally:
            if own_lock:
                lock.release()

    def _save_current(self, ctx: GuestRun, step: Step, name: str, current: str) -> str | None:
        """Keep a definition that is about to be replaced; None (and an event) when it cannot be."""
        try:
            path = ctx.record.save(name, current)
        except OSError as err:
            self._emit(ctx, ctx.guest, step, StepState.FAILED,
                       f"cannot save its current definition in the journal: {err.strerror or err}")
            return None
        self._emit(ctx, ctx.guest, step, StepState.INFO,
                   f"its current definition differs from the recorded ones; saved in {path}")
        return str(path)

    def _resume(self, ctx: GuestRun, info: RecordInfo, budget: VfBudget, cancel) -> GuestOutcome:
        g, E = ctx.guest, self._emit
        E(ctx, g, Step.PRECHECK, StepState.STARTED, f"resuming the conversion recorded in {info.path}")
        if ctx.dom is None:
            msg = (f"guest '{g}' ({ctx.uuid}) no longer exists; its original definition is in "
                   f"{info.inactive_path} (`vfpool-tui rollback {cli_guest(g, ctx.uuid)}` defines it again)")
            E(ctx, g, Step.PRECHECK, StepState.FAILED, msg)
            return GuestOutcome(g, Result.FAILED, msg, record=str(info.path), backup=str(info.inactive_path))
        current = ctx.dom.XMLDesc(XML_INACTIVE_SECURE)
        present = transform.hardcoded_sources(current)
        on_original = any(s in present for s in ctx.sources)
        if on_original:
            try:
                res = transform.convert_domain(current, ctx.target_map(), ctx.sources, ctx.macs)
            except transform.TransformError as err:
                msg = f"cannot resume: {err}; the guest is {state_of(ctx.dom)}"
                E(ctx, g, Step.PRECHECK, StepState.FAILED, msg)
                return GuestOutcome(g, Result.FAILED, msg, state=state_of(ctx.dom), record=str(info.path),
                                    backup=str(info.inactive_path))
            if not same_xml(current, ctx.original_xml):
                if self._save_current(ctx, Step.PRECHECK, f"before-resume-{_stamp()}.xml", current) is None:
                    return self._interrupted(ctx, "resume not started: the journal is not writable")
            ctx.new_xml, ctx.changes = res.xml, res.changes
        else:
            ctx.new_xml = current
            ctx.changes = transform.convert_domain(ctx.original_xml, ctx.target_map(), ctx.sources,
                                                   ctx.macs).changes
        ctx.base_xml = current
        E(ctx, g, Step.PRECHECK, StepState.OK, f"guest is {state_of(ctx.dom)}; "
          + ("still on its original definition" if on_original
             else f"already defined on {ctx.on_pools()}"))
        return self._drive(ctx, budget, cancel)

    def _rollback(self, ctx: GuestRun, info: RecordInfo, budget: VfBudget, cancel) -> GuestOutcome:
        g, E = ctx.guest, self._emit
        backup = str(info.inactive_path)
        E(ctx, g, Step.ROLLBACK, StepState.STARTED, f"rolling back to {backup}")
        dom = ctx.dom
        if dom is not None:
            current = dom.XMLDesc(XML_INACTIVE_SECURE)
            is_original = same_xml(current, ctx.original_xml)
            if not is_original:
                try:
                    recorded_new = info.new_xml()
                except OSError:
                    recorded_new = None
                if not same_xml(current, recorded_new):
                    if self._save_current(ctx, Step.ROLLBACK, f"before-rollback-{_stamp()}.xml", current) is None:
                        msg = (f"rollback not done: its current definition could not be saved first; "
                               f"nothing changed, it is {state_of(dom)}")
                        return self._outcome(ctx, Result.FAILED, msg)
        else:
            is_original = False
        if not is_original:
            if dom is not None and power_of(dom) == "on":
                how = self._shutdown(ctx, cancel)
                if how == "gone":
                    dom = ctx.dom = None
                elif how != "off":
                    msg = f"rollback not done: {how}; it still runs on {ctx.on_pools()}"
                    E(ctx, g, Step.ROLLBACK, StepState.FAILED, msg)
                    return GuestOutcome(g, Result.FAILED, msg, state=state_of(dom), record=str(info.path),
                                        backup=backup)
            try:
                new_dom = self.conn.defineXML(ctx.original_xml)
            except libvirt.libvirtError as err:
                msg = (f"re-defining the original XML failed ({connection.describe(err)}); the guest is "
                       f"{state_of(dom) if dom is not None else 'not defined'}; restore it with "
                       f"`virsh define {q(backup)}`")
                E(ctx, g, Step.ROLLBACK, StepState.FAILED, msg)
                self._finish(ctx, Result.FAILED, msg)
                return GuestOutcome(g, Result.FAILED, msg, state=state_of(dom) if dom is not None else None,
                                    record=str(info.path), backup=backup)
            if dom is None:
                dom = ctx.dom = new_dom
            E(ctx, g, Step.ROLLBACK, StepState.INFO, "original definition restored")
        return self._restart_original(ctx, budget, "rollback requested")


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")
