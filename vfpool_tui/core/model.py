"""The data model shared by the core, the CLI and the TUI: frozen dataclasses only.

Host side (from udev/sysfs): ``Host`` -> ``PF`` -> ``VF``.
libvirt side: ``Guest`` -> ``VfUse``; ``Pool``.
Together: ``Scan`` (host + libvirt + ``Problem`` list), which is what ``scan --json`` prints.

A field that could not be learned is ``None`` ("unknown"), never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache


# --------------------------------------------------------------------------- host side


@dataclass(frozen=True)
class VF:
    index: int  # N of the PF's virtfnN link
    pci: str  # dddd:bb:ss.f
    pf_pci: str
    driver: str | None  # vfio-pci, ixgbevf, iavf, mlx5_core, ... or None when unbound
    netdev: str | None  # host netdev when bound to a NIC driver
    iommu_group: int | None
    vendor_id: str | None = None  # "8086"
    device_id: str | None = None  # "10ed"
    # administrative settings from netlink (IFLA_VFINFO_LIST); None = unknown
    mac: str | None = None
    vlan: int | None = None
    spoofchk: bool | None = None
    trust: bool | None = None


@dataclass(frozen=True)
class PF:
    pci: str
    netdevs: tuple[str, ...]  # the PF's own netdevs (not representors)
    driver: str | None
    vendor_id: str  # "8086"
    device_id: str  # "10fb"
    vendor: str  # name from udev hwdb, else the numeric id
    model: str  # name from udev hwdb, else the numeric id
    numa_node: int | None  # None when the kernel reports -1 or nothing
    totalvfs: int
    numvfs: int
    link: str | None  # operstate of the first netdev: "up", "down", ... or None
    vfs: tuple[VF, ...] = ()
    vf_offset: int | None = None  # sriov_offset
    vf_stride: int | None = None  # sriov_stride
    representors: tuple[str, ...] = ()  # switchdev representor netdevs (pf0vf1, ...)
    eswitch_mode: str | None = None  # "legacy" / "switchdev" when known

    @property
    def name(self) -> str:
        """What an admin calls it: its first netdev, else its PCI address."""
        return self.netdevs[0] if self.netdevs else self.pci

    def possible_vf_addresses(self) -> tuple[str, ...]:
        """Addresses VFs 0..totalvfs-1 would have, from offset/stride (empty when unknown)."""
        return _possible_vf_addresses(self.pci, self.vf_offset, self.vf_stride, self.totalvfs)


@lru_cache(maxsize=4096)
def _possible_vf_addresses(pf_pci: str, offset: int | None, stride: int | None, total: int) -> tuple[str, ...]:
    # a pure function of its arguments, asked for every PF at every update of the view: kept
    from vfpool_tui.core import pci as _pci

    if offset is None or stride is None or total <= 0:
        return ()
    out = []
    for i in range(total):
        try:
            out.append(_pci.vf_address(pf_pci, offset, stride, i))
        except _pci.PciAddressError:
            break
    return tuple(out)


@dataclass(frozen=True)
class Host:
    pfs: tuple[PF, ...] = ()
    # every PCI device address present on the host (to tell "missing" from "not a VF")
    pci_devices: frozenset[str] = frozenset()
    errors: tuple[str, ...] = ()  # plain-language problems reading the host
    # every network interface name on the host (to tell "no such NIC" from "a NIC without SR-IOV");
    # None when it could not be listed
    netdevs: frozenset[str] | None = None
    # (PCI address, "vendor device") from udev's hardware database, for the devices that have
    # names there (``ID_VENDOR_FROM_DATABASE``, ``ID_MODEL_FROM_DATABASE``), sorted by address
    pci_names: tuple[tuple[str, str], ...] = ()

    def pci_name(self, address: str) -> str | None:
        """A PCI device's vendor and device names (udev hwdb), when known."""
        for addr, name in self.pci_names:
            if addr == address:
                return name
        return None

    def device_name(self, address: str) -> str:
        """How to name a PCI device to the operator: a PF by its netdev, a VF as the VF it is,
        another device with its hwdb names; the bare address when nothing more is known."""
        for pf in self.pfs:
            if pf.pci == address:
                return f"{pf.name} ({address})" if pf.netdevs else address
            for vf in pf.vfs:
                if vf.pci == address:
                    return f"{address} (VF {vf.index} of {pf.name})"
        name = self.pci_name(address)
        return f"{address} ({name})" if name else address

    def pf(self, key: str) -> PF | None:
        """Look a PF up by netdev name or PCI address."""
        for pf in self.pfs:
            if key == pf.pci or key in pf.netdevs:
                return pf
        return None

    def vf(self, address: str) -> VF | None:
        for pf in self.pfs:
            for vf in pf.vfs:
                if vf.pci == address:
                    return vf
        return None

    def vf_index(self) -> dict[str, VF]:
        return {vf.pci: vf for pf in self.pfs for vf in pf.vfs}


# --------------------------------------------------------------------------- libvirt side


class UseKind(StrEnum):
    HOSTDEV = "hostdev"  # <hostdev mode='subsystem' type='pci'> with a VF source
    INTERFACE_HOSTDEV = "interface-hostdev"  # <interface type='hostdev'>
    POOL = "pool"  # <interface type='network'> on a hostdev-mode network


@dataclass(frozen=True)
class VfUse:
    """One VF-using device in a guest's persistent (inactive) definition."""

    guest: str
    guest_uuid: str
    kind: UseKind
    # host VF: the hard-coded source address, or for a pool the VF the running guest actually got;
    # None when not known (pool guest shut off, or running but the VF cannot be learned)
    pci: str | None
    active: bool  # the guest is running, so it holds this VF now
    network: str | None = None  # pool network name (kind == POOL)
    mac: str | None = None
    vlan: tuple[int, ...] = ()  # tags
    alias: str | None = None
    guest_address: str | None = None  # guest-side <address type='pci'>
    boot_order: int | None = None
    managed: bool | None = None
    pci_source: str | None = None  # where `pci` came from: "config", "port", "live-xml"
    xml: str = ""  # the device element as libvirt printed it (inactive XML)
    unassigned: bool = False  # <address type='unassigned'/>: the guest holds the VF but cannot see it


@dataclass(frozen=True)
class Guest:
    name: str
    uuid: str
    state: str  # "running", "paused", "shut off", "crashed", "pmsuspended", "shutdown", "blocked", "no state"
    active: bool
    persistent: bool
    autostart: bool | None
    vf_uses: tuple[VfUse, ...] = ()
    other_pci_hostdevs: tuple[str, ...] = ()  # PCI passthrough of non-VF devices (GPU, HBA)
    # VFs whose host netdev a direct (macvtap) interface sits on: not holders (the VF stays on its
    # host driver), but a pool that hands that VF out takes the netdev away from this guest
    macvtap_vfs: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()  # e.g. XML that could not be read
    # <interface type='network'> naming a network libvirt does not have: the guest cannot start
    missing_networks: tuple[str, ...] = ()

    @property
    def convertible(self) -> tuple[VfUse, ...]:
        return tuple(u for u in self.vf_uses if u.kind is not UseKind.POOL)


@dataclass(frozen=True)
class Pool:
    name: str
    uuid: str
    pfs: tuple[str, ...]  # <pf dev=...> names
    addresses: tuple[str, ...]  # explicit <address> list, or the live pool of an active network
    active: bool
    autostart: bool
    persistent: bool
    managed: bool
    # the counts (core.capacity.pool_counts computes them, for every view)
    capacity: int | None  # VFs in the pool; None when it cannot be known
    in_use: int  # pool interfaces of running guests
    free: int | None  # capacity - in_use - blocked, never below 0
    blocked: int = 0  # pool VFs hard-coded in running guests (libvirt may hand them out and fail)
    unknown: int = 0  # of in_use: running pool interfaces whose VF libvirt does not say
    connections: int | None = None  # libvirt's own count (<network connections='N'>), active only
    vf_pcis: tuple[str, ...] = ()  # the VFs that make up the pool (live list or from sysfs)
    vlan: tuple[int, ...] = ()
    xml: str = ""


class ProblemKind(StrEnum):
    VF_MULTIPLE_GUESTS = "vf-multiple-guests"
    POOL_VF_HARDCODED = "pool-vf-hardcoded"
    VF_NETDEV_MACVTAP = "vf-netdev-macvtap"
    VFIO_UNUSED = "vfio-unused"
    VF_MISSING = "vf-missing"
    POOL_PF_MISSING = "pool-pf-missing"
    POOL_PF_NO_VFS = "pool-pf-no-vfs"
    POOL_STALE = "pool-stale"
    POOL_EXHAUSTED = "pool-exhausted"
    POOL_INACTIVE = "pool-inactive"
    POOL_PF_NOT_SRIOV = "pool-pf-not-sriov"
    HOST_NO_IOMMU = "host-no-iommu"
    GUEST_NETWORK_MISSING = "guest-network-missing"
    GUEST_XML_ERROR = "guest-xml-error"


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    severity: str  # "error" | "warning" | "info"
    message: str  # plain language: what is wrong, why it matters, what to do
    pcis: tuple[str, ...] = ()
    guests: tuple[str, ...] = ()
    pool: str | None = None
    pf: str | None = None


@dataclass(frozen=True)
class Scan:
    host: Host
    guests: tuple[Guest, ...] = ()
    pools: tuple[Pool, ...] = ()
    problems: tuple[Problem, ...] = ()
    uri: str | None = None
    readonly: bool = False
    libvirt_error: str | None = None  # set when libvirt could not be reached
    meta: dict = field(default_factory=dict)

    def holders_of(self, address: str) -> tuple[VfUse, ...]:
        return tuple(u for g in self.guests for u in g.vf_uses if u.pci == address)
