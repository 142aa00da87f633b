"""One look at the host and libvirt: ``scan()`` -> ``Scan``; ``scan_to_json()`` -> what ``scan --json`` prints.

JSON contract (every PCI address ``dddd:bb:ss.f``, lower case; ``null`` = unknown):

- ``uri``, ``discovery`` (``udev``: this machine's sysfs; ``libvirt``: the node-device API of the
  host behind the URI), ``readonly``, ``host_errors``, ``libvirt_errors``
- ``pfs``: ``{name, pci, driver, totalvfs, numvfs, model, vendor, vendor_id, device_id, numa_node,
  link, netdevs, representors, eswitch_mode, counts, vfs}``; ``counts`` is ``{enabled, total,
  hard_coded, pooled, pool_held, pool_unknown, pool_free, unpooled, free_min, free_max,
  held_unknown_min, held_unknown_max}`` (``core.capacity``: hard_coded + pooled + unpooled = the
  VFs; free is a range only when a pool spans PFs and libvirt does not say which VF a guest holds);
  each VF ``{index, pci, driver, netdev, iommu_group, mac, vlan, spoofchk, trust, holders,
  occupancy, may_be_held_by}`` with occupancy ``free`` | ``pool-free`` | ``pool-held`` |
  ``pool-unknown`` (a running pool guest may hold it: ``may_be_held_by`` names them) |
  ``hard-coded``; each holder ``{guest, kind, active, network, mac}`` with kind ``hostdev`` |
  ``interface-hostdev`` | ``pool``. Holders are the hard-coded uses of every guest (active = the
  guest runs) and the pool uses of running guests whose VF is known.
- ``pools``: ``{name, uuid, pfs, active, autostart, persistent, managed, capacity, in_use, blocked,
  free, unknown, connections, vfs}``: in_use + blocked + free = capacity (unless over-subscribed);
  unknown = how many of in_use hold a VF libvirt does not name
- ``guests``: ``{name, uuid, state, active, persistent, autostart, vf_devices, other_pci_hostdevs,
  errors}``; each vf device ``{kind, pci, pci_source, network, mac, vlan, alias, guest_address,
  boot_order, managed}``
- ``problems``: ``{kind, severity, message, pcis, guests, pool, pf}``; ``problem_count``:
  ``{error, warning, info, total}`` (the number the TUI's header shows)
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Callable

from vfpool_tui.core.capacity import Figures
from vfpool_tui.core.model import Host, Scan, UseKind

HARD_CODED = (UseKind.HOSTDEV, UseKind.INTERFACE_HOSTDEV)


@contextlib.contextmanager
def _quiet_stderr():
    """libvirt's own libxml2 prints parse warnings for a bad ``test:///file`` straight to fd 2;
    the error that follows says it all, so keep that noise off the user's terminal."""
    try:
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def open_quietly(uri: str | None, readonly: bool | None):
    from vfpool_tui.core.virt.connection import open_connection

    with _quiet_stderr():
        return open_connection(uri, readonly)


DISCOVERY_MODES = ("auto", "udev", "libvirt")


def discovery_for(mode: str | None, uri: str | None) -> str:
    """``udev`` (this machine's pyudev and sysfs) or ``libvirt`` (the node-device API of the host
    behind the connection). ``auto``: libvirt when the URI reaches another machine, so a remote
    hypervisor's guests are never paired with this machine's PFs."""
    from vfpool_tui.core.virt.connection import is_remote_uri

    if mode in ("udev", "libvirt"):
        return mode
    return "libvirt" if is_remote_uri(uri) else "udev"


def discover(conn, mode: str) -> Host:
    if mode == "libvirt":
        from vfpool_tui.core.virt.nodedev_discovery import discover_host_via_libvirt

        return discover_host_via_libvirt(conn)
    from vfpool_tui.core.host.discovery import discover_host

    return discover_host()


def scan(uri: str | None = None, readonly: bool | None = None, host: Host | None = None,
         conn=None, discovery: str | None = None) -> Scan:
    """Discover the host (unless given) and read libvirt (``conn``, else a new connection to ``uri``).

    ``discovery``: ``auto`` (None), ``udev`` or ``libvirt`` (``discovery_for``).
    Raises ``connection.LibvirtUnavailable`` (one line) when libvirt cannot be reached or read.
    A connection passed in is left open; one opened here is closed.
    """
    import libvirt

    from vfpool_tui.core.virt import connection
    from vfpool_tui.core.virt.inventory import read_libvirt

    connection.silence_libvirt_stderr()
    own = conn is None
    if own:
        if readonly is None:
            readonly = not connection.is_root()
        conn = open_quietly(uri, readonly)  # before the host: a bad URI fails fast
    try:
        actual_uri = None
        try:
            actual_uri = conn.getURI()
            mode = discovery_for(discovery, actual_uri or uri)
            if host is None:
                host = discover(conn, mode)
            inv = read_libvirt(conn, host)
        except libvirt.libvirtError as err:
            # a connection passed in has no ``uri`` here: name the one it is open to, not "the
            # default URI" (which it may well not be)
            where = uri or actual_uri or (
                "the default URI" if own else "the open libvirt connection")
            raise connection.LibvirtUnavailable(
                f"cannot read libvirt at {where}: {connection.describe(err)}"
            ) from None
    finally:
        if own:
            with contextlib.suppress(Exception):
                conn.close()
    return assemble(host, inv, actual_uri or uri, bool(readonly), mode)


def assemble(host: Host, inv, uri: str | None, readonly: bool, mode: str) -> Scan:
    """The ``Scan`` of a host and its libvirt inventory: the problems worked out from both."""
    from vfpool_tui.core.health.problems import find_problems

    return Scan(host=host, guests=inv.guests, pools=inv.pools,
                problems=find_problems(host, inv.guests, inv.pools), uri=uri, readonly=readonly,
                meta={"libvirt_errors": list(inv.errors), "calls": dict(inv.stats), "discovery": mode})


class LiveScan:
    """One host's scan kept up to date by parts, for the TUI (issue 14: an event re-reads what it
    names, not the whole host): ``domain(uuid)`` after a domain event, ``networks()`` after a
    network event, ``pf(address)`` after a udev change of a PF or its VF, ``full()`` when unsure
    (a reconnect, the periodic digest moved). Each returns the new ``Scan``; problems and figures
    are recomputed from the parts (cheap next to the reads). Not thread-safe: one libvirt thread."""

    def __init__(self, conn, uri: str | None, readonly: bool, discovery: str | None = None,
                 host: Host | Callable[[], Host] | None = None, discover_host=None) -> None:
        """``host``: the host for the first result (already discovered, or how to get it once
        libvirt is read: ``LiveInventory``); ``discover_host``: how to discover it again (a test's
        or the caller's; default: by the discovery mode)."""
        self.conn, self.uri, self.readonly = conn, uri, readonly
        self._uri = conn.getURI() or uri  # asked once: on a remote connection it is a round trip
        self.mode = discovery_for(discovery, self._uri)
        self._discover_host = discover_host
        self.full(host)

    def _discover(self) -> Host:
        return self._discover_host() if self._discover_host is not None else discover(self.conn, self.mode)

    def full(self, host: Host | Callable[[], Host] | None = None) -> Scan:
        from vfpool_tui.core.virt.inventory import LiveInventory

        self._inv = LiveInventory(self.conn, self._discover if host is None else host)
        self.host = self._inv.host
        self.result = self._result()  # the whole scan just read (the first: the constructor's)
        return self.result

    def domain_named(self, name: str) -> Scan:
        self._inv.domain_named(name)
        return self._result()

    def domain(self, uuid: str) -> Scan:
        self._inv.domain(uuid)
        return self._result()

    def networks(self) -> Scan:
        self._inv.networks()
        return self._result()

    def pf(self, address: str) -> Scan:
        """A PF (or the PF of a VF) changed on the host: read that PF again."""
        if self.mode == "libvirt" or self._discover_host is not None:
            self.host = self._discover()  # the whole host again, but not libvirt
        else:
            from vfpool_tui.core.host.discovery import rediscover_pf

            pf_address = next((pf.pci for pf in self.host.pfs for vf in pf.vfs if vf.pci == address), address)
            self.host = rediscover_pf(self.host, pf_address)
        self._inv.set_host(self.host)  # VFs may have come or gone: classify again, from the XML read
        return self._result()

    @property
    def read_digest(self) -> str | None:
        """The digest of libvirt as the last full read saw it (``core.virt.fingerprint``)."""
        return self._inv.read_digest

    def _result(self) -> Scan:
        return assemble(self.host, self._inv.inventory(), self._uri, bool(self.readonly), self.mode)


@dataclasses.dataclass(frozen=True)
class FirstLook:
    """What ``first_look`` found: this machine's cards, and the whole scan when libvirt was read."""

    host: Host
    scan: Scan | None = None


def first_look(uri: str | None, readonly: bool | None, discovery: str | None, with_libvirt: bool) -> FirstLook:
    """The TUI's first look at this machine in one go, for a helper process (``core.forked_call``):
    the cards (sysfs, on a thread) beside the libvirt connect, then every guest's definition and the
    networks (``LiveScan``), as the TUI's backend reads them with the same URI and flags. Raises
    what the discovery raises; libvirt that cannot be reached or read gives no scan (the backend's
    own connect and scan say why, in the UI)."""
    from concurrent.futures import ThreadPoolExecutor

    import libvirt

    from vfpool_tui.core.host.discovery import discover_host
    from vfpool_tui.core.virt.connection import LibvirtUnavailable, open_connection

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vfpool-discover") as pool:
        host = pool.submit(discover_host).result  # raises what the discovery raised, where asked
        if not with_libvirt:
            return FirstLook(host())
        try:
            conn = open_connection(uri, readonly)
        except LibvirtUnavailable:
            return FirstLook(host())
        try:
            live = LiveScan(conn, uri, bool(readonly), discovery=discovery, host=host)
            return FirstLook(live.host, live.result)
        except libvirt.libvirtError:
            return FirstLook(host())
        finally:
            with contextlib.suppress(Exception):
                conn.close()


@dataclasses.dataclass(frozen=True)
class FirstLookOf:
    """The first look a TUI backend takes of this machine, as a value: ``first_look`` with these
    arguments when called, and equal to another for the same URI and flags, so that a look begun
    before the app (``core.head_start``) is known for the one its backend would begin."""

    uri: str | None
    readonly: bool | None
    discovery: str
    with_libvirt: bool

    def __call__(self) -> FirstLook:
        return first_look(self.uri, self.readonly, self.discovery, self.with_libvirt)


def first_look_of(uri: str | None, readonly: bool | None, discovery: str | None,
                  use_libvirt: bool = True) -> FirstLookOf | None:
    """The first look of a TUI backend with these settings; None when its cards are not this
    machine's (``libvirt`` discovery: nothing to look at before the connection). libvirt is read
    too when it is on this machine: a remote one may ask for a password, and its reads are the
    backend's connection's to make."""
    from vfpool_tui.core.virt.connection import is_remote_uri, named_uri

    target = named_uri(uri)  # what libvirt opens (None: this machine's)
    mode = discovery_for(discovery, target)
    if mode != "udev":
        return None
    return FirstLookOf(uri, readonly, mode, use_libvirt and not is_remote_uri(target))


def scan_hosts(uris: list[str], readonly: bool | None = None, discovery: str | None = None,
               max_workers: int = 16) -> list[tuple[str, Scan | None, str | None]]:
    """Scan several hypervisors at once, each on its own connection and thread: ``(uri, scan,
    None)`` or ``(uri, None, why it failed)``, in the order given. A slow or lost host delays
    only its own answer."""
    from concurrent.futures import ThreadPoolExecutor

    from vfpool_tui.core.virt.connection import LibvirtUnavailable

    def one(uri: str):
        try:
            return uri, scan(uri=uri, readonly=readonly, discovery=discovery), None
        except LibvirtUnavailable as err:
            return uri, None, str(err)

    if not uris:
        return []
    with ThreadPoolExecutor(max_workers=min(max_workers, len(uris)), thread_name_prefix="vfpool-scan") as pool:
        return list(pool.map(one, uris))


# --------------------------------------------------------------------------- JSON


def holders_index(result: Scan) -> dict[str, list]:
    """VF address -> the uses that hold it (hard-coded in any guest; pool VFs of running guests)."""
    out: dict[str, list] = {}
    for g in result.guests:
        for u in g.vf_uses:
            if u.pci is None:
                continue
            if u.kind in HARD_CODED or (u.kind is UseKind.POOL and g.active):
                out.setdefault(u.pci, []).append(u)
    return out


def scan_to_json(result: Scan) -> dict:
    holders = holders_index(result)
    fig = Figures(result)
    pfs = []
    for pf in result.host.pfs:
        vfs = []
        for vf in pf.vfs:
            vfs.append({
                "index": vf.index,
                "pci": vf.pci,
                "driver": vf.driver,
                "netdev": vf.netdev,
                "iommu_group": vf.iommu_group,
                "mac": vf.mac,
                "vlan": vf.vlan,
                "spoofchk": vf.spoofchk,
                "trust": vf.trust,
                "holders": [
                    {"guest": u.guest, "kind": str(u.kind), "active": u.active,
                     "network": u.network, "mac": u.mac}
                    for u in holders.get(vf.pci, ())
                ],
                "occupancy": str(fig.vfs[vf.pci].occupancy),
                "may_be_held_by": list(fig.vfs[vf.pci].maybe_holders),
            })
        c = fig.pfs[pf.pci]
        pfs.append({
            "name": pf.name,
            "pci": pf.pci,
            "driver": pf.driver,
            "totalvfs": pf.totalvfs,
            "numvfs": pf.numvfs,
            "model": pf.model,
            "vendor": pf.vendor,
            "vendor_id": pf.vendor_id,
            "device_id": pf.device_id,
            "numa_node": pf.numa_node,
            "link": pf.link,
            "netdevs": list(pf.netdevs),
            "representors": list(pf.representors),
            "eswitch_mode": pf.eswitch_mode,
            "counts": {
                "enabled": c.enabled, "total": c.total, "hard_coded": c.hard, "pooled": c.pooled,
                "pool_held": c.pool_held, "pool_unknown": c.pool_unknown, "pool_free": c.pool_free,
                "unpooled": c.unpooled, "free_min": c.free_lo, "free_max": c.free_hi,
                "held_unknown_min": c.held_unknown_lo, "held_unknown_max": c.held_unknown_hi,
            },
            "vfs": vfs,
        })
    pools = [{
        "name": p.name,
        "uuid": p.uuid,
        "pfs": list(p.pfs),
        "active": p.active,
        "autostart": p.autostart,
        "persistent": p.persistent,
        "managed": p.managed,
        "capacity": p.capacity,
        "in_use": p.in_use,
        "blocked": p.blocked,
        "free": p.free,
        "unknown": p.unknown,
        "connections": p.connections,
        "vfs": list(p.vf_pcis),
    } for p in result.pools]
    guests = [{
        "name": g.name,
        "uuid": g.uuid,
        "state": g.state,
        "active": g.active,
        "persistent": g.persistent,
        "autostart": g.autostart,
        "vf_devices": [{
            "kind": str(u.kind),
            "pci": u.pci,
            "pci_source": u.pci_source,
            "network": u.network,
            "mac": u.mac,
            "vlan": list(u.vlan),
            "alias": u.alias,
            "guest_address": u.guest_address,
            "boot_order": u.boot_order,
            "managed": u.managed,
        } for u in g.vf_uses],
        "other_pci_hostdevs": list(g.other_pci_hostdevs),
        "macvtap_vfs": list(g.macvtap_vfs),
        "errors": list(g.errors),
    } for g in result.guests]
    problems = [{
        "kind": str(p.kind),
        "severity": p.severity,
        "message": p.message,
        "pcis": list(p.pcis),
        "guests": list(p.guests),
        "pool": p.pool,
        "pf": p.pf,
    } for p in result.problems]
    return {
        "uri": result.uri,
        "discovery": result.meta.get("discovery", "udev"),
        "readonly": result.readonly,
        "host_errors": list(result.host.errors),
        "libvirt_errors": list(result.meta.get("libvirt_errors", ())),
        "pfs": pfs,
        "pools": pools,
        "guests": guests,
        "problems": problems,
        "problem_count": dataclasses.asdict(fig.problems) | {"total": fig.problems.total},
    }
