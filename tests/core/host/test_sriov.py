"""core.host.sriov: sriov_numvfs writes (fake sysfs trees and umockdev) and the boot-time udev rule."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from paths import ROOT

from vfpool_tui.core.host import sriov
from vfpool_tui.core.model import PF, VF, Guest, Host, Scan, UseKind, VfUse

PF_PCI = "0000:03:00.0"


def fake_sysfs(tmp_path, numvfs=0, pci=PF_PCI):
    dev = tmp_path / "bus" / "pci" / "devices" / pci
    dev.mkdir(parents=True)
    (dev / "sriov_numvfs").write_text(f"{numvfs}\n")
    return dev / "sriov_numvfs"


class Recorder:
    """Stands in for ``open`` in core.host.sriov: records writes, can fail a given write."""

    def __init__(self, path, fail_on=None, err=errno.EBUSY):
        self.path, self.fail_on, self.err, self.writes = path, fail_on, err, []

    def __call__(self, path, mode="r", **kw):
        if "w" not in mode:
            return open(path, mode, **kw)
        rec = self

        class _W:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def write(self, text):
                value = int(text)
                if rec.fail_on is not None and value == rec.fail_on:
                    raise OSError(rec.err, os.strerror(rec.err))
                rec.writes.append(value)
                Path(path).write_text(text)

        return _W()


def make_pf(numvfs=2):
    vfs = tuple(VF(i, f"0000:03:10.{2 * i}", PF_PCI, "vfio-pci", None, 1) for i in range(numvfs))
    return PF(pci=PF_PCI, netdevs=("eth3",), driver="ixgbe", vendor_id="8086", device_id="10fb",
              vendor="Intel", model="82599", numa_node=0, totalvfs=8, numvfs=numvfs, link="up",
              vfs=vfs, vf_offset=128, vf_stride=2)


# --------------------------------------------------------------------------- numvfs writes


def test_enable_from_zero_writes_once(tmp_path):
    f = fake_sysfs(tmp_path, 0)
    change = sriov.set_numvfs(PF_PCI, 4, sysfs_root=str(tmp_path))
    assert change.writes == (4,) and change.old == 0
    assert f.read_text().strip() == "4"


def test_changing_a_nonzero_count_writes_zero_first(tmp_path, monkeypatch):
    f = fake_sysfs(tmp_path, 2)
    rec = Recorder(f)
    monkeypatch.setattr(sriov, "open", rec, raising=False)
    change = sriov.set_numvfs(PF_PCI, 6, sysfs_root=str(tmp_path))
    assert rec.writes == [0, 6] and change.writes == (0, 6)
    assert sriov.set_numvfs(PF_PCI, 6, sysfs_root=str(tmp_path)).writes == ()  # same count: no-op


def test_refused_when_the_final_write_fails_writes_the_old_count_back(tmp_path, monkeypatch):
    f = fake_sysfs(tmp_path, 2)
    rec = Recorder(f, fail_on=7, err=errno.ENOMEM)
    monkeypatch.setattr(sriov, "open", rec, raising=False)
    with pytest.raises(sriov.SriovError, match=r"the driver refused 7 VFs.*2 VFs were written back"):
        sriov.set_numvfs(PF_PCI, 7, sysfs_root=str(tmp_path))
    assert rec.writes == [0, 2] and f.read_text().strip() == "2"


@pytest.mark.parametrize("code, text", [
    (errno.EACCES, "not root"),
    (errno.EPERM, "not root"),
    (errno.EBUSY, "the driver refused 3 VFs"),
    (errno.EINVAL, "the driver refused 3 VFs"),
    (errno.ENOENT, "no driver is bound to the PF"),
    (errno.ENODEV, "is gone"),
    (errno.EIO, "Input/output error"),
])
def test_write_errors_are_explained(tmp_path, monkeypatch, code, text):
    fake_sysfs(tmp_path, 0)
    monkeypatch.setattr(sriov, "open", Recorder(None, fail_on=3, err=code), raising=False)
    with pytest.raises(sriov.SriovError, match=text):
        sriov.set_numvfs(PF_PCI, 3, sysfs_root=str(tmp_path))


def test_missing_device_and_non_pf(tmp_path):
    with pytest.raises(sriov.SriovError, match="is gone"):
        sriov.set_numvfs(PF_PCI, 1, sysfs_root=str(tmp_path))
    (tmp_path / "bus" / "pci" / "devices" / PF_PCI).mkdir(parents=True)
    with pytest.raises(sriov.SriovError, match="not an SR-IOV PF"):
        sriov.set_numvfs(PF_PCI, 1, sysfs_root=str(tmp_path))


def test_count_checks(tmp_path):
    fake_sysfs(tmp_path, 0)
    with pytest.raises(sriov.SriovError, match="at most 8"):
        sriov.set_numvfs(PF_PCI, 9, totalvfs=8, sysfs_root=str(tmp_path))
    with pytest.raises(sriov.SriovError, match="whole number"):
        sriov.set_numvfs(PF_PCI, -1, sysfs_root=str(tmp_path))


def test_refused_while_a_running_guest_holds_a_vf(tmp_path):
    f = fake_sysfs(tmp_path, 2)
    pf = make_pf(2)
    use = VfUse("db", "u1", UseKind.HOSTDEV, "0000:03:10.2", True)
    scan = Scan(host=Host(pfs=(pf,)), guests=(Guest("db", "u1", "running", True, True, False, (use,)),))
    with pytest.raises(sriov.SriovError, match=r"destroys all its VFs.*\(db\)"):
        sriov.set_numvfs(PF_PCI, 4, scan=scan, sysfs_root=str(tmp_path))
    assert f.read_text().strip() == "2"  # nothing written
    # disabling is refused too (it destroys them as well); enabling from 0 would not be
    with pytest.raises(sriov.SriovError, match="destroys"):
        sriov.set_numvfs(PF_PCI, 0, scan=scan, sysfs_root=str(tmp_path))


def test_running_pool_guest_with_unknown_vf_still_blocks():
    from vfpool_tui.core.model import Pool

    pf = make_pf(2)
    use = VfUse("web", "u2", UseKind.POOL, None, True, network="pool0")
    pool = Pool("pool0", "p", ("eth3",), (), True, True, True, True, 2, 1, 1)
    scan = Scan(host=Host(pfs=(pf,)), guests=(Guest("web", "u2", "running", True, True, False, (use,)),),
                pools=(pool,))
    assert "web" in sriov.numvfs_problem(scan, pf, 4)


@pytest.mark.umockdev
def test_write_under_umockdev_goes_to_the_emulated_tree(tmp_path):
    """Under umockdev the real code writes /sys/.../sriov_numvfs of the emulated tree.
    The emulated kernel creates NO VFs for it: virtfn links and VF devices stay as described."""
    if not shutil.which("umockdev-run"):
        pytest.skip("umockdev-run missing")
    desc = tmp_path / "host.umockdev"
    desc.write_text(UMOCKDEV_HOST)
    script = (
        "import json, os\n"
        "from vfpool_tui.core.host import sriov\n"
        "from vfpool_tui.core.host.discovery import discover_host\n"
        "c = sriov.set_numvfs('0000:03:00.0', 5, totalvfs=8)\n"
        "host = discover_host(with_netlink=False)\n"
        "pf = host.pf('eth3')\n"
        "print(json.dumps({'writes': c.writes, 'old': c.old, 'now': sriov.read_numvfs('0000:03:00.0'),\n"
        "  'numvfs': pf.numvfs, 'vfs': [v.pci for v in pf.vfs],\n"
        "  'virtfn': sorted(n for n in os.listdir('/sys/bus/pci/devices/0000:03:00.0') if n.startswith('virtfn'))}))\n"
    )
    proc = subprocess.run(["umockdev-run", "-d", str(desc), "--", sys.executable, "-c", script],
                          capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["old"] == 2 and out["writes"] == [0, 5] and out["now"] == 5 and out["numvfs"] == 5
    assert out["vfs"] == ["0000:03:10.0", "0000:03:10.2"] and out["virtfn"] == ["virtfn0", "virtfn1"]


# --------------------------------------------------------------------------- udev rule


def test_udev_rule_text_and_path():
    pf = make_pf()
    text = sriov.udev_rule_text(pf, 8)
    rules = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert rules == ['ACTION=="bind", SUBSYSTEM=="pci", KERNEL=="0000:03:00.0", ATTR{sriov_numvfs}="8"']
    assert sriov.udev_rule_path(PF_PCI) == Path("/etc/udev/rules.d/70-vfpool-0000-03-00.0.rules")


def test_udev_rule_parses_with_udevadm(tmp_path):
    udevadm = shutil.which("udevadm")
    if not udevadm:
        pytest.skip("udevadm missing")
    done = sriov.write_udev_rule(make_pf(), 8, root=str(tmp_path))
    proc = subprocess.run([udevadm, "verify", str(done.path)], capture_output=True, text=True)
    if proc.returncode != 0 and "verify" in (proc.stderr + proc.stdout) and "Unknown" in (proc.stderr + proc.stdout):
        pytest.skip("this udevadm has no 'verify' (systemd < 254)")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_write_and_undo_rule(tmp_path):
    pf = make_pf()
    done = sriov.write_udev_rule(pf, 4, root=str(tmp_path))
    assert done.previous is None and done.path.read_text() == sriov.udev_rule_text(pf, 4)
    assert oct(done.path.stat().st_mode & 0o777) == "0o644"
    again = sriov.write_udev_rule(pf, 6, root=str(tmp_path))
    assert again.previous == sriov.udev_rule_text(pf, 4)
    sriov.undo_rule_write(again)
    assert done.path.read_text() == sriov.udev_rule_text(pf, 4)
    sriov.undo_rule_write(done)
    assert not done.path.exists()
    assert [p.name for p in done.path.parent.iterdir()] == []  # no temp files left


UMOCKDEV_HOST = """P: /devices/pci0000:00/0000:00:01.0
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
"""
