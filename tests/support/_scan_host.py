"""The host that goes with tests/data/nodes/holders.xml, built from the model dataclasses (no sysfs).

eth3 = 0000:02:00.0 and eth4 = 0000:02:00.1 are an 82599's two ports (sriov_offset 128, stride 2,
8 possible VFs each, 4 enabled): eth3's VFs are 02:10.0, .2, .4, .6 and eth4's 02:10.1, .3, .5, .7;
VF 4 of eth3 would be 02:11.0. eth5 = 0000:05:00.0 has no VFs enabled. A GPU sits at 0000:81:00.0.
"""

from __future__ import annotations

from paths import DATA

from vfpool_tui.core import pci
from vfpool_tui.core.model import PF, VF, Host

NODES = DATA / "nodes"
HOLDERS_URI = f"test://{(NODES / 'holders.xml').resolve()}"

# driver of each enabled VF, by (PF, index)
_DRIVERS = {
    ("0000:02:00.0", 0): "vfio-pci", ("0000:02:00.0", 1): "vfio-pci",
    ("0000:02:00.0", 2): "vfio-pci", ("0000:02:00.0", 3): "vfio-pci",
    ("0000:02:00.1", 0): "vfio-pci", ("0000:02:00.1", 1): "ixgbevf",
    ("0000:02:00.1", 2): None, ("0000:02:00.1", 3): "vfio-pci",
}


def _pf(addr: str, netdev: str, numvfs: int, totalvfs: int = 8, offset: int = 128,
        stride: int = 2) -> PF:
    vfs = []
    for i in range(numvfs):
        vaddr = pci.vf_address(addr, offset, stride, i)
        driver = _DRIVERS.get((addr, i), "vfio-pci")
        vfs.append(VF(index=i, pci=vaddr, pf_pci=addr, driver=driver,
                      netdev=f"{netdev}v{i}" if driver == "ixgbevf" else None,
                      iommu_group=40 + i, vendor_id="8086", device_id="10ed"))
    return PF(pci=addr, netdevs=(netdev,), driver="ixgbe", vendor_id="8086", device_id="10fb",
              vendor="Intel Corporation", model="82599ES 10-Gigabit SFI/SFP+", numa_node=0,
              totalvfs=totalvfs, numvfs=numvfs, link="up", vfs=tuple(vfs), vf_offset=offset,
              vf_stride=stride)


def holders_host() -> Host:
    pfs = (
        _pf("0000:02:00.0", "eth3", 4),
        _pf("0000:02:00.1", "eth4", 4),
        _pf("0000:05:00.0", "eth5", 0, offset=128, stride=1),
    )
    present = {pf.pci for pf in pfs} | {vf.pci for pf in pfs for vf in pf.vfs} | {"0000:81:00.0"}
    return Host(pfs=pfs, pci_devices=frozenset(present))
