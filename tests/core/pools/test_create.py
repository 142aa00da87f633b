"""core.pools.create against the libvirt test driver, with Scan/Host built from the model.

The test driver does not check PFs: a hostdev network over a PF that does not exist starts fine
there (checked in test_test_driver_starts_pool_over_missing_pf). So start/define failures are
INJECTED at the libvirt boundary (a wrapper that raises libvirtError with libvirt's own codes and
texts from LIBVIRT-FACTS.md) and named as injected.
"""

from __future__ import annotations

import shutil
import subprocess

import libvirt
import pytest

from vfpool_tui.core.host import sriov
from vfpool_tui.core.model import PF, VF, Guest, Host, Pool, Scan, UseKind, VfUse
from vfpool_tui.core.pools import create as pc
from vfpool_tui.core.virt import network_xml, xmlutil
from vfpool_tui.core.virt.connection import silence_libvirt_stderr

PF_A = "0000:03:00.0"
PF_B = "0000:04:00.0"

NODE = """<node>
  <network>
    <name>default</name>
    <bridge name='virbr0'/>
    <forward mode='nat'/>
    <ip address='192.168.122.1' netmask='255.255.255.0'/>
  </network>
</node>
"""


def make_pf(pci=PF_A, netdev="eth3", numvfs=2, totalvfs=8):
    vfs = tuple(VF(i, f"0000:03:10.{2 * i}", pci, "vfio-pci", None, 40 + i) for i in range(numvfs))
    return PF(pci=pci, netdevs=(netdev,) if netdev else (), driver="ixgbe", vendor_id="8086",
              device_id="10fb", vendor="Intel", model="82599", numa_node=0, totalvfs=totalvfs,
              numvfs=numvfs, link="up", vfs=vfs, vf_offset=128, vf_stride=2)


def make_scan(pfs=None, guests=(), pools=()):
    pfs = pfs if pfs is not None else (make_pf(),)
    addrs = {p.pci for p in pfs} | {v.pci for p in pfs for v in p.vfs} | {"0000:05:00.0"}
    return Scan(host=Host(pfs=tuple(pfs), pci_devices=frozenset(addrs)), guests=tuple(guests),
                pools=tuple(pools))


def hostdev_guest(name, pci, active):
    use = VfUse(name, f"uuid-{name}", UseKind.HOSTDEV, pci, active)
    return Guest(name, f"uuid-{name}", "running" if active else "shut off", active, True, False, (use,))


def pool_record(name, pfs=(), addresses=()):
    return Pool(name=name, uuid="u-" + name, pfs=tuple(pfs), addresses=tuple(addresses), active=True,
                autostart=True, persistent=True, managed=True, capacity=None, in_use=0, free=None)


@pytest.fixture
def conn(tmp_path):
    silence_libvirt_stderr()
    node = tmp_path / "node.xml"
    node.write_text(NODE)
    c = libvirt.open(f"test://{node}")
    yield c
    c.close()


def names(conn):
    return sorted(n.name() for n in conn.listAllNetworks(0))


# --------------------------------------------------------------------------- injection


def injected_error(code, message):
    """A libvirtError as libvirt raises it (INJECTED: the test driver cannot produce it)."""
    err = libvirt.libvirtError(message)
    err.err = (code, libvirt.VIR_FROM_NETWORK, message, libvirt.VIR_ERR_ERROR, None, None, None, 0, 0)
    return err


class _Net:
    def __init__(self, net, fail):
        self._net, self._fail = net, fail

    def __getattr__(self, attr):
        real = getattr(self._net, attr)
        if attr in self._fail:
            def boom(*a, **k):
                raise self._fail[attr]
            return boom
        return real


class InjectingConn:
    """Delegates to a real test-driver connection; networks it defines fail the named calls."""

    def __init__(self, conn, **fail):
        self._conn, self._fail = conn, fail

    def __getattr__(self, attr):
        return getattr(self._conn, attr)

    def networkDefineXMLFlags(self, xml, flags):
        return _Net(self._conn.networkDefineXMLFlags(xml, flags), self._fail)


# --------------------------------------------------------------------------- create


def test_create_runs_each_step_and_leaves_an_active_autostarted_pool(conn):
    plan = pc.plan_pool(make_scan(), "eth3", "pool0", conn=conn)
    assert [s.key for s in plan.steps] == [pc.DEFINE, pc.AUTOSTART, pc.START, pc.READ_BACK]
    seen = []
    result = pc.execute(conn, plan, seen.append)
    assert result.ok, result.error
    # every step reported as it starts and as it ends, in order
    assert [(e.key, e.status) for e in seen] == [
        (k, s) for k in (pc.DEFINE, pc.AUTOSTART, pc.START, pc.READ_BACK)
        for s in (pc.StepStatus.RUNNING, pc.StepStatus.DONE)]
    net = conn.networkLookupByName("pool0")
    assert net.isActive() and net.autostart() and net.isPersistent()
    assert net.UUIDString() == result.uuid
    info = network_xml.parse_network(result.network_xml)
    assert info.forward_mode == "hostdev" and info.pf_devs == ("eth3",) and info.managed
    # the test driver lists no live VFs: the list comes from the PF in sysfs, and says so
    assert result.vf_source == "sysfs"
    assert result.vf_addresses == ("0000:03:10.0", "0000:03:10.2")


def test_test_driver_starts_pool_over_missing_pf(conn):
    """Why failures are injected: the test driver does not look at the PF at all."""
    net = conn.networkDefineXML(network_xml.build_pool_network("ghost", "no-such-pf0"))
    net.create()
    assert net.isActive()


def test_generated_xml_is_valid_for_libvirt_schema(tmp_path):
    if not shutil.which("virt-xml-validate"):
        pytest.skip("virt-xml-validate missing (Debian: libvirt-clients)")
    variants = [dict(), dict(managed=False), dict(vlan=42), dict(managed=False, vlan=4094)]
    for i, kw in enumerate(variants):
        plan = pc.plan_pool(make_scan(), PF_A, f"pool-{i}", **kw)
        assert xmlutil.validate(plan.xml, "network") == []
        f = tmp_path / f"net{i}.xml"
        f.write_text(plan.xml)
        proc = subprocess.run(["virt-xml-validate", str(f), "network"], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        root = xmlutil.parse(plan.xml)
        assert root.find("forward").get("managed") == ("no" if kw.get("managed") is False else "yes")
        if "vlan" in kw:
            assert root.find("vlan/tag").get("id") == str(kw["vlan"])
    # and the checker does catch a broken document
    bad = tmp_path / "bad.xml"
    bad.write_text("<network><name>x</name><forward mode='hostdev'><pf dev='eth 3'/></forward></network>")
    assert subprocess.run(["virt-xml-validate", str(bad), "network"], capture_output=True).returncode != 0


# --------------------------------------------------------------------------- refusals


def test_pf_with_a_pool_is_refused(conn):
    by_dev = make_scan(pools=[pool_record("old", pfs=["eth3"])])
    with pytest.raises(pc.PoolRefused, match="already has a pool: network 'old'"):
        pc.plan_pool(by_dev, "eth3", "pool0", conn=conn)
    by_list = make_scan(pools=[pool_record("listed", addresses=["0000:03:10.2"])])
    with pytest.raises(pc.PoolRefused, match="'listed'"):
        pc.plan_pool(by_list, PF_A, "pool0", conn=conn)
    assert names(conn) == ["default"]


def test_name_taken_by_any_network_is_refused(conn):
    with pytest.raises(pc.PoolRefused, match="network named 'default' already exists"):
        pc.plan_pool(make_scan(), "eth3", "default", conn=conn)  # a NAT network, not a pool
    conn.networkDefineXML(network_xml.build_pool_network("idle", "eth9"))  # defined, never started
    with pytest.raises(pc.PoolRefused, match="'idle' already exists"):
        pc.plan_pool(make_scan(), "eth3", "idle", conn=conn)


@pytest.mark.parametrize("name", ["a/b", "", "/", "x" * 252, "bad\x01name"])
def test_invalid_name_is_refused(conn, name):
    with pytest.raises(pc.PoolRefused, match="invalid network name"):
        pc.plan_pool(make_scan(), "eth3", name, conn=conn)


@pytest.mark.parametrize("name", ["a/b", "", "ok", "with space", "-lead", "..", "näme", "a:b", "a'b"])
def test_name_problem_matches_what_libvirt_rejects(conn, name):
    """name_problem refuses exactly what the test driver's networkDefineXML refuses."""
    try:
        conn.networkDefineXML(xmlutil.to_string(_net_el(name)))
        libvirt_ok = True
    except libvirt.libvirtError:
        libvirt_ok = False
    assert (network_xml.name_problem(name) is None) == libvirt_ok


def _net_el(name):
    from lxml import etree

    root = etree.Element("network")
    etree.SubElement(root, "name").text = name
    fwd = etree.SubElement(root, "forward", mode="hostdev")
    etree.SubElement(fwd, "pf", dev="eth3")
    return root


def test_awkward_names_pass_with_warnings():
    plan = pc.plan_pool(make_scan(), "eth3", "my pool")
    assert any(w.kind == "name" and "white space" in w.message for w in plan.warnings)


@pytest.mark.parametrize("key, reason", [
    ("eth99", "no PF eth99"),
    ("0000:09:00.0", "no PCI device 0000:09:00.0"),
    ("0000:05:00.0", "not an SR-IOV PF"),
    ("0000:03:10.2", "is a VF (of PF eth3)"),
])
def test_not_a_pf_is_refused(key, reason):
    with pytest.raises(pc.PoolRefused, match=reason.replace("(", r"\(").replace(")", r"\)")):
        pc.plan_pool(make_scan(), key, "pool0")


def test_pf_without_sriov_or_netdev_is_refused():
    with pytest.raises(pc.PoolRefused, match="not SR-IOV capable"):
        pc.plan_pool(make_scan([make_pf(numvfs=0, totalvfs=0)]), "eth3", "p")
    with pytest.raises(pc.PoolRefused, match="no network device"):
        pc.plan_pool(make_scan([make_pf(netdev=None)]), PF_A, "p")


def test_pf_with_no_vfs_needs_a_count():
    scan = make_scan([make_pf(numvfs=0)])
    with pytest.raises(pc.PoolRefused, match=r"sriov_numvfs is 0.*1-8"):
        pc.plan_pool(scan, "eth3", "p")
    with pytest.raises(pc.PoolRefused, match="at most 8"):
        pc.plan_pool(scan, "eth3", "p", numvfs=9)
    plan = pc.plan_pool(scan, "eth3", "p", numvfs=4)
    assert plan.steps[0].key == pc.ENABLE_VFS and plan.numvfs == 4


def test_changing_vf_count_refused_while_a_running_guest_holds_a_vf():
    scan = make_scan(guests=[hostdev_guest("db", "0000:03:10.2", active=True)])
    with pytest.raises(pc.PoolRefused, match=r"writing 0 first.*destroys.*\(db\)"):
        pc.plan_pool(scan, "eth3", "p", numvfs=4)
    # the same guest shut off: allowed, with a warning that the VFs are re-created
    scan = make_scan(guests=[hostdev_guest("db", "0000:03:10.2", active=False)])
    plan = pc.plan_pool(scan, "eth3", "p", numvfs=4)
    kinds = {w.kind for w in plan.warnings}
    assert {"numvfs-destroys", "vf-hardcoded", "numvfs-not-persistent"} <= kinds


def test_warnings_name_hardcoded_guests_and_persistence(tmp_path):
    scan = make_scan(guests=[hostdev_guest("web", "0000:03:10.0", active=True),
                             hostdev_guest("other", "0000:07:10.0", active=False)])
    plan = pc.plan_pool(scan, "eth3", "p", udev_root=str(tmp_path))
    hard = [w for w in plan.warnings if w.kind == "vf-hardcoded"]
    assert [w.guests for w in hard] == [("web",)]
    assert "running" in hard[0].message and "vfpool-tui convert" in hard[0].message
    assert any(w.kind == "numvfs-not-persistent" for w in plan.warnings)
    plan = pc.plan_pool(scan, "eth3", "p", persist=True, udev_root=str(tmp_path))
    assert not any(w.kind == "numvfs-not-persistent" for w in plan.warnings)
    assert plan.rule_text and 'ATTR{sriov_numvfs}="2"' in plan.rule_text
    assert plan.steps[0].key == pc.PERSIST_NUMVFS


def test_pf_choices():
    scan = make_scan([make_pf(), make_pf(PF_B, "eno2", numvfs=0, totalvfs=7)],
                     guests=[hostdev_guest("web", "0000:03:10.0", active=False)],
                     pools=[pool_record("old", pfs=["eno2"])])
    a, b = pc.pf_choices(scan)
    assert a.selectable and [u.guest for u in a.hardcoded] == ["web"]
    assert not b.selectable and b.existing_pool == "old"


# --------------------------------------------------------------------------- failures and undo


def test_start_failure_is_rolled_back(conn):
    """INJECTED: virNetworkCreate fails as on a PF whose VFs vanished (LIBVIRT-FACTS.md text)."""
    plan = pc.plan_pool(make_scan(), "eth3", "pool0", conn=conn)
    bad = InjectingConn(conn, create=injected_error(
        libvirt.VIR_ERR_INTERNAL_ERROR, "internal error: No usable Vf's present on SRIOV PF eth3"))
    seen = []
    result = pc.execute(bad, plan, seen.append)
    assert not result.ok and result.failed_step == pc.START
    assert "No usable Vf's present on SRIOV PF eth3" in result.error
    assert result.left_behind == ()
    # the failed step, then the undo of what was done: undefine (autostart goes with it)
    assert (pc.START, pc.StepStatus.FAILED) in [(e.key, e.status) for e in seen]
    undo = [(e.key, e.status) for e in seen if e.undo]
    assert undo == [(pc.DEFINE, pc.StepStatus.RUNNING), (pc.DEFINE, pc.StepStatus.UNDONE)]
    assert names(conn) == ["default"]  # no half-made network left behind
    with pytest.raises(libvirt.libvirtError):
        conn.networkLookupByName("pool0")


def test_read_back_failure_destroys_and_undefines(conn):
    """INJECTED: XMLDesc fails after the network started: stopped and undefined again."""
    plan = pc.plan_pool(make_scan(), "eth3", "pool0", conn=conn)
    bad = InjectingConn(conn, XMLDesc=injected_error(libvirt.VIR_ERR_INTERNAL_ERROR, "internal error: injected"))
    result = pc.execute(bad, plan)
    assert result.failed_step == pc.READ_BACK
    assert [e.key for e in result.events if e.undo and e.status == pc.StepStatus.UNDONE] == [pc.START, pc.DEFINE]
    assert names(conn) == ["default"]


def test_existing_network_of_same_name_is_never_touched(conn):
    plan = pc.plan_pool(make_scan(), "eth3", "late", conn=conn)
    other = conn.networkDefineXML(network_xml.build_pool_network("late", "eth7"))  # appears after the plan
    uuid = other.UUIDString()
    result = pc.execute(conn, plan)
    assert not result.ok and result.failed_step == pc.DEFINE
    assert not [e for e in result.events if e.undo]  # nothing of ours to undo
    kept = conn.networkLookupByName("late")
    assert kept.UUIDString() == uuid
    assert network_xml.parse_network(kept.XMLDesc(0)).pf_devs == ("eth7",)


def fake_pf_sysfs(sysfs, numvfs=0, totalvfs=7):
    """A PF in a fake sysfs tree. The kernel's part (VFs appear when sriov_numvfs is written) is
    played by the demo's emulated kernel (``demo.kernel.SriovEmulator``), where a test starts it."""
    dev = sysfs / "bus" / "pci" / "devices" / PF_B
    dev.mkdir(parents=True)
    (dev / "sriov_numvfs").write_text(f"{numvfs}\n")
    (dev / "sriov_totalvfs").write_text(f"{totalvfs}\n")
    return dev


@pytest.fixture
def kernel(tmp_path):
    from vfpool_tui.demo.kernel import SriovEmulator

    emulator = SriovEmulator(tmp_path / "sys", interval=0.02).start()
    yield emulator
    emulator.stop()


def test_failure_after_enabling_vfs_restores_count_and_rule(conn, tmp_path, kernel):
    """INJECTED start failure after VFs were enabled in a fake sysfs tree and the rule written."""
    sysfs = tmp_path / "sys"
    dev = fake_pf_sysfs(sysfs)
    udev = tmp_path / "root"
    scan = make_scan([make_pf(PF_B, "eno2", numvfs=0, totalvfs=7)])
    plan = pc.plan_pool(scan, "eno2", "p2", numvfs=3, persist=True, conn=conn,
                        sysfs_root=str(sysfs), udev_root=str(udev))
    assert [s.key for s in plan.steps][:2] == [pc.ENABLE_VFS, pc.PERSIST_NUMVFS]
    bad = InjectingConn(conn, create=injected_error(
        libvirt.VIR_ERR_INTERNAL_ERROR, "internal error: Could not get Virtual functions on eno2"))
    result = pc.execute(bad, plan)
    assert not result.ok and result.left_behind == ()
    assert (dev / "sriov_numvfs").read_text().strip() == "0"
    assert not sriov.udev_rule_path(PF_B, str(udev)).exists()
    assert names(conn) == ["default"]
    # and when nothing fails: count written, rule in place, network active
    result = pc.execute(conn, plan)
    # the new VFs, read from sysfs after the kernel made them (not "unknown until a rescan")
    assert result.ok and result.vf_source == "sysfs"
    assert result.vf_addresses == ("0000:04:00.1", "0000:04:00.2", "0000:04:00.3")
    assert (dev / "sriov_numvfs").read_text().strip() == "3"
    assert 'KERNEL=="0000:04:00.0", ATTR{sriov_numvfs}="3"' in sriov.udev_rule_path(PF_B, str(udev)).read_text()
    assert sriov.present_vfs(PF_B, str(sysfs)) == 3


def test_vfs_that_do_not_appear_are_undone_before_any_network(conn, tmp_path, monkeypatch):
    """No kernel here: sriov_numvfs is written, no VF appears; the bounded wait gives up and undoes."""
    sysfs = tmp_path / "sys"
    dev = fake_pf_sysfs(sysfs)
    monkeypatch.setattr(sriov, "VF_WAIT", 0.5)  # the real bound is 10 s
    scan = make_scan([make_pf(PF_B, "eno2", numvfs=0, totalvfs=7)])
    plan = pc.plan_pool(scan, "eno2", "p2", numvfs=3, conn=conn, sysfs_root=str(sysfs))
    result = pc.execute(conn, plan)
    assert not result.ok and result.failed_step == pc.ENABLE_VFS
    assert "3 VFs were written to sriov_numvfs, but 0 appeared within 0.5 s" in result.error
    assert [e.key for e in result.events if e.undo and e.status == pc.StepStatus.UNDONE] == [pc.ENABLE_VFS]
    assert (dev / "sriov_numvfs").read_text().strip() == "0"
    assert names(conn) == ["default"]


def test_vf_count_changed_since_plan_fails_before_anything(conn, tmp_path):
    dev = tmp_path / "bus" / "pci" / "devices" / PF_B
    dev.mkdir(parents=True)
    (dev / "sriov_numvfs").write_text("5\n")  # someone enabled 5 after the scan said 0
    scan = make_scan([make_pf(PF_B, "eno2", numvfs=0, totalvfs=7)])
    plan = pc.plan_pool(scan, "eno2", "p2", numvfs=3, conn=conn, sysfs_root=str(tmp_path))
    result = pc.execute(conn, plan)
    assert result.failed_step == pc.ENABLE_VFS and "scan again" in result.error
    assert (dev / "sriov_numvfs").read_text().strip() == "5"
    assert names(conn) == ["default"]


def test_unexpected_exception_still_undoes(conn):
    """INJECTED: a non-libvirt exception in setAutostart still leads to the undefine."""
    plan = pc.plan_pool(make_scan(), "eth3", "pool0", conn=conn)
    result = pc.execute(InjectingConn(conn, setAutostart=RuntimeError("boom")), plan)
    assert result.failed_step == pc.AUTOSTART and "boom" in result.error
    assert names(conn) == ["default"]
