"""Guests down, a change, guests up again: the restart-pool and grow-pf remedies.

    shut down the guests (ACPI, waited for; force-off on request or after ``force_after``)
    -> the actions (stop networks, write sriov_numvfs, wait for the VFs, start networks, udev rule)
    -> start the guests again

Every action that changes something pushes its undo; when an action or a guest's start fails, the
undos run in reverse order (a guest started again is shut down again first) and every guest that
was running is started again, so each is left as it was. A stop request (Ctrl-C, SIGHUP, Esc)
before the first action starts the stopped guests again and changes nothing; after it, the run
finishes (the VFs are being re-created: stopping there would leave the pool and the guests down).
Each step is a line in the remedy's journal record before and after it runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import libvirt

from vfpool_tui.core.conversion.command_hints import virsh_dom
from vfpool_tui.core.conversion.events import GuestOutcome, Step, StepState
from vfpool_tui.core.conversion.guest_run import GuestRun
from vfpool_tui.core.conversion.journal import Record
from vfpool_tui.core.conversion.reporting import RunReporting
from vfpool_tui.core.conversion.shutdown import shut_down
from vfpool_tui.core.conversion.verify import wait_running
from vfpool_tui.core.remedy.outcome import RemedyOutcome, RemedyResult
from vfpool_tui.core.remedy.plans import RemedyPlan
from vfpool_tui.core.virt import connection
from vfpool_tui.core.virt.domain_state import is_gone, power_of, state_of

# (step, title, do() -> message, undo title, undo() | None)
Action = tuple[str, str, Callable[[], str], str, Callable[[], object] | None]


class _Failed(Exception):
    pass


class GuestCycle(RunReporting):
    """Shut guests down, run the actions, start the guests again; undo on failure (a base of the
    runner). ``_actions(plan, target, record)`` gives the actions of a plan (``runner.py``)."""

    def _row(self, label: str, rec: Record) -> GuestRun:
        return GuestRun(guest=label, uuid="", network="", sources=(), pool_sources=(), macs={},
                        was_running=False, record=rec)

    def _cycle(self, plan: RemedyPlan, rec: Record, cancel: threading.Event,
               actions: list[Action]) -> RemedyOutcome:
        E = self._emit
        target = self._row(plan.target, rec)
        guests = [GuestRun(guest=g.guest, uuid=g.uuid, network="", sources=(), pool_sources=(), macs={},
                           was_running=True, record=rec) for g in plan.guests]
        for ctx in guests:
            ctx.dom = self.conn.lookupByUUIDString(ctx.uuid)
        stopped = self._stop_all(guests, cancel)
        not_off = [(ctx, how) for ctx, how in stopped if how != "off"]
        if not_off or cancel.is_set():
            why = ("stopped on request" if cancel.is_set() and not not_off
                   else "; ".join(f"{c.guest}: {how}" for c, how in not_off))
            E(target, plan.target, Step.PRECHECK, StepState.FAILED,
              f"not done: {why}; starting the guests again, nothing else changed")
            rows = self._start_all(guests, "as before")
            result = RemedyResult.UNCHANGED if all(r.result is RemedyResult.DONE for r in rows) \
                else RemedyResult.FAILED
            msg = f"nothing changed: {why}" + self._left_down(rows)
            return self._end(plan, rec, target, result, msg, rows, cancel)

        undo: list[tuple[str, str, Callable[[], object]]] = []
        try:
            for step, title, do, undo_title, undo_fn in actions:
                E(target, plan.target, step, StepState.STARTED, title)
                try:
                    message = do()
                except Exception as err:  # noqa: BLE001 - any failure must reach the undo
                    msg = connection.describe(err) if isinstance(err, libvirt.libvirtError) else (
                        str(err) or type(err).__name__)
                    E(target, plan.target, step, StepState.FAILED, msg)
                    raise _Failed(f"{title}: {msg}") from None
                if undo_fn is not None:
                    undo.append((step, undo_title, undo_fn))
                E(target, plan.target, step, StepState.OK, message or "done")
            started = self._start_each(guests, undo)
        except _Failed as failed:
            left = self._undo(target, plan.target, undo)
            rows = self._start_all(guests, "as before")
            if left:
                msg = f"{failed}; undone except: {'; '.join(left)}" + self._left_down(rows)
                return self._end(plan, rec, target, RemedyResult.FAILED, msg, rows, cancel, tuple(left))
            result = RemedyResult.UNDONE if all(r.result is RemedyResult.DONE for r in rows) \
                else RemedyResult.FAILED
            msg = f"{failed}; everything was undone in reverse order" + self._left_down(rows)
            return self._end(plan, rec, target, result, msg, rows, cancel)
        return self._end(plan, rec, target, RemedyResult.DONE, f"{plan.title}: done", started, cancel)

    # ------------------------------------------------------------------ guests

    def _stop_all(self, guests: list[GuestRun], cancel: threading.Event) -> list[tuple[GuestRun, str]]:
        """Shut every guest down (in parallel, bounded); (ctx, 'off' | 'gone' | why it still runs)."""
        if not guests:
            return []

        def one(ctx: GuestRun) -> str:
            if cancel.is_set():
                return "stopped on request before its shutdown"
            try:
                return shut_down(ctx, cancel, emit=self._emit, watcher=self._watcher, is_forced=self._forced,
                                 options=self.options)
            except libvirt.libvirtError as err:
                return f"lost track of it ({connection.describe(err)})"

        n = max(1, min(int(self.options.concurrency), len(guests)))
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="vfpool-remedy") as pool:
            return list(zip(guests, pool.map(one, guests)))

    def _start_one(self, ctx: GuestRun) -> str | None:
        """Start a guest that was running, if it is off; None when it runs, else why not."""
        try:
            if power_of(ctx.dom) != "off":
                return None
            self._emit(ctx, ctx.guest, Step.START, StepState.STARTED, "starting it again")
            ctx.dom.create()
        except libvirt.libvirtError as err:
            if is_gone(err):
                return "it no longer exists (undefined by someone else)"
            return connection.describe(err)
        if not wait_running(ctx.dom, start_timeout=self.options.start_timeout,
                            poll_interval=self.options.poll_interval):
            return f"it is {state_of(ctx.dom) or 'in an unknown state'} after start"
        self._emit(ctx, ctx.guest, Step.START, StepState.OK, "running again")
        return None

    def _start_each(self, guests: list[GuestRun], undo: list) -> tuple[GuestOutcome, ...]:
        """The last step: start each guest; a failure raises (the undo shuts the started ones down)."""
        rows = []
        for ctx in guests:
            why = self._start_one(ctx)
            if why is not None:
                self._emit(ctx, ctx.guest, Step.START, StepState.FAILED, why)
                raise _Failed(f"starting {ctx.guest} again failed: {why}")
            undo.append((Step.SHUTDOWN, f"shut {ctx.guest} down again for the undo",
                         lambda c=ctx: self._stop_for_undo(c)))
            rows.append(GuestOutcome(ctx.guest, RemedyResult.DONE, "running again", state=state_of(ctx.dom)))
        for ctx, row in zip(guests, rows):
            self._done(ctx, row, RemedyResult.DONE)
        return tuple(rows)

    def _stop_for_undo(self, ctx: GuestRun) -> None:
        how = shut_down(ctx, threading.Event(), emit=self._emit, watcher=self._watcher,
                        is_forced=lambda g: True, options=self.options)  # it just started: force off
        if how not in ("off", "gone"):
            raise RuntimeError(how)

    def _start_all(self, guests: list[GuestRun], how: str) -> tuple[GuestOutcome, ...]:
        """After a failure or a stop request: every guest that was running runs again."""
        rows = []
        for ctx in guests:
            why = self._start_one(ctx)
            if why is None:
                out = GuestOutcome(ctx.guest, RemedyResult.DONE, f"running, {how}", state=state_of(ctx.dom))
                rows.append(self._done(ctx, out, RemedyResult.DONE))
            else:
                msg = (f"starting it again failed ({why}); it is {state_of(ctx.dom) or 'in an unknown state'}: "
                       f"start it with `virsh start {virsh_dom(ctx.guest, ctx.uuid)}`")
                self._emit(ctx, ctx.guest, Step.START, StepState.FAILED, msg)
                rows.append(self._done(ctx, GuestOutcome(ctx.guest, RemedyResult.FAILED, msg,
                                                         state=state_of(ctx.dom))))
        return tuple(rows)

    @staticmethod
    def _left_down(rows) -> str:
        down = [r.guest for r in rows if r.result is not RemedyResult.DONE]
        return f"; NOT running again: {', '.join(down)}" if down else ""

    # ------------------------------------------------------------------ undo and the end

    def _undo(self, target: GuestRun, label: str, undo: list) -> list[str]:
        left = []
        for step, title, fn in reversed(undo):
            self._emit(target, label, Step.ROLLBACK, StepState.STARTED, title)
            try:
                fn()
            except Exception as err:  # noqa: BLE001 - say what is left, go on with the others
                msg = connection.describe(err) if isinstance(err, libvirt.libvirtError) else str(err)
                self._emit(target, label, Step.ROLLBACK, StepState.FAILED, f"{title}: {msg}")
                left.append(f"{title} ({msg})")
            else:
                self._emit(target, label, Step.ROLLBACK, StepState.OK, f"{title}: done")
        return left

    def _end(self, plan: RemedyPlan, rec: Record, target: GuestRun, result: RemedyResult, msg: str,
             rows, cancel: threading.Event, left: tuple[str, ...] = ()) -> RemedyOutcome:
        head = self._done(target, GuestOutcome(plan.target, result, msg), RemedyResult.DONE)
        try:
            rec.finish(result, msg)
        except OSError:
            pass
        return RemedyOutcome(plan.kind, result, msg, (head, *rows), record=str(rec.path),
                             cancelled=cancel.is_set(), left=left)
