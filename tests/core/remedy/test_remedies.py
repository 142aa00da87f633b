"""The remedies (core/remedy/) on libvirt's test driver, with the sysfs side in a private directory
whose kernel part (VFs appear when sriov_numvfs is written) is the demo's emulated kernel.

INJECTED at the libvirt boundary, each said where it is done:
- ``nodeDeviceLookupByName(...).reAttach()``: the test driver has no node-device re-attach
  (LIBVIRT-FACTS.md), so release-vfs runs against ``ReattachConn``, which records the call and
  answers it as libvirt would; everything else goes to the real test driver.
- a network start that fails (``FailingNetConn``): the test driver starts any hostdev network.
"""

from __future__ import annotations

import json
import threading

import libvirt
import pytest
from convert_fixtures import PF_B, conn, domain, host, iface_hostdev, node, vf_addr  # noqa: F401
from engine_helpers import FAST, injected_error, running

from vfpool_tui.core.conversion.journal import Journal
from vfpool_tui.core.conversion.lock import ConversionLock, LockBusy
from vfpool_tui.core.host import sriov
from vfpool_tui.core.remedy import plans
from vfpool_tui.core.remedy.outcome import RemedyResult
from vfpool_tui.core.remedy.plans import RemedyRefused
from vfpool_tui.core.remedy.records import RemedyJournal
from vfpool_tui.core.remedy.runner import RemedyRunner
from vfpool_tui.core.scan import scan


def fresh(c, host_model):
    return lambda: scan(conn=c, host=host_model)


def runner(c, tmp_path):
    return RemedyRunner(c, Journal(tmp_path / "journal"), FAST)


# --------------------------------------------------------------------------- release leaked VFs


class ReattachConn:
    """The real test-driver connection, with INJECTED node devices: ``nodeDeviceLookupByName``
    returns a device whose ``reAttach()`` is recorded (the test driver has none)."""

    def __init__(self, c, fail=()):
        self._c, self.fail, self.reattached = c, set(fail), []

    def __getattr__(self, attr):
        return getattr(self._c, attr)

    def nodeDeviceLookupByName(self, name):
        outer = self

        class Dev:
            def reAttach(self):
                if name in outer.fail:  # INJECTED: what libvirt says for a device it cannot re-attach
                    raise injected_error(libvirt.VIR_ERR_OPERATION_FAILED,
                                         f"operation failed: Failed to reattach {name}")
                outer.reattached.append(name)
                return 0

        return Dev()


def test_release_plans_the_leaked_vfs_and_refuses_a_named_one(conn, host):
    s = scan(conn=conn, host=host)
    # PF B: VF0 hard-coded in portb; VF1-3 vfio-pci, in pool-b with no guest: leaked
    assert plans.leaked_vfs(s) == tuple(vf_addr(PF_B, i) for i in (1, 2, 3))
    plan = plans.plan_release(s)
    assert plan.vfs == plans.leaked_vfs(s) and not plan.guests
    assert "virNodeDeviceReAttach pci_0000_03_10_1" in plan.steps[0]
    with pytest.raises(RemedyRefused, match="named in the definition of portb"):
        plans.plan_release(s, [vf_addr(PF_B, 0)])
    with pytest.raises(RemedyRefused, match="not a VF of this host"):
        plans.plan_release(s, ["0000:41:00.0"])


def test_release_reattaches_through_the_node_device_api_and_journals(conn, host, tmp_path):
    s = scan(conn=conn, host=host)
    plan = plans.plan_release(s, [vf_addr(PF_B, 1), vf_addr(PF_B, 2)])
    c = ReattachConn(conn)
    events = []
    out = runner(c, tmp_path).run(plan, events.append, rescan=fresh(conn, host))
    assert out.ok, out.message
    assert c.reattached == ["pci_0000_03_10_1", "pci_0000_03_10_2"]
    assert [(r.guest, r.result) for r in out.guests] == [(vf_addr(PF_B, 1), RemedyResult.DONE),
                                                          (vf_addr(PF_B, 2), RemedyResult.DONE)]
    assert [(str(e.step), str(e.state)) for e in events if e.guest == vf_addr(PF_B, 1)] == [
        ("precheck", "started"), ("precheck", "ok"), ("reattach", "started"), ("reattach", "ok"), ("done", "ok")]
    rec = RemedyJournal(Journal(tmp_path / "journal")).records()[-1]
    assert rec.finished and rec.result == "done" and rec.meta["vfs"] == list(plan.vfs)
    assert rec.done("reattach") and rec.meta["drivers"] == {a: "vfio-pci" for a in plan.vfs}


def test_release_checks_again_right_before_acting(conn, host, tmp_path):
    """A guest defined after the preview names VF 2: that VF is left alone, VF 1 is released."""
    plan = plans.plan_release(scan(conn=conn, host=host), [vf_addr(PF_B, 1), vf_addr(PF_B, 2)])
    from lxml import etree

    late = domain("late", "33333333-0000-4000-8000-000000000001",
                  [iface_hostdev(vf_addr(PF_B, 2), "52:54:00:00:33:01")], running=False)
    conn.defineXML(etree.tostring(late, encoding="unicode"))
    c = ReattachConn(conn)
    out = runner(c, tmp_path).run(plan, rescan=fresh(conn, host))
    assert c.reattached == ["pci_0000_03_10_1"]
    assert out.result is RemedyResult.FAILED  # one of two: the message says which and why
    assert "named in the definition of late" in out.message


def test_release_failure_of_one_vf_leaves_it_and_says_libvirts_words(conn, host, tmp_path):
    plan = plans.plan_release(scan(conn=conn, host=host))
    c = ReattachConn(conn, fail={"pci_0000_03_10_2"})
    out = runner(c, tmp_path).run(plan, rescan=fresh(conn, host))
    assert c.reattached == ["pci_0000_03_10_1", "pci_0000_03_10_3"]
    bad = [r for r in out.guests if r.result is not RemedyResult.DONE]
    assert [r.guest for r in bad] == [vf_addr(PF_B, 2)]
    assert "Failed to reattach pci_0000_03_10_2" in bad[0].message and "still vfio-pci" in bad[0].message


def test_a_remedy_waits_for_no_one_while_a_conversion_holds_the_lock(conn, host, tmp_path):
    plan = plans.plan_release(scan(conn=conn, host=host))
    j = Journal(tmp_path / "journal").ensure()
    held = ConversionLock(j.dir).acquire("convert web")
    try:
        with pytest.raises(LockBusy, match="convert web"):
            runner(ReattachConn(conn), tmp_path).run(plan, rescan=fresh(conn, host))
    finally:
        held.release()


# --------------------------------------------------------------------------- restart a pool


def test_restart_pool_stops_its_guests_restarts_the_network_and_starts_them(conn, host, tmp_path):
    s = scan(conn=conn, host=host)
    plan = plans.plan_restart(s, "pool-a")
    assert [g.guest for g in plan.guests] == ["onpool"]
    assert any("not stale" in w for w in plan.warnings)  # the test driver's pool lists no VFs
    events = []
    out = runner(conn, tmp_path).run(plan, events.append, rescan=fresh(conn, host))
    assert out.ok, out.message
    assert running(conn, "onpool") and conn.networkLookupByName("pool-a").isActive()
    seq = [(e.guest, str(e.step), str(e.state)) for e in events if str(e.state) in ("ok", "failed")]
    assert seq == [("onpool", "shutdown", "ok"), ("pool pool-a", "network", "ok"),
                   ("pool pool-a", "network", "ok"), ("onpool", "start", "ok"), ("onpool", "done", "ok"),
                   ("pool pool-a", "done", "ok")]
    rec = RemedyJournal(Journal(tmp_path / "journal")).records()[-1]
    assert rec.finished and rec.result == "done"
    assert rec.meta["guests"] == [{"guest": "onpool", "uuid": "11111111-0000-4000-8000-000000000004",
                                   "was_running": True}]
    assert "<name>pool-a</name>" in (rec.path / "network-pool-a.xml").read_text()


def test_restart_refusals(conn, host):
    s = scan(conn=conn, host=host)
    with pytest.raises(RemedyRefused, match="no hostdev pool network named 'nope'"):
        plans.plan_restart(s, "nope")
    conn.networkLookupByName("pool-b").destroy()
    with pytest.raises(RemedyRefused, match="not active"):
        plans.plan_restart(scan(conn=conn, host=host), "pool-b")


def test_restart_refused_when_a_guest_joined_since_the_plan(conn, host, tmp_path):
    plan = plans.plan_restart(scan(conn=conn, host=host), "pool-b")
    assert plan.guests == ()
    from convert_fixtures import iface_network
    from lxml import etree

    conn.createXML(etree.tostring(domain("joiner", "33333333-0000-4000-8000-000000000002",
                                         [iface_network("pool-b", "52:54:00:00:33:02")]), encoding="unicode"))
    with pytest.raises(RemedyRefused, match="now also joiner"):
        runner(conn, tmp_path).run(plan, rescan=fresh(conn, host))
    assert conn.networkLookupByName("pool-b").isActive()


class FailingNetConn:
    """INJECTED: the first ``create()`` of the named network fails as libvirt says when the PF has
    no VFs (the test driver starts any hostdev network)."""

    def __init__(self, c, name, times=1):
        self._c, self.name, self.times = c, name, times

    def __getattr__(self, attr):
        return getattr(self._c, attr)

    def networkLookupByName(self, name):
        net = self._c.networkLookupByName(name)
        if name != self.name:
            return net
        outer = self

        class Net:
            def __getattr__(self, attr):
                return getattr(net, attr)

            def create(self):
                if outer.times:
                    outer.times -= 1
                    raise injected_error(libvirt.VIR_ERR_INTERNAL_ERROR,
                                         f"internal error: No usable Vf's present on SRIOV PF {name}")
                return net.create()

        return Net()


def test_restart_failure_undoes_in_reverse_and_starts_the_guest(conn, host, tmp_path):
    plan = plans.plan_restart(scan(conn=conn, host=host), "pool-a")
    out = runner(FailingNetConn(conn, "pool-a"), tmp_path).run(plan, rescan=fresh(conn, host))
    assert out.result is RemedyResult.UNDONE, out.message
    assert "No usable Vf's present on SRIOV PF pool-a" in out.message
    assert conn.networkLookupByName("pool-a").isActive()  # the undo started it again
    assert running(conn, "onpool")


def test_a_guest_that_ignores_acpi_leaves_everything_as_it_was(conn, host, tmp_path):
    from engine_helpers import InjectedConn

    plan = plans.plan_restart(scan(conn=conn, host=host), "pool-a")
    c = InjectedConn(conn, ignore_shutdown={"onpool"})  # INJECTED: the guest OS ignores ACPI
    out = runner(c, tmp_path).run(plan, rescan=fresh(conn, host))
    assert out.result is RemedyResult.UNCHANGED and "did not shut down within 2 s" in out.message
    assert running(conn, "onpool") and conn.networkLookupByName("pool-a").isActive()
    assert ("shutdown", "onpool") in c.calls


# --------------------------------------------------------------------------- grow a PF


@pytest.fixture
def sysfs(tmp_path):
    """PF B in a private sysfs tree with its 4 VFs, kept by the demo's emulated kernel."""
    from vfpool_tui.demo.kernel import SriovEmulator

    root = tmp_path / "sys"
    dev = root / "bus" / "pci" / "devices" / PF_B
    dev.mkdir(parents=True)
    (dev / "sriov_totalvfs").write_text("63\n")
    (dev / "sriov_offset").write_text("128\n")
    (dev / "sriov_stride").write_text("1\n")
    (dev / "sriov_numvfs").write_text("4\n")
    kernel = SriovEmulator(root, interval=0.02)
    kernel.sync()
    kernel.start()
    yield root
    kernel.stop()


def test_grow_pf_runs_the_whole_sequence(conn, host, tmp_path, sysfs):
    s = scan(conn=conn, host=host)
    udev = tmp_path / "root"
    plan = plans.plan_grow(s, "eth4", 6, persist=True, sysfs_root=str(sysfs), udev_root=str(udev))
    assert [g.guest for g in plan.guests] == ["portb"] and plan.networks == ("pool-b",)
    assert any("write 0" in st for st in plan.steps) and plan.rule_text
    events = []
    out = runner(conn, tmp_path).run(plan, events.append, rescan=fresh(conn, host))
    assert out.ok, out.message
    assert sriov.read_numvfs(PF_B, str(sysfs)) == 6 and sriov.present_vfs(PF_B, str(sysfs)) == 6
    assert 'ATTR{sriov_numvfs}="6"' in sriov.udev_rule_path(PF_B, str(udev)).read_text()
    assert running(conn, "portb") and conn.networkLookupByName("pool-b").isActive()
    target = [(str(e.step), str(e.state)) for e in events if e.guest == "PF eth4" and str(e.state) == "ok"]
    assert target == [("network", "ok"), ("numvfs", "ok"), ("vfs", "ok"), ("network", "ok"), ("rule", "ok"),
                      ("done", "ok")]
    rec = RemedyJournal(Journal(tmp_path / "journal")).records()[-1]
    assert (rec.meta["numvfs_before"], rec.meta["numvfs"], rec.meta["pf_pci"]) == (4, 6, PF_B)
    assert rec.finished and rec.result == "done"


def test_grow_pf_failure_puts_the_count_back_and_the_guest_up(conn, host, tmp_path, sysfs):
    plan = plans.plan_grow(scan(conn=conn, host=host), "eth4", 6, sysfs_root=str(sysfs))
    out = runner(FailingNetConn(conn, "pool-b"), tmp_path).run(plan, rescan=fresh(conn, host))
    assert out.result is RemedyResult.UNDONE, out.message
    assert sriov.read_numvfs(PF_B, str(sysfs)) == 4 and sriov.present_vfs(PF_B, str(sysfs)) == 4
    assert running(conn, "portb") and conn.networkLookupByName("pool-b").isActive()


def test_grow_pf_refusals(conn, host, tmp_path):
    s = scan(conn=conn, host=host)
    with pytest.raises(RemedyRefused, match="has 4 VFs already"):
        plans.plan_grow(s, "eth4", 4)
    with pytest.raises(RemedyRefused, match="at most 63 VFs"):
        plans.plan_grow(s, "eth4", 64)
    import dataclasses

    remote = dataclasses.replace(s, meta=dict(s.meta, discovery="libvirt"), uri="qemu+ssh://hv2/system")
    with pytest.raises(RemedyRefused) as err:
        plans.plan_grow(remote, "eth4", 6)
    # the same reason `pool create --numvfs` gives through libvirt discovery
    assert "read through libvirt, which cannot write sriov_numvfs" in err.value.reason
    assert "vfpool-tui remedy restart-pool pool-b" in err.value.reason


def test_grow_pf_stop_request_before_the_write_changes_nothing(conn, host, tmp_path, sysfs):
    plan = plans.plan_grow(scan(conn=conn, host=host), "eth4", 6, sysfs_root=str(sysfs))
    cancel = threading.Event()
    cancel.set()
    out = runner(conn, tmp_path).run(plan, cancel_event=cancel, rescan=fresh(conn, host))
    assert out.result is RemedyResult.UNCHANGED and out.cancelled
    assert sriov.read_numvfs(PF_B, str(sysfs)) == 4 and running(conn, "portb")
    log = [json.loads(x) for x in (RemedyJournal(Journal(tmp_path / "journal")).records()[-1].path
                                   / "log.jsonl").read_text().splitlines()]
    assert log[-1]["kind"] == "end" and log[-1]["result"] == "unchanged"


def test_resume_finishes_a_grow_cut_off_after_the_zero_write(conn, host, tmp_path, sysfs):
    """The process died after writing 0 (the SSH session dropped, then kill -9): the journal has
    the begin line and the steps up to there; resume puts N, the network and the guest back."""
    from vfpool_tui.core.remedy.resume import finish

    plan = plans.plan_grow(scan(conn=conn, host=host), "eth4", 6, sysfs_root=str(sysfs))
    run = runner(conn, tmp_path)
    rec = run.records.begin(plan.kind, plan.target, **run._originals(plan))
    rec.step("numvfs", "started", "set eth4 to 6 VFs")
    # what the killed run had done: the guest down, the network stopped, 0 written
    conn.lookupByName("portb").destroy()
    conn.networkLookupByName("pool-b").destroy()
    sriov.set_numvfs(PF_B, 0, sysfs_root=str(sysfs))
    sriov.wait_for_vfs(PF_B, 0, str(sysfs))
    unfinished = RemedyJournal(Journal(tmp_path / "journal")).unfinished()
    assert [r.id for r in unfinished] == [rec.id]
    out = finish(conn, Journal(tmp_path / "journal"), unfinished[0], FAST)
    assert out.ok, out.message
    assert sriov.read_numvfs(PF_B, str(sysfs)) == 6 and sriov.present_vfs(PF_B, str(sysfs)) == 6
    assert running(conn, "portb") and conn.networkLookupByName("pool-b").isActive()
    assert RemedyJournal(Journal(tmp_path / "journal")).unfinished() == []
