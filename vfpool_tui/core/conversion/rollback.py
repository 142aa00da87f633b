"""Rollback after a failed step: the guest back on its original definition, running if it was.

``_restart_original``: the old definition is still in place, start the guest again;
``_restore_original``: the new definition is in place, re-define the original first.
Used by the per-guest sequence (``sequence.py``) and by the journal recovery (``recover.py``).
"""

from __future__ import annotations

import libvirt

from vfpool_tui.core.conversion.budget import VfBudget
from vfpool_tui.core.conversion.command_hints import q, virsh_dom
from vfpool_tui.core.conversion.events import GuestOutcome, Result, Step, StepState
from vfpool_tui.core.conversion.guest_run import GuestRun
from vfpool_tui.core.conversion.journal import JournalError
from vfpool_tui.core.conversion.reporting import RunReporting
from vfpool_tui.core.virt import connection
from vfpool_tui.core.virt.domain_state import power_of, state_of


class Rollback(RunReporting):
    """Put a guest back on its original definition after a step failed."""

    def _restart_original(self, ctx: GuestRun, budget: VfBudget, why: str,
                          definition: str = "its original definition", announce: bool = True) -> GuestOutcome:
        """The old definition is still in place: start the guest again if it was running.
        ``announce``: say that the rollback starts (not when ``_restore_original`` already did)."""
        g, dom, E = ctx.guest, ctx.dom, self._emit
        backup = str(ctx.record.inactive_path)
        if announce:
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
                   f"{state or 'in an unknown state (libvirt does not answer)'} and DEFINED ON "
                   f"{ctx.on_pools().upper().split(' ', 1)[0]} {ctx.on_pools().split(' ', 1)[1]}; restore it with `virsh define {q(backup)}`"
                   + (f" then `virsh start {virsh_dom(g, ctx.uuid)}`" if ctx.was_running else ""))
            E(ctx, g, Step.ROLLBACK, StepState.FAILED, msg)
            self._finish(ctx, Result.FAILED, msg)
            return self._outcome(ctx, Result.FAILED, msg, state=state)
        E(ctx, g, Step.ROLLBACK, StepState.INFO, "original definition restored")
        return self._restart_original(ctx, budget, why, announce=False)
