"""read_libvirt against the real libvirt test driver (tests/data/nodes/holders.xml + _scan_host).

The test driver has no network ports and allocates no VF to a pool guest (its live XML keeps
type='network'), so "which VF did the running pool guest get" is tested at parser level below
(match_live_interfaces on live XML in the shape real libvirt prints). Failures the test driver
cannot produce (a domain vanishing between list and read, unreadable XML) are INJECTED by thin
wrappers around the real connection, and named so.
"""

from __future__ import annotations

import libvirt
import pytest
from _scan_host import HOLDERS_URI, holders_host

from vfpool_tui.core.model import UseKind
from vfpool_tui.core.virt import domain_xml, network_xml
from vfpool_tui.core.virt.connection import open_connection
from vfpool_tui.core.virt.inventory import (
    HostIndex,
    _PortIndex,
    match_live_interfaces,
    pool_members,
    read_libvirt,
)


@pytest.fixture
def conn():
    c = open_connection(HOLDERS_URI, readonly=False)  # applies the node's <vfpool:state>
    yield c
    c.close()


def guests_by_name(inv):
    return {g.name: g for g in inv.guests}


def test_every_guest_sorted_with_state_persistence_autostart(conn):
    inv = read_libvirt(conn, holders_host())
    names = [g.name for g in inv.guests]
    assert names == sorted(names)
    assert len(names) == 14
    g = guests_by_name(inv)
    assert (g["web1"].state, g["web1"].active) == ("running", True)
    assert (g["db1"].state, g["db1"].active) == ("shut off", False)
    assert (g["list-b"].state, g["list-b"].active) == ("paused", True)
    assert all(x.persistent for x in inv.guests)
    assert not any(x.autostart for x in inv.guests)
    assert g["web1"].uuid == "aaaaaaaa-0000-0000-0000-000000000001"
    assert inv.errors == ()


def test_autostart_read_from_libvirt(conn):
    conn.lookupByName("db1").setAutostart(1)
    g = guests_by_name(read_libvirt(conn, holders_host()))
    assert g["db1"].autostart is True and g["web1"].autostart is False


def test_guest_with_vfs_from_two_pfs(conn):
    web1 = guests_by_name(read_libvirt(conn, holders_host()))["web1"]
    kinds = [(u.kind, u.pci) for u in web1.vf_uses]
    # the NAT network interface is not a VF use
    assert sorted(kinds) == sorted([(UseKind.HOSTDEV, "0000:02:10.0"),
                                    (UseKind.INTERFACE_HOSTDEV, "0000:02:10.1")])
    ih = next(u for u in web1.vf_uses if u.kind is UseKind.INTERFACE_HOSTDEV)
    assert ih.mac == "52:54:00:aa:00:01"  # lower case although the node says AA
    assert ih.vlan == (42,)
    assert ih.boot_order == 1
    assert ih.alias == "ua-sriov0"
    assert ih.guest_address == "0000:01:00.0"
    assert ih.managed is True
    assert ih.pci_source == "config" and ih.active
    assert ih.xml.startswith("<interface") and "ua-sriov0" in ih.xml
    assert web1.other_pci_hostdevs == ()


def test_pool_interfaces_running_vf_unknown_shut_off_none(conn):
    g = guests_by_name(read_libvirt(conn, holders_host()))
    (app,) = g["app1"].vf_uses
    assert (app.kind, app.network, app.active) == (UseKind.POOL, "pool-eth3", True)
    # the test driver gives the guest no VF: unknown, never a guess
    assert app.pci is None and app.pci_source is None
    (db,) = g["db1"].vf_uses
    assert (db.kind, db.network, db.active, db.pci) == (UseKind.POOL, "pool-eth3", False, None)


def test_gpu_and_unknown_absent_device_are_not_vf_holders(conn):
    gpu = guests_by_name(read_libvirt(conn, holders_host()))["gpu-vm"]
    assert gpu.vf_uses == ()
    assert gpu.other_pci_hostdevs == ("0000:81:00.0", "0000:99:00.0")


def test_absent_address_in_a_pf_vf_range_is_a_vf_use(conn):
    old = guests_by_name(read_libvirt(conn, holders_host()))["old-vf"]
    assert [(u.kind, u.pci) for u in old.vf_uses] == [(UseKind.HOSTDEV, "0000:02:11.0")]


def test_odd_names_kept_verbatim(conn):
    g = guests_by_name(read_libvirt(conn, holders_host()))
    assert "[bold]x[red]" in g
    assert "gäst \"ü\" 'q' spaced" in g
    assert g["[bold]x[red]"].vf_uses[0].guest == "[bold]x[red]"


def test_transient_guest(conn):
    conn.createXML(
        "<domain type='test'><name>tmp guest</name><memory>1024</memory><os><type>hvm</type></os>"
        "<devices><interface type='hostdev' managed='yes'><mac address='52:54:00:aa:00:99'/>"
        "<source><address type='pci' domain='0x0000' bus='0x02' slot='0x10' function='0x6'/>"
        "</source></interface></devices></domain>", 0)
    t = guests_by_name(read_libvirt(conn, holders_host()))["tmp guest"]
    assert (t.persistent, t.autostart, t.state, t.active) == (False, False, "running", True)
    assert [(u.kind, u.pci) for u in t.vf_uses] == [(UseKind.INTERFACE_HOSTDEV, "0000:02:10.6")]


def test_pools(conn):
    inv = read_libvirt(conn, holders_host())
    pools = {p.name: p for p in inv.pools}
    assert list(pools) == ["pool-eth3", "pool-gone", "pool-list", "pool-novfs", "pool-off"]  # no NAT
    eth3 = pools["pool-eth3"]
    assert (eth3.pfs, eth3.active, eth3.autostart, eth3.persistent, eth3.managed) == (
        ("eth3",), True, True, True, True)
    # the test driver lists no live addresses for an active PF pool: the PF's VFs
    assert eth3.vf_pcis == ("0000:02:10.0", "0000:02:10.2", "0000:02:10.4", "0000:02:10.6")
    # app1 in use; web1, [bold]x[red], pinned hard-code 02:10.0, .2, .4 while running
    assert (eth3.capacity, eth3.in_use, eth3.blocked, eth3.free) == (4, 1, 3, 0)
    lst = pools["pool-list"]
    assert lst.addresses == ("0000:02:10.3", "0000:02:10.5")
    assert (lst.capacity, lst.in_use, lst.blocked, lst.free) == (2, 2, 0, 0)  # running + paused
    gone = pools["pool-gone"]
    assert (gone.active, gone.capacity, gone.free) == (False, None, None)
    assert (pools["pool-novfs"].capacity, pools["pool-novfs"].autostart) == (0, True)
    off = pools["pool-off"]  # inactive: capacity from the PF's VFs in sysfs
    assert (off.active, off.capacity, off.in_use, off.blocked, off.free) == (False, 4, 0, 1, 3)
    assert off.connections is None


def test_pool_members_active_uses_the_live_list():
    host = holders_host()
    live = network_xml.parse_network(
        "<network connections='1'><name>p</name><forward mode='hostdev' managed='yes'>"
        "<pf dev='eth3'/><address type='pci' domain='0x0000' bus='0x02' slot='0x10' function='0x0'/>"
        "<address type='pci' domain='0x0000' bus='0x02' slot='0x10' function='0x2'/></forward></network>")
    hx = HostIndex.of(host)
    assert pool_members(live, True, hx) == (("0000:02:10.0", "0000:02:10.2"), True)
    # the same XML read as inactive: what net-start would build now, from the PF
    assert pool_members(live, False, hx)[0] == tuple(vf.pci for vf in host.pf("eth3").vfs)


def test_each_xml_read_once_live_only_for_running_pool_guests(conn):
    inv = read_libvirt(conn, holders_host())
    assert inv.stats["XMLDesc-inactive"] == 14
    assert inv.stats["XMLDesc-live"] == 3  # app1, list-a, list-b (no ports in the test driver)
    assert "state" not in inv.stats  # states came from the filtered listAllDomains calls


def test_ports_unsupported_by_the_test_driver_fall_back(conn):
    nets = {n.name(): n for n in conn.listAllNetworks(0)}

    class N:  # what read_libvirt keeps per network
        def __init__(self, h):
            self.handle, self.active = h, bool(h.isActive())

    ports = _PortIndex({"pool-eth3": N(nets["pool-eth3"])}, {})
    assert ports.lookup("pool-eth3", "aaaaaaaa-0000-0000-0000-000000000002", "52:54:00:aa:00:03") is None
    assert ports.supported is False  # VIR_ERR_NO_SUPPORT: the live XML is used instead


class _InjectedConn:
    """The real connection, with listAllDomains changed by the test (INJECTED)."""

    def __init__(self, real, after_list=None, wrap=None):
        self._real, self._after_list, self._wrap = real, after_list, wrap

    def __getattr__(self, name):
        return getattr(self._real, name)

    def listAllDomains(self, flags=0):
        doms = self._real.listAllDomains(flags)
        if flags == 0:
            if self._after_list:
                self._after_list(self._real)
            if self._wrap:
                doms = [self._wrap(d) for d in doms]
        return doms


def test_definitions_read_side_by_side_give_what_one_by_one_gives(conn, monkeypatch):
    # the 14 definitions are read by READ_THREADS threads (a round trip each on a real libvirtd);
    # with more threads asked for than half the guests, each is read in turn as before
    import threading

    from vfpool_tui.core.virt import inventory

    readers: set[str] = set()

    class Watched(inventory.ThreadPoolExecutor):  # the real pool, noting which threads read
        def map(self, fn, *iterables, **kw):
            def noted(*args):
                readers.add(threading.current_thread().name)
                return fn(*args)
            return super().map(noted, *iterables, **kw)

    monkeypatch.setattr(inventory, "ThreadPoolExecutor", Watched)
    threads = read_libvirt(conn, holders_host())
    assert readers and all(r.startswith("vfpool-read") for r in readers)  # read by the pool
    readers.clear()
    monkeypatch.setattr(inventory, "READ_THREADS", 100)
    one_by_one = read_libvirt(conn, holders_host())
    assert threads.guests == one_by_one.guests and threads.pools == one_by_one.pools
    assert not readers  # no pool: each read in turn
    assert threads.stats == one_by_one.stats and threads.stats["XMLDesc-inactive"] == 14


def test_a_host_given_as_a_callable_is_asked_for_once_libvirt_is_read(conn):
    # the TUI hands the first discovery over this way, so that it overlaps the reads; a guest
    # defined when the host is asked for came after the read, and is not in it
    from vfpool_tui.core.virt.inventory import LiveInventory

    asked = []

    def host_later():
        asked.append(1)
        conn.defineXML("<domain type='test'><name>came-later</name><memory>1024</memory>"
                       "<os><type>hvm</type></os></domain>")
        return holders_host()

    inv = LiveInventory(conn, host_later)
    assert asked == [1]
    assert inv.host == holders_host()
    names = {g.name for g in inv.inventory().guests}
    assert "came-later" not in names and len(names) == 14
    # classified against that host as a Host given outright is
    again = [g for g in read_libvirt(conn, holders_host()).guests if g.name != "came-later"]
    assert list(inv.inventory().guests) == again


def test_domain_vanishing_mid_scan_is_skipped(conn):
    # INJECTED timing: db1 is undefined right after the domain list was taken; libvirt itself
    # then raises VIR_ERR_NO_DOMAIN for the stale handle.
    inv = read_libvirt(_InjectedConn(conn, after_list=lambda c: c.lookupByName("db1").undefine()),
                       holders_host())
    names = [g.name for g in inv.guests]
    assert "db1" not in names and len(names) == 13


class _BrokenXmlDomain:
    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def XMLDesc(self, flags=0):
        return "<domain><name>pinned</name><devices><hostdev"  # INJECTED: truncated XML


def test_unparseable_xml_becomes_a_guest_with_errors(conn):
    wrap = lambda d: _BrokenXmlDomain(d) if d.name() == "pinned" else d  # noqa: E731
    inv = read_libvirt(_InjectedConn(conn, wrap=wrap), holders_host())
    pinned = guests_by_name(inv)["pinned"]
    assert pinned.vf_uses == () and pinned.state == "running"
    assert len(pinned.errors) == 1 and "malformed domain XML" in pinned.errors[0]


def test_xml_read_error_becomes_a_guest_error(conn):
    class Refusing(_BrokenXmlDomain):
        def XMLDesc(self, flags=0):  # INJECTED: libvirt refusing to give the XML
            raise libvirt.libvirtError("XMLDesc refused (injected)")

    wrap = lambda d: Refusing(d) if d.name() == "db1" else d  # noqa: E731
    db1 = guests_by_name(read_libvirt(_InjectedConn(conn, wrap=wrap), holders_host()))["db1"]
    assert db1.vf_uses == () and db1.errors and "cannot read the guest's XML" in db1.errors[0]


# --------------------------------------------------------------------------- parser level: the VF a
# running pool guest got. The test driver cannot produce this live XML (no VF allocation), so the
# matching runs on the shape real libvirt prints (LIBVIRT-FACTS.md).

INACTIVE_POOL_GUEST = """<domain type='kvm'>
  <name>app1</name>
  <uuid>aaaaaaaa-0000-0000-0000-000000000002</uuid>
  <devices>
    <interface type='network'>
      <mac address='52:54:00:6d:90:02'/>
      <source network='passthrough'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </interface>
    <interface type='network'>
      <mac address='52:54:00:6d:90:03'/>
      <source network='passthrough'/>
      <alias name='ua-second'/>
    </interface>
    <interface type='hostdev' managed='yes'>
      <mac address='52:54:00:6d:90:09'/>
      <source>
        <address type='pci' domain='0x0000' bus='0x02' slot='0x10' function='0x7'/>
      </source>
    </interface>
  </devices>
</domain>
"""

LIVE_POOL_GUEST = """<domain type='kvm' id='7'>
  <name>app1</name>
  <uuid>aaaaaaaa-0000-0000-0000-000000000002</uuid>
  <devices>
    <interface type='hostdev' managed='yes'>
      <mac address='52:54:00:6d:90:02'/>
      <driver name='vfio'/>
      <source>
        <address type='pci' domain='0x0000' bus='0x02' slot='0x10' function='0x3'/>
      </source>
      <alias name='hostdev0'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </interface>
    <interface type='hostdev' managed='yes'>
      <mac address='52:54:00:6d:90:ff'/>
      <driver name='vfio'/>
      <source>
        <address type='pci' domain='0x0000' bus='0x02' slot='0x10' function='0x5'/>
      </source>
      <alias name='ua-second'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x01' function='0x0'/>
    </interface>
    <interface type='hostdev' managed='yes'>
      <mac address='52:54:00:6d:90:09'/>
      <driver name='vfio'/>
      <source>
        <address type='pci' domain='0x0000' bus='0x02' slot='0x10' function='0x7'/>
      </source>
      <alias name='hostdev1'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x02' function='0x0'/>
    </interface>
  </devices>
</domain>
"""


def test_running_pool_guest_vf_from_live_xml_by_mac_then_alias():
    parsed = domain_xml.parse_domain(INACTIVE_POOL_GUEST)
    pool_refs = [r for r in parsed.devices if r.kind == domain_xml.INTERFACE_NETWORK]
    hard = {r.source_pci for r in parsed.devices if r.source_pci}
    got = match_live_interfaces(pool_refs, domain_xml.live_hostdev_interfaces(LIVE_POOL_GUEST), hard)
    # first by MAC; the second by its user alias (its MAC differs in this sample)
    assert got == {pool_refs[0].position: "0000:02:10.3", pool_refs[1].position: "0000:02:10.5"}
    assert "0000:02:10.7" not in got.values()  # the guest's own hard-coded VF is never a pool VF


def test_running_pool_guest_without_a_match_stays_unknown():
    parsed = domain_xml.parse_domain(INACTIVE_POOL_GUEST)
    pool_refs = [r for r in parsed.devices if r.kind == domain_xml.INTERFACE_NETWORK]
    live_test_driver = INACTIVE_POOL_GUEST  # the test driver: the live XML keeps type='network'
    assert match_live_interfaces(pool_refs, domain_xml.live_hostdev_interfaces(live_test_driver),
                                 set()) == {}
