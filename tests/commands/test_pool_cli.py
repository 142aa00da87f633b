"""``vfpool-tui pool create|list|show`` as a subprocess, under umockdev-run with an emulated host.

Every process that opens a ``test:///file`` URI starts from the file again, so a create in one
process is not seen by the next: the effect of a create is checked in its own output (the
network XML libvirt read back), ``--dry-run`` output, and in-process calls on one connection.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import libvirt
import pytest
from paths import ROOT

from vfpool_tui.core.virt import network_xml, xmlutil

pytestmark = [pytest.mark.umockdev,
              pytest.mark.skipif(not shutil.which("umockdev-run"), reason="umockdev-run missing")]


@pytest.fixture
def env(tmp_path):
    (tmp_path / "host.umockdev").write_text(HOST)
    (tmp_path / "node.xml").write_text(NODE)
    return tmp_path


def cli(env, *args, stdin=subprocess.DEVNULL):
    cmd = ["umockdev-run", "-d", str(env / "host.umockdev"), "--", sys.executable, "-m",
           "vfpool_tui", *args, "--connect", f"test://{env / 'node.xml'}"]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=90, stdin=stdin,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), LC_ALL="C.UTF-8"))


def xml_block(text):
    m = re.search(r"<network>.*?</network>", text, re.S)
    assert m, text
    return m.group(0)


def test_dry_run_prints_valid_xml_and_steps_and_changes_nothing(env, tmp_path):
    before = (env / "node.xml").read_text()
    p = cli(env, "pool", "create", "--pf", "eth3", "--name", "pool-a", "--vlan", "42", "--dry-run")
    assert p.returncode == 0, p.stderr
    xml = xml_block(p.stdout)
    info = network_xml.parse_network(xml)
    assert (info.name, info.forward_mode, info.pf_devs, info.vlan) == ("pool-a", "hostdev", ("eth3",), (42,))
    assert xmlutil.validate(xml, "network") == []
    if shutil.which("virt-xml-validate"):
        f = tmp_path / "dry.xml"
        f.write_text(xml)
        v = subprocess.run(["virt-xml-validate", str(f), "network"], capture_output=True, text=True)
        assert v.returncode == 0, v.stdout + v.stderr
    for step in ("define network 'pool-a'", "start network 'pool-a'", "mark network 'pool-a' to start at boot"):
        assert step in p.stdout
    # the hard-coded guests are named, shut off and running told apart
    assert "guest 'vm-off' (shut off)" in p.stdout and "guest 'vm-run' (running" in p.stdout
    assert "does not survive a reboot" in p.stdout
    assert (env / "node.xml").read_text() == before


def test_create_defines_starts_and_reads_back(env):
    p = cli(env, "pool", "create", "--pf", "0000:03:00.0", "--name", "pool-a", "--yes")
    assert p.returncode == 0, p.stderr
    for line in ("[ ok ] define network 'pool-a'", "[ ok ] mark network 'pool-a' to start at boot",
                 "[ ok ] start network 'pool-a'", "[ ok ] read network 'pool-a' back"):
        assert line in p.stdout
    # what libvirt read back (XMLDesc) carries the uuid libvirt gave it
    back = re.findall(r"<network>.*?</network>", p.stdout, re.S)[-1]
    info = network_xml.parse_network(back)
    assert info.uuid and info.pf_devs == ("eth3",)
    assert "pool VFs (the PF's VFs in sysfs): 0000:03:10.0, 0000:03:10.2" in p.stdout
    assert "vfpool-tui convert" in p.stdout
    assert "warning: guest 'vm-run'" in p.stderr


@pytest.mark.parametrize("args, reason", [
    (("--pf", "eno2", "--name", "x"), "PF eno2 already has a pool: network 'oldpool'"),
    (("--pf", "eth3", "--name", "default"), "a network named 'default' already exists"),
    (("--pf", "eth3", "--name", "oldpool"), "a network named 'oldpool' already exists"),
    (("--pf", "eth3", "--name", "a/b"), "invalid network name 'a/b'"),
    (("--pf", "eno3", "--name", "x"), "network device eno3 is not an SR-IOV PF"),
    (("--pf", "0000:05:00.0", "--name", "x"), "PCI device 0000:05:00.0 is not an SR-IOV PF"),
    (("--pf", "eth99", "--name", "x"), "no PF eth99 on this host"),
    (("--pf", "0000:03:10.0", "--name", "x"), "is a VF (of PF eth3)"),
    (("--pf", "eth3", "--name", "x", "--numvfs", "4"), "running guests hold some of them (vm-run)"),
    (("--pf", "eno2x", "--name", "x", "--vlan", "5000"), "no PF eno2x"),
    (("--pf", "eth3", "--name", "x", "--vlan", "5000"), "VLAN 5000 is out of range"),
    (("--pf", "eth3", "--name", "x"), "needs --yes"),
])
def test_refusals_are_one_line_and_nonzero(env, args, reason):
    p = cli(env, "pool", "create", *args)
    assert p.returncode == 1
    lines = [ln for ln in p.stderr.splitlines() if not ln.startswith("vfpool-tui: warning:")]
    assert len(lines) == 1 and reason in lines[0], p.stderr
    assert "[ ok ]" not in p.stdout


def test_list_and_show_json(env):
    p = cli(env, "pool", "list", "--json")
    assert p.returncode == 0, p.stderr
    pools = json.loads(p.stdout)["pools"]
    assert [(x["name"], x["pfs"], x["active"]) for x in pools] == [("oldpool", ["eno2"], True)]
    p = cli(env, "pool", "show", "oldpool", "--json")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert data["name"] == "oldpool" and network_xml.parse_network(data["xml"]).pf_devs == ("eno2",)
    p = cli(env, "pool", "show", "default")
    assert p.returncode == 1 and "not a VF pool (forward mode nat" in p.stderr
    p = cli(env, "pool", "show", "nope")
    assert p.returncode == 1 and "no network named 'nope'" in p.stderr
    p = cli(env, "pool", "list")
    assert p.returncode == 0 and p.stdout.split()[:2] == ["NETWORK", "STATE"]


def test_in_process_create_is_seen_by_the_same_connection(env, monkeypatch):
    """Within one process: create through the command, then look with the same connection."""
    from vfpool_tui.commands import pool as pool_cmd
    from vfpool_tui.core import model
    from vfpool_tui.core import scan as scan_mod

    c = libvirt.open(f"test://{env / 'node.xml'}")
    pf = model.PF(pci="0000:03:00.0", netdevs=("eth3",), driver="ixgbe", vendor_id="8086",
                  device_id="10fb", vendor="Intel", model="82599", numa_node=0, totalvfs=8, numvfs=2,
                  link="up", vfs=(), vf_offset=128, vf_stride=2)
    host = model.Host(pfs=(pf,), pci_devices=frozenset({pf.pci}))
    real_scan = scan_mod.scan
    monkeypatch.setattr(scan_mod, "scan", lambda **kw: real_scan(host=host, conn=kw["conn"]))
    monkeypatch.setattr(pool_cmd, "_open", lambda args, write: (_NoClose(c), False))
    from vfpool_tui.cli import main

    assert main(["pool", "create", "--pf", "eth3", "--name", "made", "--yes"]) == 0
    net = c.networkLookupByName("made")
    assert net.isActive() and net.autostart()
    assert main(["pool", "create", "--pf", "eth3", "--name", "again", "--yes"]) == 1  # now a duplicate
    assert sorted(n.name() for n in c.listAllNetworks()) == ["default", "made", "oldpool"]


class _NoClose:
    def __init__(self, conn):
        self._conn = conn

    def __getattr__(self, attr):
        return getattr(self._conn, attr)

    def close(self):
        pass


HOST = """P: /devices/pci0000:00/0000:00:01.0
E: DRIVER=pcieport
E: PCI_ID=8086:6F02
E: PCI_SLOT_NAME=0000:00:01.0
E: SUBSYSTEM=pci
A: vendor=0x8086
A: device=0x6f02
A: class=0x060400
L: driver=../../../bus/pci/drivers/pcieport

P: /devices/pci0000:00/0000:00:01.0/0000:03:00.0
E: DRIVER=ixgbe
E: PCI_ID=8086:10FB
E: PCI_SLOT_NAME=0000:03:00.0
E: SUBSYSTEM=pci
A: vendor=0x8086
A: device=0x10fb
A: class=0x020000
A: numa_node=0
A: sriov_totalvfs=8
A: sriov_numvfs=2
A: sriov_offset=128
A: sriov_stride=2
L: driver=../../../../bus/pci/drivers/ixgbe
L: iommu_group=../../../../kernel/iommu_groups/30
L: virtfn0=../0000:03:10.0
L: virtfn1=../0000:03:10.2

P: /devices/pci0000:00/0000:00:01.0/0000:03:00.0/net/eth3
E: INTERFACE=eth3
E: SUBSYSTEM=net
A: operstate=up

P: /devices/pci0000:00/0000:00:01.0/0000:03:10.0
E: DRIVER=vfio-pci
E: PCI_ID=8086:10ED
E: PCI_SLOT_NAME=0000:03:10.0
E: SUBSYSTEM=pci
A: vendor=0x8086
A: device=0x10ed
L: driver=../../../../bus/pci/drivers/vfio-pci
L: iommu_group=../../../../kernel/iommu_groups/40
L: physfn=../0000:03:00.0

P: /devices/pci0000:00/0000:00:01.0/0000:03:10.2
E: DRIVER=vfio-pci
E: PCI_ID=8086:10ED
E: PCI_SLOT_NAME=0000:03:10.2
E: SUBSYSTEM=pci
A: vendor=0x8086
A: device=0x10ed
L: driver=../../../../bus/pci/drivers/vfio-pci
L: iommu_group=../../../../kernel/iommu_groups/41
L: physfn=../0000:03:00.0

P: /devices/pci0000:00/0000:00:01.0/0000:04:00.0
E: DRIVER=igb
E: PCI_ID=8086:1521
E: PCI_SLOT_NAME=0000:04:00.0
E: SUBSYSTEM=pci
A: vendor=0x8086
A: device=0x1521
A: class=0x020000
A: sriov_totalvfs=7
A: sriov_numvfs=0
A: sriov_offset=384
A: sriov_stride=4
L: driver=../../../../bus/pci/drivers/igb

P: /devices/pci0000:00/0000:00:01.0/0000:04:00.0/net/eno2
E: INTERFACE=eno2
E: SUBSYSTEM=net
A: operstate=up

P: /devices/pci0000:00/0000:00:01.0/0000:05:00.0
E: DRIVER=igb
E: PCI_ID=8086:1533
E: PCI_SLOT_NAME=0000:05:00.0
E: SUBSYSTEM=pci
A: vendor=0x8086
A: device=0x1533
A: class=0x020000
L: driver=../../../../bus/pci/drivers/igb

P: /devices/pci0000:00/0000:00:01.0/0000:05:00.0/net/eno3
E: INTERFACE=eno3
E: SUBSYSTEM=net
A: operstate=up
"""

NODE = """<node>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>vm-run</name>
    <memory>65536</memory>
    <os><type>hvm</type></os>
    <devices>
      <hostdev mode='subsystem' type='pci' managed='yes'>
        <source><address domain='0x0000' bus='0x03' slot='0x10' function='0x2'/></source>
      </hostdev>
    </devices>
  </domain>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>vm-off</name>
    <memory>65536</memory>
    <os><type>hvm</type></os>
    <devices>
      <hostdev mode='subsystem' type='pci' managed='yes'>
        <source><address domain='0x0000' bus='0x03' slot='0x10' function='0x0'/></source>
      </hostdev>
    </devices>
    <test:runstate>5</test:runstate>
  </domain>
  <network>
    <name>default</name>
    <bridge name='virbr0'/>
    <forward mode='nat'/>
    <ip address='192.168.122.1' netmask='255.255.255.0'/>
  </network>
  <network>
    <name>oldpool</name>
    <forward mode='hostdev' managed='yes'><pf dev='eno2'/></forward>
  </network>
</node>
"""


def test_ctrl_d_at_the_question_cancels_without_traceback(env):
    # an operator at a terminal answers the "Create network ...? [y/N]" question with Ctrl-D
    master, slave = os.openpty()
    try:
        os.write(master, b"\x04")  # EOT: input() at the tty sees end of file
        p = cli(env, "pool", "create", "--pf", "eth3", "--name", "pool-eof", stdin=slave)
    finally:
        os.close(slave)
        os.close(master)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines()[-1] == "vfpool-tui: pool create cancelled, nothing changed"
    assert "[ ok ]" not in p.stdout
