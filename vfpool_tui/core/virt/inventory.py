"""Who holds which VF, as libvirt sees it: every guest's VF devices and every hostdev pool.

``read_libvirt(conn, host)`` reads all guests (running or not) and all networks once and classifies:

- ``<hostdev type='pci'>`` is a VF use when its source is a VF on the host, or an absent address in
  some PF's possible VF range (a VF that no longer exists); any other PCI hostdev (GPU, HBA, an
  unknown absent device) goes to ``Guest.other_pci_hostdevs`` and never holds a VF;
- ``<interface type='hostdev'>`` is always a VF use;
- ``<interface type='network'>`` is a pool use when that network is in ``forward mode='hostdev'``.

Devices are classified from the INACTIVE XML (the live XML of a running pool guest shows its pool
interface as a hard-coded hostdev, LIBVIRT-FACTS.md). The VF a running pool guest actually got
comes from the network ports, else from its live XML matched by MAC (then alias); when neither
tells, it is ``None`` ("unknown"), never a guess.

Cost: one ``listAllDomains`` per state/flag filter instead of three calls per guest, the inactive
XML once per guest, the live XML only for running guests with pool interfaces that the ports did
not resolve, and dict indexes everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import libvirt

from vfpool_tui.core import capacity
from vfpool_tui.core.model import PF, Guest, Host, Pool, UseKind, VfUse
from vfpool_tui.core.virt import domain_xml, fingerprint, network_xml, xmlutil
from vfpool_tui.core.virt.connection import describe, error_code, silence_libvirt_stderr

# virDomainState -> what virsh prints (``virsh domstate``), minus "in " / "idle" oddities
STATE_NAMES = {
    libvirt.VIR_DOMAIN_NOSTATE: "no state",
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "blocked",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutdown",
    libvirt.VIR_DOMAIN_SHUTOFF: "shut off",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "pmsuspended",
}

HARD_CODED = (UseKind.HOSTDEV, UseKind.INTERFACE_HOSTDEV)


@dataclass(frozen=True)
class LibvirtInventory:
    guests: tuple[Guest, ...] = ()
    pools: tuple[Pool, ...] = ()
    errors: tuple[str, ...] = ()  # plain-language problems reading libvirt (not per guest)
    # calls made, for tests and benchmarks: {"XMLDesc-inactive": n, "XMLDesc-live": n, ...}
    stats: dict = field(default_factory=dict, compare=False)


# --------------------------------------------------------------------------- host indexes


@dataclass(frozen=True)
class HostIndex:
    """Dict look-ups over a Host, built once per scan."""

    vfs: dict  # VF pci -> VF
    vf_pf: dict  # VF pci -> PF (present VFs)
    possible: dict  # possible VF address (from offset/stride) -> PF
    pfs: dict  # PF pci and every PF netdev name -> PF
    present: frozenset  # every PCI address known to be on the host
    vf_netdevs: dict  # a VF's host netdev name -> VF pci

    @classmethod
    def of(cls, host: Host) -> HostIndex:
        vfs, vf_pf, possible, pfs, vf_netdevs = {}, {}, {}, {}, {}
        for pf in host.pfs:
            pfs.setdefault(pf.pci, pf)
            for dev in pf.netdevs:
                pfs.setdefault(dev, pf)
            for addr in pf.possible_vf_addresses():
                possible.setdefault(addr, pf)
            for vf in pf.vfs:
                vfs[vf.pci] = vf
                vf_pf[vf.pci] = pf
                if vf.netdev:
                    vf_netdevs[vf.netdev] = vf.pci
        present = frozenset(host.pci_devices) | frozenset(vfs) | frozenset(p.pci for p in host.pfs)
        return cls(vfs=vfs, vf_pf=vf_pf, possible=possible, pfs=pfs, present=present,
                   vf_netdevs=vf_netdevs)

    def pf(self, key: str) -> PF | None:
        return self.pfs.get(key)

    def is_vf(self, address: str) -> bool:
        """A VF on the host, or an absent address where some PF's VF would be."""
        if address in self.vfs:
            return True
        return address not in self.present and address in self.possible


# --------------------------------------------------------------------------- reading libvirt


@dataclass
class _Net:
    handle: object
    info: network_xml.NetworkInfo
    xml: str
    active: bool
    persistent: bool
    autostart: bool


@dataclass
class _Dom:
    handle: object
    name: str
    uuid: str
    state: str
    active: bool
    persistent: bool
    autostart: bool | None
    parsed: domain_xml.ParsedDomain | None
    errors: list[str]
    xml: str | None = None  # as read (the inactive XML of a persistent guest)


def _ignorable(err: libvirt.libvirtError, *codes: int) -> bool:
    return error_code(err) in codes


def _uuid_set(conn, flag: int) -> set[str] | None:
    try:
        return {d.UUIDString() for d in conn.listAllDomains(flag)}
    except libvirt.libvirtError:
        return None  # a driver without this filter: ask each domain instead


def _read_networks(conn, errors: list[str], stats: dict, names: set[str] | None = None,
                   read: list | None = None) -> list[_Net]:
    """The networks (``names`` gets every network's name, also of those that cannot be read;
    ``read`` what was read of each, parsed or not: (UUID, flags, XML) for the digest)."""
    out = []
    for net in conn.listAllNetworks(0):
        try:
            name = net.name()
            if names is not None:
                names.add(name)
            xml = net.XMLDesc(0)  # active: the live pool address list; inactive: the config
            stats["net-XMLDesc"] = stats.get("net-XMLDesc", 0) + 1
            active = bool(net.isActive())
            persistent = bool(net.isPersistent())
            autostart = bool(net.autostart()) if persistent else False
        except libvirt.libvirtError as err:
            if _ignorable(err, libvirt.VIR_ERR_NO_NETWORK):
                continue  # undefined while we looked
            errors.append(f"cannot read network {_safe_name(net)}: {describe(err)}")
            continue
        if read is not None:
            read.append((net.UUIDString(), (active, persistent, autostart), xml))
        try:
            info = network_xml.parse_network(xml)
        except xmlutil.XmlError as err:
            errors.append(f"cannot read the XML of network {name}: {err}")
            continue
        out.append(_Net(net, info, xml, active, persistent, autostart))
    return out


def _safe_name(obj) -> str:
    try:
        return obj.name()
    except libvirt.libvirtError:
        return "?"


def _read_domains(conn, stats: dict) -> tuple[list[_Dom], dict[str, set[str]]]:
    """Every domain, and the bulk listings read for them (``fingerprint.DOMAIN_SETS``' names)."""
    domains = conn.listAllDomains(0)
    stats["domains"] = len(domains)
    sets = {label: _uuid_set(conn, getattr(libvirt, flag)) for label, flag in fingerprint.DOMAIN_SETS}
    out = []
    for dom, xml in zip(domains, _inactive_xmls(domains, stats)):
        d = _read_domain(dom, stats, sets["running"], sets["paused"], sets["shutoff"], sets["persistent"],
                         sets["autostart"], read=xml)
        if d is not None:
            out.append(d)
    return out, sets


# Every guest's definition is read by this many threads at once. Each XMLDesc is a round trip to
# libvirtd, and each returns to Python through the interpreter lock: one thread alone waits for
# that lock after every call while the UI computes (a 500-guest scan took 460 ms beside Textual's
# start-up, 230 ms alone); a few threads take turns at it. libvirtd serves five calls of one client
# at a time by default (max_client_requests): four leave one for whatever else is asked meanwhile.
READ_THREADS = 4


def _inactive_xmls(domains: list, stats: dict) -> list[str | None]:
    """Every domain's inactive XML, read side by side (``READ_THREADS``); None where the call
    failed (``_read_domain`` asks that domain again, alone, and handles the error as it does)."""
    if len(domains) < 2 * READ_THREADS:
        return [None] * len(domains)

    def one(dom) -> str | None:
        try:
            return dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        except libvirt.libvirtError:
            return None

    with ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="vfpool-read") as pool:
        xmls = list(pool.map(one, domains))
    read = sum(x is not None for x in xmls)
    stats["XMLDesc-inactive"] = stats.get("XMLDesc-inactive", 0) + read
    return xmls


def _read_domain(dom, stats: dict, running=None, paused=None, shutoff=None, persistent_set=None,
                 autostart_set=None, read: str | None = None) -> _Dom | None:
    """One domain: its state, flags and parsed inactive XML; None when it vanished meanwhile.
    The sets (from the bulk listing) save a call per guest; without them each is asked. ``read``:
    its inactive XML when already read (``_inactive_xmls``)."""
    try:
        uuid = dom.UUIDString()
        name = dom.name()
        if running is not None and uuid in running:
            code = libvirt.VIR_DOMAIN_RUNNING
        elif paused is not None and uuid in paused:
            code = libvirt.VIR_DOMAIN_PAUSED
        elif shutoff is not None and uuid in shutoff:
            code = libvirt.VIR_DOMAIN_SHUTOFF
        else:  # crashed, pmsuspended, ... or a driver without filters
            code = dom.state()[0]
            stats["state"] = stats.get("state", 0) + 1
        if persistent_set is not None:
            persistent = uuid in persistent_set
        else:
            persistent = bool(dom.isPersistent())
        if not persistent:
            autostart = False  # a transient guest cannot autostart
        elif autostart_set is not None:
            autostart = uuid in autostart_set
        else:
            autostart = bool(dom.autostart())
        xml, why = (read, None) if read is not None else _inactive_xml(dom, persistent, stats)
    except libvirt.libvirtError as err:
        if _ignorable(err, libvirt.VIR_ERR_NO_DOMAIN):
            return None  # undefined (or a transient guest stopped) while we looked
        raise
    state = STATE_NAMES.get(code, "no state")
    d = _Dom(dom, name, uuid, state, code != libvirt.VIR_DOMAIN_SHUTOFF, persistent, autostart,
             None, [], xml)
    if xml is None:
        d.errors.append(why or "cannot read the guest's XML")
    else:
        try:
            d.parsed = domain_xml.parse_domain(xml)
            d.errors.extend(d.parsed.problems)
        except xmlutil.XmlError as err:
            d.errors.append(str(err))
    return d


def _inactive_xml(dom, persistent: bool, stats: dict) -> tuple[str | None, str | None]:
    """(XML, None) or (None, why): the guest's configuration, read once.

    The inactive XML shows a pool interface as configured (``type='network'``), also for a
    transient guest. Only for a transient guest whose driver refuses the flag is the live XML
    read instead: it is all there is. VIR_ERR_NO_DOMAIN propagates (the guest vanished).
    """
    try:
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        stats["XMLDesc-inactive"] = stats.get("XMLDesc-inactive", 0) + 1
        return xml, None
    except libvirt.libvirtError as err:
        if _ignorable(err, libvirt.VIR_ERR_NO_DOMAIN):
            raise
        first = describe(err)
    if not persistent:
        try:
            xml = dom.XMLDesc(0)
            stats["XMLDesc-live"] = stats.get("XMLDesc-live", 0) + 1
            return xml, None
        except libvirt.libvirtError as err:
            if _ignorable(err, libvirt.VIR_ERR_NO_DOMAIN):
                raise
    return None, f"cannot read the guest's XML: {first}"


# --------------------------------------------------------------------------- which VF a pool guest got


class _PortIndex:
    """(network, owner uuid, mac) -> VF address, from network ports; built on first use."""

    def __init__(self, nets: dict[str, _Net], stats: dict):
        self._nets = nets
        self._stats = stats
        self._index: dict[tuple[str, str, str], str] | None = None
        self.supported = True

    def lookup(self, network: str, owner_uuid: str, mac: str | None) -> str | None:
        if self._index is None:
            self._index = self._build()
        if mac is None:
            return None
        return self._index.get((network, owner_uuid.lower(), mac.lower()))

    def _build(self) -> dict[tuple[str, str, str], str]:
        index: dict[tuple[str, str, str], str] = {}
        for name, net in sorted(self._nets.items()):
            if not net.active or not self.supported:
                continue
            try:
                ports = net.handle.listAllPorts(0)
                self._stats["listAllPorts"] = self._stats.get("listAllPorts", 0) + 1
            except libvirt.libvirtError as err:
                if _ignorable(err, libvirt.VIR_ERR_NO_SUPPORT):
                    self.supported = False  # libvirt < 5.5, the test driver: use the live XML
                continue
            except AttributeError:  # bindings older than the API
                self.supported = False
                continue
            for port in ports:
                try:
                    info = network_xml.parse_network_port(port.XMLDesc(0))
                except (libvirt.libvirtError, xmlutil.XmlError, ValueError):
                    continue  # a port that went away, or that we cannot read: fall back per guest
                self._stats["port-XMLDesc"] = self._stats.get("port-XMLDesc", 0) + 1
                if info.host_pci and info.owner_uuid and info.mac:
                    index[(name, info.owner_uuid, info.mac)] = info.host_pci
        return index


def match_live_interfaces(
    wanted: list[domain_xml.DeviceRef],
    live: tuple[domain_xml.LiveHostdevInterface, ...],
    taken: set[str] = frozenset(),
) -> dict[int, str]:
    """Which host VF each pool interface (by ``position``) got, from the live hostdev interfaces.

    Matched by MAC, then by alias; a live interface is used at most once, and an address in
    ``taken`` (the guest's own hard-coded VFs) is never a pool VF. Unmatched -> absent (unknown).
    """
    by_mac: dict[str, list[domain_xml.LiveHostdevInterface]] = {}
    by_alias: dict[str, list[domain_xml.LiveHostdevInterface]] = {}
    for lv in live:
        if lv.host_pci in taken:
            continue
        if lv.mac:
            by_mac.setdefault(lv.mac.lower(), []).append(lv)
        if lv.alias:
            by_alias.setdefault(lv.alias, []).append(lv)
    used: set[str] = set()
    out: dict[int, str] = {}
    for ref in wanted:
        candidates = []
        if ref.mac:
            candidates = [lv for lv in by_mac.get(ref.mac.lower(), ()) if lv.host_pci not in used]
        if len(candidates) != 1 and ref.alias:
            candidates = [lv for lv in by_alias.get(ref.alias, ()) if lv.host_pci not in used]
        if len(candidates) == 1:
            out[ref.position] = candidates[0].host_pci
            used.add(candidates[0].host_pci)
    return out


# --------------------------------------------------------------------------- the inventory


def read_libvirt(conn, host: Host) -> LibvirtInventory:
    """Every guest and every hostdev pool, with the VFs they hold. Reads libvirt, changes nothing.
    (One ``LiveInventory``, read whole: the TUI keeps one to update by parts.)"""
    return LiveInventory(conn, host).inventory()


class LiveInventory:
    """``read_libvirt`` kept up to date piece by piece, for the TUI's events: a domain event re-reads
    that domain, a network event the networks, a host change re-classifies from the XML already
    read. ``inventory()`` equals what ``read_libvirt`` would read now (a test checks), without
    reading every guest again (on a 500-guest host one domain costs ~1/500 of a full read)."""

    def __init__(self, conn, host: Host | Callable[[], Host]) -> None:
        """``host``: the host's cards, or how to get them. A callable is called once libvirt has
        been read, so a discovery still running on another thread (the TUI's first one) overlaps
        the round trips to libvirtd instead of coming before them."""
        silence_libvirt_stderr()
        self.conn = conn
        self.stats: dict = {}
        doms, sets = _read_domains(conn, self.stats)
        self._doms = {d.uuid: d for d in doms}
        self._guests: dict[str, Guest] = {}
        self._fetch_networks()
        self.host = host() if callable(host) else host
        self._reclassify()
        # what this read saw, as the periodic reconcile digests libvirt (core/virt/fingerprint.py):
        # a change after any of these reads makes the next digest differ. None: a listing failed
        # (a driver without that filter), and there is nothing to compare with.
        self.read_digest = None if None in sets.values() else fingerprint.digest(
            sets, [(d.uuid, d.xml) for d in doms if d.uuid in sets["persistent"] and d.xml is not None],
            self._nets_read)

    def _fetch_networks(self) -> None:
        self._errors: list[str] = []
        self._known_nets: set[str] = set()
        self._nets_read: list = []
        self._nets = _read_networks(self.conn, self._errors, self.stats, self._known_nets, self._nets_read)
        self._pool_nets = {n.info.name: n for n in self._nets if n.info.is_hostdev_pool}

    def _reclassify(self, uuids=None) -> None:
        self._hx = HostIndex.of(self.host)
        ports = _PortIndex(self._pool_nets, self.stats)
        for uuid in (self._doms if uuids is None else uuids):
            d = self._doms.get(uuid)
            if d is None:
                self._guests.pop(uuid, None)
            else:
                self._guests[uuid] = _guest(d, self._hx, self._pool_nets, ports, self.stats, self._known_nets)

    def domain(self, uuid: str) -> None:
        """Re-read one domain (an event named it); gone from libvirt -> gone from here."""
        try:
            d = _read_domain(self.conn.lookupByUUIDString(uuid), self.stats)
        except libvirt.libvirtError as err:
            if not _ignorable(err, libvirt.VIR_ERR_NO_DOMAIN):
                raise
            d = None
        if d is None:
            self._doms.pop(uuid, None)
        else:
            self._doms[uuid] = d
        self._reclassify([uuid])

    def domain_named(self, name: str) -> None:
        """Re-read the domain an event named by name (events carry names; a name may be reused)."""
        try:
            uuid = self.conn.lookupByName(name).UUIDString()
        except libvirt.libvirtError as err:
            if not _ignorable(err, libvirt.VIR_ERR_NO_DOMAIN):
                raise
            for uuid in [u for u, d in self._doms.items() if d.name == name]:  # undefined: drop it
                self.domain(uuid)
            return
        for other in [u for u, d in self._doms.items() if d.name == name and u != uuid]:
            self.domain(other)  # the name now belongs to another guest
        self.domain(uuid)

    def networks(self) -> None:
        """Re-read the networks (a network event): every guest's pool interfaces are re-read."""
        self._fetch_networks()
        self._reclassify()

    def set_host(self, host: Host) -> None:
        """The host changed (udev): classify the guests' devices again, from the XML already read."""
        self.host = host
        self._reclassify()

    def inventory(self) -> LibvirtInventory:
        guests = sorted(self._guests.values(), key=lambda g: (g.name, g.uuid))
        pools = sorted((_pool(n, self._hx, guests) for n in self._pool_nets.values()), key=lambda p: p.name)
        return LibvirtInventory(guests=tuple(guests), pools=tuple(pools), errors=tuple(self._errors),
                                stats=dict(self.stats))


def _guest(d: _Dom, hx: HostIndex, pool_nets: dict[str, _Net], ports: _PortIndex,
           stats: dict, known_nets: set[str] | None = None) -> Guest:
    uses: list[VfUse] = []
    other: list[str] = []
    macvtap: list[str] = []
    errors = list(d.errors)
    refs = d.parsed.devices if d.parsed is not None else ()
    pool_refs = [r for r in refs if r.kind == domain_xml.INTERFACE_NETWORK and r.network in pool_nets]
    hard = {r.source_pci for r in refs if r.source_pci}

    got: dict[int, tuple[str, str]] = {}  # position -> (pci, source)
    if d.active and pool_refs:
        missing = []
        for ref in pool_refs:
            found = ports.lookup(ref.network, d.uuid, ref.mac) if ports.supported else None
            if found:
                got[ref.position] = (found, "port")
            else:
                missing.append(ref)
        if missing:
            try:
                live_xml = d.handle.XMLDesc(0)
                stats["XMLDesc-live"] = stats.get("XMLDesc-live", 0) + 1
                # no hostdev interface at all (libvirt's test driver keeps type='network'):
                # nothing to match, skip the parse
                if "type='hostdev'" in live_xml or 'type="hostdev"' in live_xml:
                    live = domain_xml.live_hostdev_interfaces(live_xml)
                else:
                    live = ()
            except libvirt.libvirtError as err:
                if not _ignorable(err, libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_OPERATION_INVALID):
                    errors.append(f"cannot read the running guest's XML: {describe(err)}")
                live = ()
            except xmlutil.XmlError as err:
                errors.append(str(err))
                live = ()
            for pos, addr in match_live_interfaces(missing, live, hard).items():
                got[pos] = (addr, "live-xml")

    for ref in refs:
        if ref.kind == domain_xml.HOSTDEV:
            if not hx.is_vf(ref.source_pci):
                other.append(ref.source_pci)
                continue
            uses.append(_use(d, ref, UseKind.HOSTDEV, ref.source_pci, "config"))
        elif ref.kind == domain_xml.INTERFACE_HOSTDEV:
            uses.append(_use(d, ref, UseKind.INTERFACE_HOSTDEV, ref.source_pci, "config"))
        elif ref.kind == domain_xml.INTERFACE_NETWORK and ref.network in pool_nets:
            addr, source = got.get(ref.position, (None, None))
            uses.append(_use(d, ref, UseKind.POOL, addr, source))
        elif ref.kind == domain_xml.INTERFACE_DIRECT:
            vf = hx.vf_netdevs.get(ref.source_dev)
            if vf is not None:
                macvtap.append(vf)
    return Guest(
        name=d.name,
        uuid=d.uuid,
        state=d.state,
        active=d.active,
        persistent=d.persistent,
        autostart=d.autostart,
        vf_uses=tuple(uses),
        other_pci_hostdevs=tuple(other),
        macvtap_vfs=tuple(dict.fromkeys(macvtap)),
        missing_networks=tuple(dict.fromkeys(
            r.network for r in refs if r.kind == domain_xml.INTERFACE_NETWORK and known_nets is not None
            and r.network not in known_nets)),
        errors=tuple(errors),
    )


def _use(d: _Dom, ref: domain_xml.DeviceRef, kind: UseKind, pci: str | None,
         source: str | None) -> VfUse:
    return VfUse(
        guest=d.name,
        guest_uuid=d.uuid,
        kind=kind,
        pci=pci,
        active=d.active,
        network=ref.network,
        mac=ref.mac,
        vlan=ref.vlan,
        alias=ref.alias,
        guest_address=ref.guest_address,
        boot_order=ref.boot_order,
        managed=ref.managed,
        pci_source=source,
        xml=ref.xml,
        unassigned=ref.unassigned,
    )


def pool_members(info: network_xml.NetworkInfo, active: bool, hx: HostIndex
                 ) -> tuple[tuple[str, ...], bool]:
    """(the VFs that make up the pool, whether that list is complete).

    Active pool: libvirt's live address list. Inactive pool over a PF: the PF's VFs now (what
    net-start will build); an explicit address list: that list. A PF not on the host: incomplete.
    An active PF pool whose live XML lists no address (libvirt's test driver, which builds no pool)
    is read like an inactive one.
    """
    if info.addresses and (active or not info.pf_devs):
        return info.addresses, True
    members: list[str] = []
    complete = True
    for dev in info.pf_devs:
        pf = hx.pf(dev)
        if pf is None:
            complete = False
            continue
        members.extend(vf.pci for vf in pf.vfs)
    return tuple(members), complete


def _pool(net: _Net, hx: HostIndex, guests: list[Guest]) -> Pool:
    info = net.info
    members, complete = pool_members(info, net.active, hx)
    counts = capacity.pool_counts(info.name, members, complete, guests)
    return Pool(
        name=info.name,
        uuid=info.uuid,
        pfs=info.pf_devs,
        addresses=info.addresses,
        active=net.active,
        autostart=net.autostart,
        persistent=net.persistent,
        managed=info.managed,
        capacity=counts.size,
        in_use=counts.in_use,
        free=counts.free,
        blocked=counts.blocked,
        unknown=counts.unknown,
        connections=info.connections,
        vf_pcis=members,
        vlan=info.vlan,
        xml=net.xml,
    )
