"""find_problems: on the holders node (real test driver) and on hand-built inventories for the
cases the test driver cannot show (a live pool address list, a known pool VF)."""

from __future__ import annotations

import random

import pytest
from _scan_host import HOLDERS_URI, holders_host

from vfpool_tui.core.health.problems import find_problems
from vfpool_tui.core.model import PF, VF, Guest, Host, Pool, ProblemKind, UseKind, VfUse
from vfpool_tui.core.virt.connection import open_connection
from vfpool_tui.core.virt.inventory import read_libvirt

K = ProblemKind


@pytest.fixture(scope="module")
def holders():
    conn = open_connection(HOLDERS_URI, readonly=False)
    host = holders_host()
    inv = read_libvirt(conn, host)
    conn.close()
    return host, inv


def test_problems_on_the_holders_node(holders):
    host, inv = holders
    problems = find_problems(host, inv.guests, inv.pools)
    got = [(p.kind, p.severity, p.pool, p.pcis, p.guests) for p in problems]
    assert got == [
        (K.VF_MULTIPLE_GUESTS, "error", None, ("0000:02:10.2",), ("[bold]x[red]", "gäst \"ü\" 'q' spaced")),
        (K.POOL_VF_HARDCODED, "error", "pool-eth3", ("0000:02:10.0",), ("web1",)),
        (K.POOL_VF_HARDCODED, "error", "pool-eth3", ("0000:02:10.2",), ("[bold]x[red]", "gäst \"ü\" 'q' spaced")),
        (K.POOL_VF_HARDCODED, "error", "pool-eth3", ("0000:02:10.4",), ("pinned",)),
        (K.POOL_VF_HARDCODED, "error", "pool-off", ("0000:02:10.1",), ("web1",)),
        (K.POOL_PF_MISSING, "error", "pool-gone", (), ("on-gone",)),
        (K.POOL_PF_NO_VFS, "error", "pool-novfs", (), ("on-novfs",)),
        (K.VF_MISSING, "warning", None, ("0000:02:11.0",), ("old-vf",)),
        (K.POOL_EXHAUSTED, "warning", "pool-eth3", (), ("db1",)),
        (K.POOL_EXHAUSTED, "warning", "pool-list", (), ("list-c",)),
        (K.POOL_INACTIVE, "warning", "pool-gone", (), ("on-gone",)),
        (K.POOL_INACTIVE, "warning", "pool-novfs", (), ("on-novfs",)),
        (K.POOL_INACTIVE, "warning", "pool-off", (), ("on-off",)),
        # 02:10.6 (eth3 VF 3) is not reported: app1 runs on pool-eth3 with a VF we cannot know
        (K.VFIO_UNUSED, "info", None, ("0000:02:10.7",), ()),
    ]


def test_order_is_deterministic(holders):
    host, inv = holders
    first = find_problems(host, inv.guests, inv.pools)
    guests, pools = list(inv.guests), list(inv.pools)
    random.Random(4).shuffle(guests)
    random.Random(5).shuffle(pools)
    assert find_problems(host, guests, pools) == first


def test_messages_say_what_why_and_what_to_do(holders):
    host, inv = holders
    by = {(p.kind, p.pool, p.pcis): p for p in find_problems(host, inv.guests, inv.pools)}
    dup = by[(K.VF_MULTIPLE_GUESTS, None, ("0000:02:10.2",))].message
    assert "0000:02:10.2 (VF 1 of eth3)" in dup and "[bold]x[red] is running with it" in dup
    assert "cannot run at the same time" in dup and "pool" in dup
    gone = by[(K.POOL_PF_MISSING, "pool-gone", ())].message
    # libvirt 9.0 says this (code 1) for a PF that does not exist, not "Could not get Virtual
    # functions" (that is when reading an existing PF's sysfs fails)
    assert "eth9" in gone and "No usable Vf's present on SRIOV PF eth9" in gone and "on-gone" in gone
    assert "Could not get Virtual functions" not in gone
    novfs = by[(K.POOL_PF_NO_VFS, "pool-novfs", ())].message
    assert "No usable Vf's present on SRIOV PF eth5" in novfs and "sriov_numvfs" in novfs
    full = by[(K.POOL_EXHAUSTED, "pool-eth3", ())].message
    assert ("network 'pool-eth3' requires exclusive access to interfaces, but none are available"
            in full) and "db1" in full
    missing = by[(K.VF_MISSING, None, ("0000:02:11.0",))].message
    assert "would be VF 4 of eth3" in missing and "old-vf" in missing
    # re-enabling a non-zero count goes through 0: it destroys the VFs running guests hold (issue 11)
    assert "only after 0 is written, which destroys all" in missing and "shut those down first" in missing
    inactive = by[(K.POOL_INACTIVE, "pool-off", ())].message
    assert "network 'pool-off' is not active" in inactive and "autostart" in inactive
    idle = by[(K.VFIO_UNUSED, None, ("0000:02:10.7",))].message
    assert "vfio-pci" in idle and "pci_0000_02_10_7" in idle


# --------------------------------------------------------------------------- hand-built inventories


def _guest(name, active, uses=(), autostart=False, errors=()):
    return Guest(name=name, uuid=f"uuid-{name}", state="running" if active else "shut off",
                 active=active, persistent=True, autostart=autostart,
                 vf_uses=tuple(VfUse(guest=name, guest_uuid=f"uuid-{name}", kind=k, pci=a,
                                     active=active, network=n) for k, a, n in uses),
                 errors=tuple(errors))


def _pool(name, pfs=("eth3",), addresses=(), active=True, vf_pcis=(), capacity=None, in_use=0,
          free=None, managed=True, autostart=True, persistent=True):
    return Pool(name=name, uuid="u", pfs=pfs, addresses=addresses, active=active,
                autostart=autostart, persistent=persistent, managed=managed, capacity=capacity,
                in_use=in_use, free=free, vf_pcis=vf_pcis)


def test_stale_pool_misses_newer_vfs():
    host = holders_host()  # eth3 has 02:10.0 .2 .4 .6 now
    live = ("0000:02:10.0", "0000:02:10.2")  # started when eth3 had 2 VFs
    pool = _pool("p", addresses=live, vf_pcis=live, capacity=2, free=2)
    (p,) = [x for x in find_problems(host, [], [pool]) if x.kind is K.POOL_STALE]
    assert p.severity == "warning" and p.pcis == ("0000:02:10.4", "0000:02:10.6")
    assert "Restart the pool" in p.message and "2 newer VFs" in p.message


def test_stale_pool_with_vanished_vfs_is_an_error():
    host = holders_host()
    live = ("0000:02:10.0", "0000:02:10.2", "0000:02:10.4", "0000:02:10.6", "0000:02:11.0")
    pool = _pool("p", addresses=live, vf_pcis=live, capacity=5, free=5)
    (p,) = [x for x in find_problems(host, [], [pool]) if x.kind is K.POOL_STALE]
    assert p.severity == "error" and p.pcis == ("0000:02:11.0",) and "no longer exist" in p.message


def test_duplicate_vf_neither_running():
    g = [_guest(n, False, [(UseKind.HOSTDEV, "0000:02:10.6", None)]) for n in ("b", "a")]
    (p,) = [x for x in find_problems(holders_host(), g, []) if x.kind is K.VF_MULTIPLE_GUESTS]
    assert p.severity == "warning" and p.guests == ("b", "a")
    assert "whichever starts second fails" in p.message


def test_known_pool_vf_of_a_running_guest_is_held_not_idle():
    host = holders_host()
    eth3 = tuple(vf.pci for vf in host.pf("eth3").vfs)
    pool = _pool("p", vf_pcis=eth3, capacity=4, in_use=1, free=3)
    app = _guest("app", True, [(UseKind.POOL, "0000:02:10.6", "p")])
    idle = [x for x in find_problems(host, [app], [pool]) if x.kind is K.VFIO_UNUSED and x.pf == "eth3"]
    # the other vfio-pci VFs of eth3 are idle (one problem for the PF), 02:10.6 is held
    assert len(idle) == 1 and "0000:02:10.6" not in idle[0].pcis
    assert idle[0].pcis == ("0000:02:10.0", "0000:02:10.2", "0000:02:10.4")


def test_unmanaged_pool_vfs_are_expected_on_vfio():
    host = holders_host()
    eth4 = tuple(vf.pci for vf in host.pf("eth4").vfs)
    pool = _pool("p", pfs=("eth4",), vf_pcis=eth4, capacity=4, free=4, managed=False)
    probs = find_problems(host, [], [pool])
    assert not any(x.kind is K.VFIO_UNUSED and set(x.pcis) & set(eth4) for x in probs)


def test_active_pool_without_autostart_used_by_autostart_guests():
    g = _guest("boot-me", False, [(UseKind.POOL, None, "p")], autostart=True)
    host = holders_host()
    pool = _pool("p", vf_pcis=tuple(vf.pci for vf in host.pf("eth3").vfs), capacity=4, free=4,
                 autostart=False)
    (p,) = [x for x in find_problems(host, [g], [pool]) if x.kind is K.POOL_INACTIVE]
    assert p.severity == "warning" and "after a host reboot" in p.message and p.guests == ("boot-me",)


def test_guest_xml_error():
    g = _guest("weird", False, errors=("malformed domain XML: oops",))
    (p,) = [x for x in find_problems(holders_host(), [g], []) if x.kind is K.GUEST_XML_ERROR]
    assert p.kind is K.GUEST_XML_ERROR and p.guests == ("weird",) and "oops" in p.message


def test_exhausted_only_with_shut_off_guests():
    pool = _pool("p", addresses=("0000:02:10.3",), pfs=(), vf_pcis=("0000:02:10.3",), capacity=1,
                 in_use=1, free=0)
    running = _guest("r", True, [(UseKind.POOL, None, "p")])
    assert not [x for x in find_problems(holders_host(), [running], [pool]) if x.kind is K.POOL_EXHAUSTED]
    waiting = _guest("w", False, [(UseKind.POOL, None, "p")], autostart=True)
    (p,) = [x for x in find_problems(holders_host(), [running, waiting], [pool])
            if x.kind is K.POOL_EXHAUSTED]
    assert p.severity == "error" and p.guests == ("w",) and "add VF addresses" in p.message


def test_pool_over_a_nic_without_sriov_is_not_called_missing():
    host = Host(pfs=(), netdevs=frozenset({"eth0", "lo"}))
    probs = find_problems(host, [_guest("g", False, [(UseKind.POOL, None, "p")])],
                          [_pool("p", pfs=("eth0",), active=False), _pool("q", pfs=("enp99s0f0",), active=False)])
    kinds = {(p.kind, p.pool) for p in probs}
    assert (ProblemKind.POOL_PF_NOT_SRIOV, "p") in kinds and (ProblemKind.POOL_PF_MISSING, "q") in kinds
    not_sriov = next(p for p in probs if p.kind is ProblemKind.POOL_PF_NOT_SRIOV)
    assert "not an SR-IOV PF" in not_sriov.message and "No usable Vf's present on SRIOV PF eth0" in not_sriov.message


def test_vfs_without_iommu_groups_mean_no_iommu():
    def host(groups):
        vfs = tuple(VF(i, f"0000:03:10.{i}", "0000:03:00.0", "vfio-pci", None, g) for i, g in enumerate(groups))
        pf = PF("0000:03:00.0", ("eth3",), "ixgbe", "8086", "10fb", "Intel", "82599", 0, 8, len(vfs), "up", vfs)
        return Host(pfs=(pf,))

    users = [_guest("g", True, [(UseKind.HOSTDEV, "0000:03:10.0", None)])]
    none = [p for p in find_problems(host([None, None]), users, []) if p.kind is ProblemKind.HOST_NO_IOMMU]
    assert len(none) == 1 and none[0].severity == "error"
    assert "intel_iommu=on" in none[0].message and "host doesn't support passthrough of host PCI devices" in none[0].message
    assert not [p for p in find_problems(host([7, None]), users, []) if p.kind is ProblemKind.HOST_NO_IOMMU]


def test_an_interface_on_a_network_that_does_not_exist():
    g = Guest(name="lost", uuid="u", state="shut off", active=False, persistent=True, autostart=True,
              missing_networks=("gone-net",))
    probs = [p for p in find_problems(Host(), [g], [])
             if p.kind is ProblemKind.GUEST_NETWORK_MISSING]
    assert len(probs) == 1 and probs[0].severity == "error" and probs[0].guests == ("lost",)
    assert "no network with matching name 'gone-net'" in probs[0].message
