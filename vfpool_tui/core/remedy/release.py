"""Releasing leaked VFs: each back to its host driver through libvirt's node-device API
(``conn.nodeDeviceLookupByName(pci.nodedev_name(addr)).reAttach()``), never by writing sysfs here,
so it works the same on a remote connection.

Each VF is checked again right before it is released, against a scan taken then (a guest defined
since the preview that names it stops it), and is released or left as it was, one by one: a VF that
fails stays bound to vfio-pci and the ones released before it stay released. Putting those back on
vfio-pci would make the very leak this remedy removes, so "undo in reverse order" ends at the VF.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import libvirt

from vfpool_tui.core import pci as _pci
from vfpool_tui.core.conversion.events import GuestOutcome, Step, StepState
from vfpool_tui.core.conversion.journal import Record
from vfpool_tui.core.conversion.reporting import RunReporting
from vfpool_tui.core.model import Scan
from vfpool_tui.core.remedy.outcome import RemedyOutcome, RemedyResult, RemedyStep
from vfpool_tui.core.remedy.plans import RemedyPlan, release_refusal
from vfpool_tui.core.virt import connection


class ReleaseRun(RunReporting):
    """The release-vfs remedy (a base of ``runner.RemedyRunner``)."""

    def _release(self, plan: RemedyPlan, rec: Record, cancel: threading.Event,
                 rescan: Callable[[], Scan]) -> RemedyOutcome:
        rows: list[GuestOutcome] = []
        done = 0
        for addr in plan.vfs:
            ctx = self._row(addr, rec)
            E = self._emit
            if cancel.is_set():
                rows.append(self._done(ctx, GuestOutcome(addr, RemedyResult.SKIPPED,
                                                         "not released (cancelled); still on vfio-pci")))
                continue
            E(ctx, addr, Step.PRECHECK, StepState.STARTED, "checking every guest definition again")
            try:
                fresh = rescan()
            except Exception as err:  # noqa: BLE001 - libvirt lost: nothing is released blind
                why = connection.describe(err)
                E(ctx, addr, Step.PRECHECK, StepState.FAILED, why)
                rows.append(self._done(ctx, GuestOutcome(addr, RemedyResult.UNCHANGED,
                                                         f"not released: cannot scan again ({why})")))
                continue
            why = release_refusal(fresh, addr)
            if why:
                E(ctx, addr, Step.PRECHECK, StepState.FAILED, why)
                rows.append(self._done(ctx, GuestOutcome(addr, RemedyResult.UNCHANGED,
                                                         f"not released: {why}")))
                continue
            vf = fresh.host.vf(addr)
            E(ctx, addr, Step.PRECHECK, StepState.OK, "bound to vfio-pci, named by no guest, held by none")
            name = _pci.nodedev_name(addr)
            E(ctx, addr, RemedyStep.REATTACH, StepState.STARTED,
              f"giving it back to its host driver (virNodeDeviceReAttach {name})")
            try:
                self.conn.nodeDeviceLookupByName(name).reAttach()
            except libvirt.libvirtError as err:
                msg = connection.describe(err)
                E(ctx, addr, RemedyStep.REATTACH, StepState.FAILED, msg)
                rows.append(self._done(ctx, GuestOutcome(
                    addr, RemedyResult.UNCHANGED, f"not released: {msg}; still {vf.driver or 'unbound'}")))
                continue
            done += 1
            E(ctx, addr, RemedyStep.REATTACH, StepState.OK, "re-attached to the host")
            rows.append(self._done(ctx, GuestOutcome(addr, RemedyResult.DONE,
                                                     "given back to the host driver"), RemedyResult.DONE))
        failed = [r for r in rows if r.result is not RemedyResult.DONE]
        if not failed:
            result, msg = RemedyResult.DONE, f"released {done} VF(s) to the host driver"
        elif done:
            result = RemedyResult.FAILED
            msg = f"released {done} of {len(rows)} VF(s); " + "; ".join(f"{r.guest}: {r.message}" for r in failed)
        else:
            result = RemedyResult.UNCHANGED
            msg = "nothing released: " + "; ".join(f"{r.guest}: {r.message}" for r in failed)
        return RemedyOutcome(plan.kind, result, msg, tuple(rows), record=str(rec.path),
                             cancelled=cancel.is_set())
