"""The pool status words of ``tui/view.py`` (Pools view, host view, wizard) and troubleshoot's marks."""

from __future__ import annotations

from vfpool_tui.core.health.diagnose import pool_usage
from vfpool_tui.core.model import Host, Pool, Scan
from vfpool_tui.tui.troubleshoot_view import pool_mark
from vfpool_tui.tui.view import pool_status


def pool(active=True, capacity=4, in_use=0, free=4):
    return Pool(name="p", uuid="u", pfs=("eth3",), addresses=(), active=active, autostart=True,
                persistent=True, managed=True, capacity=capacity, in_use=in_use, free=free)


def test_an_active_pool_without_vfs_says_so_not_full():
    assert pool_status(pool(capacity=0, free=0))[0] == "NO VFS"
    assert pool_status(pool(capacity=4, in_use=4, free=0))[0] == "FULL"
    assert pool_status(pool(active=False, capacity=0, free=0))[0] == "INACTIVE"
    assert pool_status(pool())[0] == "active"


def test_troubleshoot_marks_an_active_pool_without_vfs_as_such():
    scan = Scan(host=Host(pfs=()), pools=(pool(capacity=0, free=0),))
    assert pool_mark(pool_usage(scan, "p")).word == "NO VFS"


def test_without_libvirt_the_views_say_unknown_not_free():
    # libvirt could not be read: the PF row's pooled/hard/free are unknown, each VF "?unknown", and
    # the header says "? pools ? guests" (none of them a count that was never made)
    from vfpool_tui.core.model import PF, VF
    from vfpool_tui.tui.view import UNKNOWN, Index, VfState, pf_rows, vf_rows
    from vfpool_tui.tui.widgets.banner import Status, status_line

    pci = "0000:02:00.0"
    vfs = tuple(VF(index=i, pci=f"0000:02:10.{i}", pf_pci=pci, driver="vfio-pci", netdev=None, iommu_group=i)
                for i in range(3))
    pf = PF(pci=pci, netdevs=("eth0",), driver="ixgbe", vendor_id="8086", device_id="10fb", vendor="Intel",
            model="82599ES", numa_node=0, totalvfs=8, numvfs=3, link="up", vfs=vfs)
    ix = Index(Scan(host=Host(pfs=(pf,)), libvirt_error="cannot connect to libvirt"))
    cells = {k: c.plain for k, c in zip(("pf", "vfs", "pooled", "hard", "free"), pf_rows(ix)[0].cells)}
    assert (cells["pooled"], cells["hard"], cells["free"]) == (UNKNOWN, UNKNOWN, UNKNOWN)
    assert {r.cells[0].plain for r in vf_rows(ix, pf)} == {"?" + VfState.UNKNOWN.value}
    line = status_line(Status(connected=False, pfs=1, vfs=3, pools=None, guests=None), width=120).plain
    assert "? pools ? guests" in line
    # read: the same host shows its VFs free, as counted
    ix = Index(Scan(host=Host(pfs=(pf,))))
    assert pf_rows(ix)[0].cells[4].plain == "3"
    assert {r.cells[0].plain for r in vf_rows(ix, pf)} == {"○free"}
