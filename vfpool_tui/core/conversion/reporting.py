"""Reporting on one guest while it is converted: step events, the one DONE event, outcomes, the
journal record's end, and the endings every sequence shares (nothing changed, guest vanished,
libvirt lost, interrupted).

``RunReporting`` is the base of the per-guest sequence (``sequence.GuestSequence``), the journal
recovery (``recover.JournalRecovery``) and the run (``engine.ConversionEngine``); it holds the
engine's ``conn``, ``journal`` and ``options``.
"""

from __future__ import annotations

import threading

import libvirt

from vfpool_tui.core.conversion.budget import VfBudget
from vfpool_tui.core.conversion.command_hints import cli_guest, q
from vfpool_tui.core.conversion.events import EventSink, GuestOutcome, Result, Step, StepEvent, StepState
from vfpool_tui.core.conversion.guest_run import GuestRun
from vfpool_tui.core.conversion.journal import Journal
from vfpool_tui.core.conversion.options import Options
from vfpool_tui.core.conversion.shutdown import LifecycleWatcher
from vfpool_tui.core.virt import connection
from vfpool_tui.core.virt.domain_state import is_gone, state_of


class RunReporting:
    """Events, outcomes and journal endings for one guest's conversion (a base of the engine)."""

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

    def _return_budget(self, ctx: GuestRun, budget: VfBudget) -> None:
        """The guest holds what it held before (or less): undo what was counted for it."""
        if any(ctx.budget_delta.values()):
            budget.give_back(ctx.budget_delta)
        ctx.budget_delta = {}

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
