"""core.health.start_check: would a guest start, and which VF would libvirt give it (starts nothing)."""

from __future__ import annotations

from vfpool_tui.core import capacity
from vfpool_tui.core.health.start_check import pool_queue, would_start
from vfpool_tui.core.model import PF, VF, Guest, Host, Pool, Scan, UseKind, VfUse

PF_ADDR = "0000:03:00.0"


def _host(n: int = 4, groups: bool = True) -> Host:
    vfs = tuple(VF(i, f"0000:03:10.{i}", PF_ADDR, "vfio-pci", None, 30 + i if groups else None) for i in range(n))
    pf = PF(PF_ADDR, ("eth3",), "ixgbe", "8086", "10fb", "Intel", "82599", 0, 63, n, "up", vfs)
    return Host(pfs=(pf,), pci_devices=frozenset({PF_ADDR, *(v.pci for v in vfs)}))


def _g(name: str, running: bool, *uses: tuple[UseKind, str | None, str | None]) -> Guest:
    return Guest(name, name, "running" if running else "shut off", running, True, False,
                 tuple(VfUse(name, name, k, pci, running, network=net) for k, pci, net in uses))


def _scan(host: Host, guests: tuple[Guest, ...], active: bool = True, pool_name: str = "passthrough") -> Scan:
    members = tuple(v.pci for v in host.pfs[0].vfs)
    c = capacity.pool_counts(pool_name, members, True, guests)
    pool = Pool(pool_name, "u", ("eth3",), members if active else (), active, True, True, True,
                capacity=c.size, in_use=c.in_use, free=c.free, blocked=c.blocked, unknown=c.unknown,
                vf_pcis=members)
    return Scan(host=host, guests=guests, pools=(pool,))


POOL = UseKind.POOL


def test_libvirt_gives_the_first_vf_in_pool_order_without_a_connection():
    host = _host()
    scan = _scan(host, (
        _g("a", True, (POOL, "0000:03:10.0", "passthrough")),  # known from its port
        _g("b", True, (POOL, "0000:03:10.2", "passthrough")),
        _g("new", False, (POOL, None, "passthrough"), (POOL, None, "passthrough")),
    ))
    v = would_start(scan, "new")
    assert v.ok is True
    assert [d.vf for d in v.devices] == ["0000:03:10.1", "0000:03:10.3"]  # one each, in pool order
    assert "libvirt would give it 0000:03:10.1" in v.devices[0].reason


def test_the_first_free_vf_hard_coded_in_a_running_guest_makes_the_start_fail():
    scan = _scan(_host(), (
        _g("a", True, (POOL, "0000:03:10.0", "passthrough")),
        _g("legacy", True, (UseKind.HOSTDEV, "0000:03:10.1", None)),
        _g("new", False, (POOL, None, "passthrough")),
    ))
    v = would_start(scan, "new")
    assert v.ok is False
    assert v.devices[0].vf == "0000:03:10.1"
    assert "legacy hard-codes that VF" in v.devices[0].reason and "is in use" in v.devices[0].reason


def test_unknown_holders_leave_the_vf_unknown_but_the_count_decides():
    scan = _scan(_host(2), (_g("a", True, (POOL, None, "passthrough")), _g("new", False, (POOL, None, "passthrough"))))
    v = would_start(scan, "new")
    assert v.ok is True and v.devices[0].vf is None
    assert "which one libvirt gives, it does not say" in v.devices[0].reason
    full = _scan(_host(1), (_g("a", True, (POOL, None, "passthrough")), _g("new", False, (POOL, None, "passthrough"))))
    v = would_start(full, "new")
    assert v.ok is False and "requires exclusive access to interfaces, but none are available" in v.devices[0].reason


def test_inactive_pool_missing_network_and_hard_coded_cases():
    assert would_start(_scan(_host(), (_g("new", False, (POOL, None, "passthrough")),), active=False),
                       "new").devices[0].reason == "pool passthrough is not active"
    lost = Guest("lost", "lost", "shut off", False, True, False, (), missing_networks=("gone",))
    v = would_start(Scan(host=_host(), guests=(lost,)), "lost")
    assert v.ok is False and "network gone does not exist" in v.summary
    scan = _scan(_host(), (
        _g("holder", True, (UseKind.INTERFACE_HOSTDEV, "0000:03:10.2", None)),
        _g("clone", False, (UseKind.HOSTDEV, "0000:03:10.2", None)),
        _g("old", False, (UseKind.HOSTDEV, "0000:03:11.1", None)),
        _g("fine", False, (UseKind.HOSTDEV, "0000:03:10.3", None)),
    ))
    assert would_start(scan, "clone").summary == \
        "clone would not start: VF 0000:03:10.2 is in use by running guest holder."
    assert "does not exist on this host" in would_start(scan, "old").summary
    assert would_start(scan, "fine").ok is True
    assert would_start(scan, "nobody") is None
    no_iommu = _scan(_host(groups=False), (_g("fine", False, (UseKind.HOSTDEV, "0000:03:10.3", None)),))
    assert "no IOMMU" in would_start(no_iommu, "fine").summary


def test_a_pool_with_more_guests_than_vfs_names_who_fails():
    guests = tuple(_g(f"vm{i}", i < 5, (POOL, None, "passthrough")) for i in range(9))
    scan = _scan(_host(7), guests)
    q = pool_queue(scan, scan.pools[0])
    assert q.fail == ("vm7", "vm8")
    assert q.summary.startswith("9 guests use 'passthrough', it has 7 VFs: the 8th and 9th start fail (vm7 and vm8")
    ok = pool_queue(_scan(_host(7), guests[:7]), _scan(_host(7), guests[:7]).pools[0])
    assert ok.fail == () and "all of them can run at once" in ok.summary
