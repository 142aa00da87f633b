"""core.virt.nodedev_discovery: the host through libvirt's node-device API, compared with what the
real pyudev/sysfs discovery finds on the same emulated host (umockdev + the test driver's node)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import libvirt
import pytest
from lxml import etree
from paths import ROOT

from vfpool_tui.core.scan import discovery_for
from vfpool_tui.core.virt.connection import is_remote_uri
from vfpool_tui.core.virt.nodedev_discovery import _Pci, discover_host_via_libvirt

_spec = importlib.util.spec_from_file_location("gen_host", ROOT / "bench" / "gen_host.py")
gen_host = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("gen_host", gen_host)
_spec.loader.exec_module(gen_host)

# A PF as a real libvirt 9.0 prints it (virsh nodedev-dumpxml): <driver> included, which the test
# driver drops from the devices of its node file
REAL_PF = """<device>
  <name>pci_0000_3b_00_0</name>
  <path>/sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0</path>
  <parent>pci_0000_3a_00_0</parent>
  <driver><name>i40e</name></driver>
  <capability type='pci'>
    <class>0x020000</class>
    <domain>0</domain><bus>59</bus><slot>0</slot><function>0</function>
    <product id='0x1572'>Ethernet Controller X710 for 10GbE SFP+</product>
    <vendor id='0x8086'>Intel Corporation</vendor>
    <capability type='virt_functions' maxCount='64'>
      <address domain='0x0000' bus='0x3b' slot='0x02' function='0x0'/>
      <address domain='0x0000' bus='0x3b' slot='0x02' function='0x1'/>
    </capability>
    <iommuGroup number='40'><address domain='0x0000' bus='0x3b' slot='0x00' function='0x0'/></iommuGroup>
    <numa node='-1'/>
    <pci-express><link validity='cap' port='0' speed='8' width='8'/></pci-express>
  </capability>
</device>"""


def test_a_real_pf_xml_is_read_with_its_driver_and_decimal_bus():
    p = _Pci("pci_0000_3b_00_0", etree.fromstring(REAL_PF))
    assert (p.address, p.driver, p.is_pf, p.max_vfs) == ("0000:3b:00.0", "i40e", True, 64)
    assert p.vf_addresses == ("0000:3b:02.0", "0000:3b:02.1")
    assert (p.vendor_id, p.device_id, p.iommu_group, p.numa) == ("8086", "1572", 40, None)  # -1: unknown
    assert p.model == "Ethernet Controller X710 for 10GbE SFP+" and p.network_class


@pytest.mark.parametrize("uri, remote", [
    ("qemu+ssh://root@hv2/system", True), ("qemu://hv2.example/system", True),
    ("qemu+tcp://10.0.0.5/system", True), ("qemu+libssh2://hv/system?known_hosts=/x", True),
    ("qemu:///system", False), ("qemu+unix:///system?socket=/run/x", False), ("test:///default", False),
    ("qemu://localhost/system", False), (None, False), ("", False),
])
def test_which_uris_reach_another_machine(uri, remote):
    assert is_remote_uri(uri) is remote
    assert discovery_for("auto", uri) == ("libvirt" if remote else "udev")
    assert discovery_for("udev", uri) == "udev" and discovery_for("libvirt", uri) == "libvirt"


def test_a_host_without_node_devices_has_no_pfs(tmp_path):
    node = tmp_path / "node.xml"
    node.write_text("<node><domain type='test'><name>x</name><memory>65536</memory>"
                    "<os><type>hvm</type></os></domain></node>")
    host = discover_host_via_libvirt(libvirt.open(f"test://{node}"))
    assert host.pfs == () and host.errors == () and host.netdevs == frozenset()


needs_umockdev = pytest.mark.skipif(shutil.which("umockdev-run") is None, reason="umockdev-run not installed")

# what libvirt's node-device API does not carry (netlink admin settings, switchdev representors),
# and the drivers: the test driver drops <driver> from its node file (real libvirt reports it, see
# the test above), so they are compared only where the libvirt side knows them
NOT_FROM_LIBVIRT_PF = {"representors", "eswitch_mode", "driver", "vfs", "counts"}
NOT_FROM_LIBVIRT_VF = {"mac", "vlan", "spoofchk", "trust", "driver", "netdev", "holders",
                       "occupancy", "may_be_held_by"}


def _scan_json(node, *, discovery: str, host_file=None) -> dict:
    cmd = [sys.executable, "-m", "vfpool_tui", "--connect", f"test://{node}", "--discovery", discovery,
           "scan", "--json"]
    if host_file is not None:
        cmd = [shutil.which("umockdev-run"), "-d", str(host_file), "--", *cmd]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


@needs_umockdev
@pytest.mark.umockdev
@pytest.mark.parametrize("pfs,vfs,guests", [(2, 4, 12), (3, 6, 20), (5, 3, 9)])
def test_both_discovery_paths_give_the_same_scan(tmp_path, pfs, vfs, guests):
    host_file, node = gen_host.generate(tmp_path, pfs=pfs, vfs=vfs, guests=guests, nodedevs=True)
    udev = _scan_json(node, discovery="udev", host_file=host_file)
    via_libvirt = _scan_json(node, discovery="libvirt")
    assert (udev["discovery"], via_libvirt["discovery"]) == ("udev", "libvirt")
    assert len(udev["pfs"]) == pfs and via_libvirt["host_errors"] == []
    for a, b in zip(udev["pfs"], via_libvirt["pfs"], strict=True):
        assert {k: v for k, v in a.items() if k not in NOT_FROM_LIBVIRT_PF} == \
               {k: v for k, v in b.items() if k not in NOT_FROM_LIBVIRT_PF}
        assert b["driver"] in (None, a["driver"])
        # the VF occupancy figures do not depend on drivers: the same on both paths
        assert a["counts"] == b["counts"]
        for va, vb in zip(a["vfs"], b["vfs"], strict=True):
            assert {k: v for k, v in va.items() if k not in NOT_FROM_LIBVIRT_VF} == \
                   {k: v for k, v in vb.items() if k not in NOT_FROM_LIBVIRT_VF}
            assert (va["holders"], va["occupancy"]) == (vb["holders"], vb["occupancy"])
            assert vb["netdev"] in (None, va["netdev"])
    assert udev["pools"] == via_libvirt["pools"]
    assert udev["guests"] == via_libvirt["guests"]
    # problems: the same, but for idle vfio-pci VFs, which need the VF drivers the test driver drops
    assert [p for p in udev["problems"] if p["kind"] != "vfio-unused"] == via_libvirt["problems"]


def test_remote_pool_create_refuses_what_libvirt_cannot_write(tmp_path):
    """Writing sriov_numvfs or the udev rule needs the host's own sysfs: refused through libvirt."""
    from vfpool_tui.core.pools import create as pool_create
    from vfpool_tui.core.scan import scan

    _, node = gen_host.generate(tmp_path, pfs=2, vfs=2, guests=0, nodedevs=True)
    conn = libvirt.open(f"test://{node}")
    result = scan(conn=conn, discovery="libvirt")
    pf = result.host.pfs[1]  # the second PF has no pool
    with pytest.raises(pool_create.PoolRefused, match="read through libvirt, which cannot write sriov_numvfs"):
        pool_create.plan_pool(result, pf.netdevs[0], "p2", numvfs=pf.numvfs + 1, conn=conn)
    plan = pool_create.plan_pool(result, pf.netdevs[0], "p2", conn=conn)  # the VFs it has: fine
    assert any("not known from here" in w.message for w in plan.warnings)
