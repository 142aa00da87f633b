"""Running a remedy plan: under the conversion lock, with a journal record written before anything
changes, checked again against a fresh scan right before acting.

``RemedyRunner(conn, journal, options).run(plan, on_event, cancel, rescan=...)`` -> ``RemedyOutcome``.
Progress is the conversion engine's ``StepEvent`` stream (rows: the remedy's target or each VF,
and each guest), so the CLI prints it and the TUI shows it on the conversion's progress screen;
``force(guest)`` powers a guest off while it waits for its ACPI shutdown, as in a conversion.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import libvirt

from vfpool_tui.core.conversion.events import EventSink
from vfpool_tui.core.conversion.journal import Journal, Record
from vfpool_tui.core.conversion.lock import ConversionLock
from vfpool_tui.core.conversion.options import Options
from vfpool_tui.core.host import sriov
from vfpool_tui.core.model import Scan
from vfpool_tui.core.remedy import plans
from vfpool_tui.core.remedy.cycle import Action, GuestCycle
from vfpool_tui.core.remedy.outcome import RemedyOutcome, RemedyStep
from vfpool_tui.core.remedy.plans import RemedyPlan, RemedyRefused
from vfpool_tui.core.remedy.records import RemedyJournal
from vfpool_tui.core.remedy.release import ReleaseRun
from vfpool_tui.core.virt import connection, network_xml


class RemedyRunner(ReleaseRun, GuestCycle):
    def __init__(self, conn, journal: Journal, options: Options | None = None):
        super().__init__(conn, journal, options)
        self.records = RemedyJournal(journal)

    def run(self, plan: RemedyPlan, on_event: EventSink | None = None,
            cancel_event: threading.Event | None = None, lock: ConversionLock | None = None, *,
            rescan: Callable[[], Scan]) -> RemedyOutcome:
        """Carry the plan out. ``rescan()`` is a fresh ``Scan`` (the run checks the plan against it
        right before acting). Raises ``RemedyRefused`` when the plan no longer holds (nothing
        changed), ``LockBusy`` when a conversion or another remedy runs."""
        cancel = cancel_event or threading.Event()
        own_lock = lock is None
        lock = lock or ConversionLock(self.journal.ensure().dir)
        if own_lock:
            lock.acquire(f"remedy {plan.kind}")
        self._setup(on_event)
        try:
            fresh = None
            if plan.kind != plans.RELEASE_VFS:
                fresh = rescan()
                self._check_again(plan, fresh)
            rec = self.records.begin(plan.kind, plan.target, **self._originals(plan))
            if plan.kind == plans.RELEASE_VFS:
                out = self._release(plan, rec, cancel, rescan)
                try:
                    rec.finish(out.result, out.message)
                except OSError:
                    pass
                return out
            return self._cycle(plan, rec, cancel, self._actions(plan, rec, fresh))
        finally:
            self._teardown()
            if own_lock:
                lock.release()

    # ------------------------------------------------------------------ before anything changes

    def _check_again(self, plan: RemedyPlan, fresh: Scan) -> None:
        """The plan made from a fresh scan must be the same: same guests, same VF count."""
        if plan.kind == plans.RESTART_POOL:
            now = plans.plan_restart(fresh, plan.networks[0])
        else:
            now = plans.plan_grow(fresh, plan.pf_pci or "", plan.numvfs, persist=plan.persist,
                                  sysfs_root=plan.sysfs_root, udev_root=plan.udev_root)
        before = {g.uuid for g in plan.guests}
        after = {g.uuid for g in now.guests}
        if after != before or now.numvfs_before != plan.numvfs_before or now.networks != plan.networks:
            new = sorted(g.guest for g in now.guests if g.uuid not in before)
            gone = sorted(g.guest for g in plan.guests if g.uuid not in after)
            what = "; ".join(x for x in (
                f"now also {', '.join(new)}" if new else "",
                f"no longer {', '.join(gone)}" if gone else "",
                f"the PF has {now.numvfs_before} VFs now, not {plan.numvfs_before}"
                if now.numvfs_before != plan.numvfs_before else "",
                f"networks to restart now {', '.join(now.networks) or 'none'}" if now.networks != plan.networks
                else "") if x)
            raise RemedyRefused(f"the host changed since the plan was shown ({what}); nothing was done: "
                                "look at the plan again")

    def _originals(self, plan: RemedyPlan) -> dict:
        """What the begin line keeps: the plan and every original state."""
        meta = {"title": plan.title, "vfs": list(plan.vfs), "networks": list(plan.networks),
                "guests": [{"guest": g.guest, "uuid": g.uuid, "was_running": True} for g in plan.guests]}
        if plan.kind == plans.GROW_PF:
            meta.update(pf_pci=plan.pf_pci, pf_name=plan.pf_name, numvfs_before=plan.numvfs_before,
                        numvfs=plan.numvfs, persist=plan.persist, sysfs_root=plan.sysfs_root,
                        udev_root=plan.udev_root)
        if plan.kind == plans.RELEASE_VFS:
            meta["drivers"] = {a: "vfio-pci" for a in plan.vfs}
        return meta

    # ------------------------------------------------------------------ the actions

    def _actions(self, plan: RemedyPlan, rec: Record, fresh: Scan) -> list[Action]:
        nets = []
        for name in plan.networks:
            net = self.conn.networkLookupByName(name)
            rec.save(f"network-{name}.xml", _definition(net))
            nets.append(net)
        stop = [(RemedyStep.NETWORK, f"stop network '{n.name()}' (virNetworkDestroy)", _call(n.destroy, "stopped"),
                 f"start network '{n.name()}' again", n.create) for n in nets]
        start = [(RemedyStep.NETWORK, f"start network '{n.name()}' (virNetworkCreate)", _started(n),
                  f"stop network '{n.name()}'", n.destroy) for n in nets]
        if plan.kind == plans.RESTART_POOL:
            return stop + start
        pf_pci, old, new, root = plan.pf_pci, plan.numvfs_before, plan.numvfs, plan.sysfs_root

        def write() -> str:
            now = sriov.read_numvfs(pf_pci, root)
            if now != old:
                raise sriov.SriovError(f"{plan.pf_name} has {now} VFs now, not {old}: scan again")
            change = sriov.set_numvfs(pf_pci, new, totalvfs=None, sysfs_root=root)
            return f"wrote {', '.join(map(str, change.writes))}"

        def put_back() -> None:
            sriov.set_numvfs(pf_pci, old, sysfs_root=root)
            sriov.wait_for_vfs(pf_pci, old, root)

        def wait() -> str:
            return f"{new} VFs there after {sriov.wait_for_vfs(pf_pci, new, root):.1f} s"

        actions: list[Action] = stop + [
            (RemedyStep.NUMVFS, f"set {plan.pf_name} to {new} VFs ("
             + (f"0 then {new}" if old else str(new)) + f" to {sriov.numvfs_path(pf_pci, root)})",
             write, f"set {plan.pf_name} back to {old} VFs", put_back),
            (RemedyStep.VFS, f"wait for {new} VFs of {plan.pf_name}", wait, "", None),
        ] + start
        if plan.persist:
            rule: dict = {}

            def persist() -> str:
                done = sriov.write_udev_rule(fresh.host.pf(pf_pci), new, plan.udev_root)
                rule["done"] = done
                if done.previous is not None:
                    rec.save("udev-rule.prev", done.previous)
                return f"wrote {done.path}"

            actions.append((RemedyStep.RULE, f"write udev rule {plan.rule_path}", persist,
                            f"put back udev rule {plan.rule_path}", lambda: sriov.undo_rule_write(rule["done"])))
        return actions


def _definition(net) -> str:
    """The network's persistent definition (the live XML where the driver has no INACTIVE flag:
    libvirt's test driver refuses it)."""
    try:
        return net.XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE)
    except libvirt.libvirtError as err:
        if connection.error_code(err) not in (libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT):
            raise
        return net.XMLDesc(0)


def _call(fn, message: str):
    def do() -> str:
        fn()
        return message
    return do


def _started(net):
    def do() -> str:
        net.create()
        info = network_xml.parse_network(net.XMLDesc(0))
        return (f"active, {len(info.addresses)} VFs in its pool" if info.addresses
                else "active (no VF list in its live XML)")
    return do
