"""Finishing a remedy run that was cut off (the SSH session dropped and the process was killed, a
crash, a second Ctrl-C): forward, from where the host is now, with what the journal record's begin
line kept.

- grow-pf: the PF gets the VF count the run was going to (0 then N when it has another non-zero
  count), the VFs are waited for, the udev rule is written if asked and not written yet;
- grow-pf and restart-pool: every network that was active runs, every guest that was running runs;
- release-vfs: nothing is ever half-way (each VF is released or not): the record is closed.

Forward rather than back: past the first change the VFs of the PF are gone already, and the
guests can only run again once the networks are up; the record says what was there before.
"""

from __future__ import annotations

import libvirt

from vfpool_tui.core.conversion.events import EventSink, GuestOutcome, Step, StepState
from vfpool_tui.core.conversion.journal import Journal, Record
from vfpool_tui.core.conversion.lock import ConversionLock
from vfpool_tui.core.conversion.options import Options
from vfpool_tui.core.host import sriov
from vfpool_tui.core.model import PF
from vfpool_tui.core.remedy import plans
from vfpool_tui.core.remedy.outcome import RemedyOutcome, RemedyResult, RemedyStep
from vfpool_tui.core.remedy.records import RemedyRecord, read_remedy
from vfpool_tui.core.remedy.runner import RemedyRunner
from vfpool_tui.core.virt import connection
from vfpool_tui.core.virt.domain_state import is_gone


def finish(conn, journal: Journal, rec: RemedyRecord, options: Options | None = None,
           on_event: EventSink | None = None) -> RemedyOutcome:
    lock = ConversionLock(journal.ensure().dir).acquire(f"remedy resume {rec.id}")
    run = RemedyRunner(conn, journal, options)
    run._setup(on_event)
    try:
        rec = read_remedy(rec.path) or rec  # again, under the lock
        record = Record(rec.path)
        if rec.finished:
            return RemedyOutcome(rec.kind, RemedyResult.UNCHANGED, f"already finished: {rec.result}",
                                 record=str(rec.path))
        record.reopen("resume")
        m = rec.meta
        label = str(m.get("target") or rec.kind)
        t = run._row(label, record)
        E = run._emit
        problems: list[str] = []
        if rec.kind == plans.GROW_PF:
            pf_pci, n, root = m["pf_pci"], int(m["numvfs"]), m.get("sysfs_root") or sriov.SYSFS
            try:
                now = sriov.read_numvfs(pf_pci, root)
                if now != n:
                    E(t, label, RemedyStep.NUMVFS, StepState.STARTED, f"{now} VFs now: setting {n}")
                    change = sriov.set_numvfs(pf_pci, n, sysfs_root=root)
                    E(t, label, RemedyStep.NUMVFS, StepState.OK, f"wrote {', '.join(map(str, change.writes))}")
                waited = sriov.wait_for_vfs(pf_pci, n, root)
                E(t, label, RemedyStep.VFS, StepState.OK, f"{n} VFs there after {waited:.1f} s")
                if m.get("persist") and not rec.done(str(RemedyStep.RULE)):
                    pf = PF(pci=pf_pci, netdevs=(m.get("pf_name"),) if m.get("pf_name") else (), driver=None,
                            vendor_id="", device_id="", vendor="", model="", numa_node=None, totalvfs=n,
                            numvfs=n, link=None)
                    done = sriov.write_udev_rule(pf, n, m.get("udev_root") or "/")
                    E(t, label, RemedyStep.RULE, StepState.OK, f"wrote {done.path}")
            except sriov.SriovError as err:
                E(t, label, RemedyStep.NUMVFS, StepState.FAILED, str(err))
                problems.append(str(err))
        for name in m.get("networks") or ():
            try:
                net = conn.networkLookupByName(name)
                if not net.isActive():
                    net.create()
                    E(t, label, RemedyStep.NETWORK, StepState.OK, f"network '{name}' started")
            except libvirt.libvirtError as err:
                msg = f"network '{name}': {connection.describe(err)}"
                E(t, label, RemedyStep.NETWORK, StepState.FAILED, msg)
                problems.append(msg)
        rows = []
        for g in m.get("guests") or ():
            ctx = run._row(g["guest"], record)
            try:
                ctx.dom = conn.lookupByUUIDString(g["uuid"])
            except libvirt.libvirtError as err:
                why = "it no longer exists" if is_gone(err) else connection.describe(err)
                problems.append(f"{g['guest']}: {why}")
                rows.append(GuestOutcome(g["guest"], RemedyResult.FAILED, why))
                continue
            why = run._start_one(ctx)
            if why is None:
                rows.append(run._done(ctx, GuestOutcome(g["guest"], RemedyResult.DONE, "running"),
                                      RemedyResult.DONE))
            else:
                E(ctx, g["guest"], Step.START, StepState.FAILED, why)
                problems.append(f"{g['guest']}: {why}")
                rows.append(run._done(ctx, GuestOutcome(g["guest"], RemedyResult.FAILED, why)))
        if problems:
            result, msg = RemedyResult.FAILED, "finished except: " + "; ".join(problems)
        else:
            result, msg = RemedyResult.DONE, f"{m.get('title', rec.kind)}: finished on resume"
        try:
            record.finish(result, msg)
        except OSError:
            pass
        return RemedyOutcome(rec.kind, result, msg, tuple(rows), record=str(rec.path))
    finally:
        run._teardown()
        lock.release()
