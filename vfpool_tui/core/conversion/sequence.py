"""The per-guest sequence, shared by a run and by resume:

    shutdown -> define -> start -> verify

from wherever the guest is now, with rollback (``rollback.py``) when a step fails. Waits go through
``shutdown.shut_down`` and ``verify.wait_running`` on this module's clock.
"""

from __future__ import annotations

import threading
import time

import libvirt

from vfpool_tui.core.conversion import transform
from vfpool_tui.core.conversion.budget import VfBudget
from vfpool_tui.core.conversion.events import GuestOutcome, Result, Step, StepState
from vfpool_tui.core.conversion.guest_run import GuestRun
from vfpool_tui.core.conversion.journal import DEFINED
from vfpool_tui.core.conversion.rollback import Rollback
from vfpool_tui.core.conversion.shutdown import shut_down
from vfpool_tui.core.conversion.verify import macs_from_config, wait_running, what_it_got
from vfpool_tui.core.virt import connection
from vfpool_tui.core.virt.definitions import XML_INACTIVE_SECURE, define_validated, same_xml
from vfpool_tui.core.virt.domain_state import is_gone, power_of, state_of


class GuestSequence(Rollback):
    """Shutdown, define, start and verify one guest (a base of the engine and of the recovery)."""

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
            freed = {p: -n for p, n in ctx.net_need.items() if n < 0}
            if freed:  # its hard-coded pool VFs are free now
                budget.give_back(freed)
                for p, n in freed.items():
                    ctx.budget_delta[p] = ctx.budget_delta.get(p, 0) - n
            if ctx.releaser and not ctx.released:
                budget.releaser_done()
                ctx.released = True
            if cancel.is_set():
                if not ctx.touched:  # a shut-off guest: nothing was sent to it yet
                    return self._stopped_untouched(ctx, budget)
                return self._restart_original(ctx, budget, "stopped on request before the new definition "
                                                           "was put in place")
            # compare, then define: someone may have edited the guest meanwhile
            now = dom.XMLDesc(XML_INACTIVE_SECURE)
            if not same_xml(now, ctx.base_xml):
                msg = ("its definition was changed by someone else during the conversion; not converted "
                       "(defining the new XML would have overwritten that change)")
                E(ctx, g, Step.DEFINE, StepState.FAILED, msg)
                return self._restart_original(ctx, budget, msg, definition="the definition it has now")
            E(ctx, g, Step.DEFINE, StepState.STARTED, f"defining it on {ctx.on_pools()}",
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
            shown = shown_vfs(ctx, vfs, macs)
            E(ctx, g, Step.VERIFY, StepState.OK, f"running on {ctx.on_pools()}: {shown}")
            msg = f"converted; running on {ctx.on_pools()} with {shown}"
        else:
            now = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
            left = [s for s in ctx.sources if s in transform.hardcoded_sources(now)]
            if left:
                msg = "the definition libvirt kept still hard-codes " + ", ".join(left)
                E(ctx, g, Step.VERIFY, StepState.FAILED, msg)
                return self._restore_original(ctx, budget, msg)
            vfs, macs = tuple(None for _ in ctx.sources), macs_from_config(ctx, now)
            E(ctx, g, Step.VERIFY, StepState.OK, f"shut off; defined on {ctx.on_pools()} (a VF is "
                                                 "taken from the pool when it starts)")
            msg = f"converted; shut off, defined on {ctx.on_pools()}"
        self._keep_defined(ctx)
        self._finish(ctx, Result.CONVERTED, msg)
        return self._outcome(ctx, Result.CONVERTED, msg, vfs=vfs, macs=macs)

    def _keep_defined(self, ctx: GuestRun) -> None:
        """The definition libvirt kept, in the record: a later ``revert`` checks nobody changed it."""
        try:
            ctx.record.save(DEFINED, ctx.dom.XMLDesc(XML_INACTIVE_SECURE))
        except (OSError, libvirt.libvirtError):
            pass  # revert then compares with the XML that was sent (and says so when they differ)

    def _shutdown(self, ctx: GuestRun, cancel: threading.Event) -> str:
        """'off', 'gone' (undefined by someone else), or a sentence saying why it still runs
        (``shutdown.shut_down``, on this module's clock)."""
        return shut_down(ctx, cancel, emit=self._emit, watcher=self._watcher, is_forced=self._forced,
                         options=self.options, clock=time.monotonic, sleep=time.sleep)

    def _what_it_got(self, ctx: GuestRun) -> tuple[tuple[str | None, ...], tuple[str | None, ...]]:
        """For each converted device: the VF it got and its MAC (``verify.what_it_got``)."""
        return what_it_got(self.conn, ctx)


def shown_vfs(ctx: GuestRun, vfs, macs) -> str:
    """``VF (MAC m)`` per converted device, with its pool when the guest went onto several."""
    nets = ctx.target_map()
    several = len(ctx.pools) > 1
    out = []
    for ch, v, m in zip(ctx.changes, vfs, macs):
        text = f"{v or 'unknown VF'} (MAC {m or 'unknown'})"
        if several:
            text += f" from '{nets.get(ch.source_pci, ctx.network)}'"
        out.append(text)
    return ", ".join(out)
