"""release-vfs against a real libvirtd 9.0 (the private daemon): the node-device re-attach really
goes through libvirt, on a node device that does NOT exist on this machine (0000:ff:1f.7, a PCI
address no real machine's VFs use), so no real device is ever detached or re-attached. The host
model says it is a leaked VF (bound to vfio-pci, no guest): that is the only thing stood in for.
The answer is libvirt's own, asserted word for word, and the run reports it and changes nothing.
"""

from __future__ import annotations

import pytest
from real_daemon import WHY_NOT

from vfpool_tui.core.conversion.events import Step
from vfpool_tui.core.conversion.journal import Journal
from vfpool_tui.core.conversion.options import Options
from vfpool_tui.core.model import PF, VF, Host
from vfpool_tui.core.remedy import plans
from vfpool_tui.core.remedy.outcome import RemedyResult, RemedyStep
from vfpool_tui.core.remedy.runner import RemedyRunner
from vfpool_tui.core.scan import scan

if WHY_NOT is not None:
    pytest.skip(f"real-daemon tier: {WHY_NOT}", allow_module_level=True)

PF_PCI, VF_PCI = "0000:ff:1f.0", "0000:ff:1f.7"


def _host() -> Host:
    vf = VF(index=0, pci=VF_PCI, pf_pci=PF_PCI, driver="vfio-pci", netdev=None, iommu_group=99)
    pf = PF(pci=PF_PCI, netdevs=("enp255s31f0",), driver="ixgbe", vendor_id="8086", device_id="10fb",
            vendor="Intel", model="82599", numa_node=None, totalvfs=1, numvfs=1, link="up", vfs=(vf,),
            vf_offset=7, vf_stride=1)
    return Host(pfs=(pf,), pci_devices=frozenset({PF_PCI, VF_PCI}))


def test_release_reaches_libvirts_node_device_api_and_reports_its_answer(conn, tmp_path):
    assert conn.getType() == "QEMU" and conn.getLibVersion() >= 9_000_000  # the real private daemon
    host = _host()
    s = scan(conn=conn, host=host)
    assert plans.leaked_vfs(s) == (VF_PCI,)  # no guest of the private daemon names or holds it
    plan = plans.plan_release(s)
    events = []
    out = RemedyRunner(conn, Journal(tmp_path / "journal"), Options()).run(
        plan, events.append, rescan=lambda: scan(conn=conn, host=host))
    failed = [e for e in events if e.step is RemedyStep.REATTACH and str(e.state) == "failed"]
    assert [e.message for e in failed] == [
        "Node device not found: no node device with matching name 'pci_0000_ff_1f_7'"]
    assert out.result is RemedyResult.UNCHANGED and "still vfio-pci" in out.message
    assert [str(e.step) for e in events if e.guest == VF_PCI][:2] == [str(Step.PRECHECK)] * 2
