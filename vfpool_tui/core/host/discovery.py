"""SR-IOV host discovery: PFs and their VFs from udev (pyudev) and sysfs.

``discover_host()`` walks every PCI device the kernel lists, keeps the network
controllers with an ``sriov_totalvfs`` attribute as PFs (their udev device gives
driver, vendor and model names), and follows each PF's ``virtfnN`` links to its
VFs. Everything is read through the device's ``sys_path`` with plain
``os`` calls, so an umockdev testbed can stand in for real hardware.

Nothing here raises for a bad host: a value that cannot be read or makes no
sense becomes ``None`` (or 0 for counts) and a plain sentence goes into
``Host.errors``.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import os
import re

import pyudev

from vfpool_tui.core import pci as _pci
from vfpool_tui.core.model import PF, VF, Host

__all__ = ["discover_host", "is_representor_port_name"]

_VIRTFN = re.compile(r"^virtfn(\d+)$")
# switchdev representor ports: pf0vf1, pf1sf3, c1pf0vf2 (SmartNIC controller), pf0 (host PF
# representor on a DPU). The uplink of a PF in switchdev is "p0"/"p1" and is the PF's own netdev.
_REPRESENTOR = re.compile(r"^(?:c\d+)?pf\d+(?:(?:vf|sf)\d+)?$")
_HEX_ID = re.compile(r"^(?:0x)?([0-9a-fA-F]{1,4})$")

# errno values that mean "this attribute is not there / the device went away". EOPNOTSUPP and
# EINVAL are what a real netdev's phys_port_name gives when its driver has no port names.
_GONE = {errno.ENOENT, errno.ENODEV, errno.ENXIO, errno.ESTALE, errno.EOPNOTSUPP, errno.EINVAL}


def is_representor_port_name(phys_port_name: str | None) -> bool:
    """True for a switchdev representor's ``phys_port_name`` (``pf0vf1``), False for an uplink (``p0``)."""
    return bool(phys_port_name) and bool(_REPRESENTOR.match(phys_port_name or ""))


class _Reader:
    """sysfs reads that never raise; problems become lines in ``errors``."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def note(self, line: str) -> None:
        if line not in self.errors:
            self.errors.append(line)

    # -- raw reads --------------------------------------------------------------------

    def text(self, path: str, what: str, *, required: bool = False) -> str | None:
        """Content of a sysfs file, stripped; None when missing (noted only if ``required``)."""
        try:
            # os.open/read/close: three system calls, where open() adds fstat, isatty and lseek
            # (a host with 1,000 VFs reads 2,000 of these files)
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                raw = os.read(fd, 4096)
            finally:
                os.close(fd)
        except OSError as exc:
            if exc.errno in _GONE:
                if required:
                    self.note(f"{what}: cannot be read (missing, or the device went away)")
                return None
            self.note(f"{what}: cannot be read ({exc.strerror or exc})")
            return None
        try:
            return raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            self.note(f"{what}: unreadable value (not text)")
            return None

    def link(self, path: str, what: str) -> str | None:
        """A symlink's target as written (``../0000:03:10.0``); None when absent."""
        try:
            return os.readlink(path)
        except OSError as exc:
            if exc.errno not in _GONE:
                self.note(f"{what}: cannot be read ({exc.strerror or exc})")
            return None

    def link_name(self, path: str, what: str) -> str | None:
        """Basename of a symlink's target (driver, iommu_group, virtfnN); None when absent."""
        return _target_name(self.link(path, what))

    def listdir(self, path: str, what: str) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except OSError as exc:
            if exc.errno not in _GONE and exc.errno != errno.ENOTDIR:
                self.note(f"{what}: cannot be listed ({exc.strerror or exc})")
            return []

    # -- typed reads ------------------------------------------------------------------

    def integer(self, path: str, what: str, *, required: bool = False) -> int | None:
        value = self.text(path, what, required=required)
        if value is None:
            return None
        try:
            return int(value, 0)
        except ValueError:
            self.note(f"{what}: {value[:40]!r} is not a number")
            return None

    def count(self, path: str, what: str) -> int:
        """A non-negative count (sriov_totalvfs, sriov_numvfs); 0 when unknown or nonsense."""
        value = self.integer(path, what, required=True)
        if value is None:
            return 0
        if value < 0:
            self.note(f"{what}: {value} is negative")
            return 0
        return value

    def hex_id(self, path: str, what: str) -> str | None:
        """PCI vendor/device id file (``0x8086``) -> ``"8086"``."""
        value = self.text(path, what)
        if value is None:
            return None
        m = _HEX_ID.match(value)
        if not m:
            self.note(f"{what}: {value[:40]!r} is not a PCI id")
            return None
        return f"{int(m[1], 16):04x}"


# ------------------------------------------------------------------------------------ helpers


def _target_name(target: str | None) -> str | None:
    """``../0000:03:10.0`` -> ``0000:03:10.0`` (a link's last component); None for none."""
    name = os.path.basename(target.rstrip("/")) if target else ""
    return name or None


def _pci_id_property(props: dict[str, str]) -> tuple[str | None, str | None]:
    """``PCI_ID=8086:10FB`` -> ("8086", "10fb")."""
    raw = props.get("PCI_ID") or ""
    vendor, _, device = raw.partition(":")
    out: list[str | None] = []
    for part in (vendor, device):
        m = _HEX_ID.match(part.strip())
        out.append(f"{int(m[1], 16):04x}" if m else None)
    return out[0], out[1]


def _properties(device: pyudev.Device, rd: _Reader, what: str) -> dict[str, str]:
    try:
        return {str(k): str(v) for k, v in device.properties.items()}
    except Exception as exc:  # pyudev/libudev can fail on a vanished device
        rd.note(f"{what}: udev properties cannot be read ({exc})")
        return {}


def _numa(rd: _Reader, sys_path: str, what: str) -> int | None:
    value = rd.integer(os.path.join(sys_path, "numa_node"), f"{what} numa_node")
    if value is None or value < 0:
        return None
    return value


def _iommu_group(rd: _Reader, sys_path: str, what: str) -> int | None:
    name = rd.link_name(f"{sys_path}/iommu_group", f"{what} iommu_group")
    if name is None:
        return None
    try:
        return int(name)
    except ValueError:
        rd.note(f"{what}: iommu_group {name[:40]!r} is not a number")
        return None


def _netdevs(rd: _Reader, sys_path: str, what: str) -> list[str]:
    return rd.listdir(f"{sys_path}/net", f"{what} net")


@functools.lru_cache(maxsize=8192)  # every VF's name is read twice: in the PCI list, from its PF's link
def _address(text: str) -> str | None:
    try:
        return _pci.normalize(text)
    except _pci.PciAddressError:
        return None


# ------------------------------------------------------------------------------------ VFs


def _read_vf(rd: _Reader, pf_addr: str, pf_sys_path: str, link: str, index: int,
             ids: tuple[str, str] | None) -> VF | None:
    written = rd.link(f"{pf_sys_path}/{link}", f"PF {pf_addr} {link}")
    target = _target_name(written)
    if target is None:
        rd.note(f"PF {pf_addr}: VF {index} ({link}) disappeared while reading")
        return None
    address = _address(target)
    if address is None:
        rd.note(f"PF {pf_addr}: {link} points at {target[:60]!r}, which is not a PCI address")
        return None
    # sysfs links are relative to the PF's own directory (``pf_sys_path``, udev's resolved path):
    # joining them gives the VF's directory without resolving every component again (realpath)
    vf_sys = os.path.normpath(f"{pf_sys_path}/{written}")
    what = f"VF {address}"
    driver = rd.link_name(f"{vf_sys}/driver", f"{what} driver")
    # a bound driver says the device is there; only an unbound VF is looked for (one call less a VF)
    if driver is None and not os.path.isdir(vf_sys):
        rd.note(f"PF {pf_addr}: VF {index} ({address}) is listed but its device is gone")
        return VF(index=index, pci=address, pf_pci=pf_addr, driver=None, netdev=None, iommu_group=None)
    nets = _netdevs(rd, vf_sys, what)
    return VF(
        index=index,
        pci=address,
        pf_pci=pf_addr,
        driver=driver,
        netdev=nets[0] if nets else None,
        iommu_group=_iommu_group(rd, vf_sys, what),
        vendor_id=ids[0] if ids else rd.hex_id(f"{vf_sys}/vendor", f"{what} vendor"),
        device_id=ids[1] if ids else rd.hex_id(f"{vf_sys}/device", f"{what} device"),
    )


def _read_vfs(rd: _Reader, pf_addr: str, sys_path: str, vendor_id: str | None) -> tuple[VF, ...]:
    links: list[tuple[int, str]] = []
    for name in rd.listdir(sys_path, f"PF {pf_addr}"):
        m = _VIRTFN.match(name)
        if m:
            links.append((int(m[1]), name))
    links.sort()
    # Every VF of a PF has the PF's vendor id and the one VF device id of its SR-IOV capability:
    # the kernel gives each VF exactly these (pci_iov_add_virtfn), and shows the latter as the PF's
    # sriov_vf_device. Read once here instead of two files a VF (2,000 reads on a 1,000-VF host);
    # a kernel without that file, or a PF whose vendor is unknown, has each VF's own read.
    vf_device = rd.hex_id(f"{sys_path}/sriov_vf_device", f"PF {pf_addr} sriov_vf_device") if links else None
    ids = (vendor_id, vf_device) if vendor_id and vf_device else None
    vfs = []
    for index, name in links:
        vf = _read_vf(rd, pf_addr, sys_path, name, index, ids)
        if vf is not None:
            vfs.append(vf)
    return tuple(vfs)


# ------------------------------------------------------------------------------------ PFs


def _read_pf(rd: _Reader, device: pyudev.Device, address: str) -> PF:
    sys_path = device.sys_path
    what = f"PF {address}"
    props = _properties(device, rd, what)

    p_vendor, p_device = _pci_id_property(props)
    vendor_id = rd.hex_id(os.path.join(sys_path, "vendor"), f"{what} vendor") or p_vendor
    device_id = rd.hex_id(os.path.join(sys_path, "device"), f"{what} device") or p_device
    if vendor_id is None or device_id is None:
        rd.note(f"{what}: PCI vendor/device id unknown")

    netdevs: list[str] = []
    representors: list[str] = []
    for name in _netdevs(rd, sys_path, what):
        port = rd.text(os.path.join(sys_path, "net", name, "phys_port_name"), f"netdev {name} phys_port_name")
        if is_representor_port_name(port):
            representors.append(name)
        else:
            netdevs.append(name)

    link = None
    if netdevs:
        link = rd.text(os.path.join(sys_path, "net", netdevs[0], "operstate"), f"netdev {netdevs[0]} operstate")

    driver = rd.link_name(os.path.join(sys_path, "driver"), f"{what} driver")
    if driver is None and props.get("DRIVER"):
        driver = props["DRIVER"]

    return PF(
        pci=address,
        netdevs=tuple(netdevs),
        driver=driver,
        vendor_id=vendor_id or "",
        device_id=device_id or "",
        vendor=props.get("ID_VENDOR_FROM_DATABASE") or vendor_id or "",
        model=props.get("ID_MODEL_FROM_DATABASE") or device_id or "",
        numa_node=_numa(rd, sys_path, what),
        totalvfs=rd.count(os.path.join(sys_path, "sriov_totalvfs"), f"{what} sriov_totalvfs"),
        numvfs=rd.count(os.path.join(sys_path, "sriov_numvfs"), f"{what} sriov_numvfs"),
        link=link or None,
        vfs=_read_vfs(rd, address, sys_path, vendor_id),
        vf_offset=rd.integer(os.path.join(sys_path, "sriov_offset"), f"{what} sriov_offset"),
        vf_stride=rd.integer(os.path.join(sys_path, "sriov_stride"), f"{what} sriov_stride"),
        representors=tuple(representors),
        # Representors exist only in switchdev mode. Without them the mode is not knowable from
        # sysfs (it needs devlink), so it stays unknown.
        eswitch_mode="switchdev" if representors else None,
    )


def _network_class(rd: _Reader, sys_path: str, address: str) -> bool:
    """True unless the device's PCI class says it is not a network controller (base class 0x02).

    GPUs (NVIDIA A100/H100, AMD MxGPU), NVMe drives and crypto accelerators have
    ``sriov_totalvfs`` too; their VFs are not NICs. An unreadable class keeps the device.
    """
    value = rd.text(os.path.join(sys_path, "class"), f"PCI device {address} class")
    if value is None:
        return True
    try:
        return (int(value, 16) >> 16) == 0x02
    except ValueError:
        return True


def _list_pci(context: pyudev.Context, rd: _Reader) -> list[tuple[str, str]]:
    """(name, sysfs path) of every PCI device, from the kernel's list (``/sys/bus/pci/devices``).

    udev's own enumeration reads the same directory but makes a device of every entry (its
    uevent, its udev database record): 250 ms on a host with 1,000 VFs, for nothing a VF needs.
    udev is asked of the devices that are not VFs of a NIC PF (``_udev_device``)."""
    bus = os.path.join(context.sys_path, "bus", "pci", "devices")
    try:
        entries = sorted(os.listdir(bus))
    except OSError as exc:
        rd.note(f"PCI devices cannot be listed ({bus}: {exc.strerror or exc})")
        return []
    return [(name, os.path.join(bus, name)) for name in entries]


def _udev_device(context: pyudev.Context, path: str, address: str, rd: _Reader) -> pyudev.Device | None:
    """The udev device of a PCI device (properties, hwdb names); None when it went away."""
    try:
        return pyudev.Devices.from_sys_path(context, os.path.realpath(path))
    except Exception as exc:  # gone between the listing and now, or udev cannot read it
        rd.note(f"PCI device {address}: udev cannot read it ({exc})")
        return None


def _merge_netlink(pf: PF, admin_by_link: dict) -> PF:
    admin = admin_by_link.get(pf.netdevs[0]) if pf.vfs and pf.netdevs else None
    if not admin:
        return pf
    vfs = []
    for vf in pf.vfs:
        a = admin.get(vf.index)
        if a is None:
            vfs.append(vf)
        else:
            vfs.append(dataclasses.replace(vf, mac=a.mac, vlan=a.vlan, spoofchk=a.spoofchk, trust=a.trust))
    return dataclasses.replace(pf, vfs=tuple(vfs))


# ------------------------------------------------------------------------------------ public


def discover_host(context: pyudev.Context | None = None, with_netlink: bool = True) -> Host:
    """Read the host's SR-IOV PFs and VFs, and every PCI address present.

    ``context``: a ``pyudev.Context`` (a new one when None). ``with_netlink``: also ask
    rtnetlink for each VF's administrative MAC/VLAN/spoofchk/trust (left None when unknown).
    """
    rd = _Reader()
    if context is None:
        try:
            context = pyudev.Context()
        except Exception as exc:
            return Host(errors=(f"udev cannot be used ({exc})",))

    addresses: set[str] = set()
    candidates: list[tuple[str, str]] = []  # (address, sysfs path) of devices with sriov_totalvfs
    others: list[tuple[str, str]] = []
    for sys_name, path in _list_pci(context, rd):
        address = _address(sys_name)
        if address is None:
            rd.note(f"PCI device {sys_name[:60]!r} has no usable PCI address")
            continue
        addresses.add(address)
        (candidates if os.path.exists(os.path.join(path, "sriov_totalvfs")) else others).append((address, path))

    names: dict[str, str] = {}
    pfs: list[PF] = []
    for address, path in candidates:
        device = _udev_device(context, path, address, rd)
        if device is None:
            continue
        name = _hwdb_name(device)
        if name:
            names[address] = name
        if not _network_class(rd, device.sys_path, address):
            continue  # an SR-IOV GPU (A100, H100), NVMe drive or QAT accelerator: not a NIC PF
        try:
            pf = _read_pf(rd, device, address)
        except Exception as exc:  # last line of defence: never a traceback for a bad host
            rd.note(f"PF {address}: cannot be read ({type(exc).__name__}: {exc})")
            continue
        pfs.append(pf)
    # the names udev's hardware database gives the other devices (other PCI passthrough is shown
    # by them); a NIC VF is named after its PF and needs none: on a host with 1,000 VFs, asking
    # udev of each was most of the discovery
    ours = {vf.pci for pf in pfs for vf in pf.vfs}
    for address, path in others:
        if address not in ours:
            device = _udev_device(context, path, address, rd)
            name = _hwdb_name(device) if device is not None else ""
            if name:
                names[address] = name

    if with_netlink and any(pf.vfs and pf.netdevs for pf in pfs):
        from vfpool_tui.core.host import netlink

        admin = netlink.vf_admin_by_link()  # one dump answers for every PF
        pfs = [_merge_netlink(pf, admin) for pf in pfs]
    pfs.sort(key=lambda p: _pci.split(p.pci))
    return Host(pfs=tuple(pfs), pci_devices=frozenset(addresses), errors=tuple(rd.errors),
                netdevs=_all_netdevs(context), pci_names=tuple(sorted(names.items())))


def _hwdb_name(device: pyudev.Device) -> str:
    """"NVIDIA Corporation TU104GL [Tesla T4]": the vendor and device names udev's hardware
    database gave the device (empty when it has none, or its properties cannot be read)."""
    try:
        props = device.properties
        vendor = str(props.get("ID_VENDOR_FROM_DATABASE") or "").strip()
        model = str(props.get("ID_MODEL_FROM_DATABASE") or "").strip()
    except Exception:  # noqa: BLE001 - a name is a nicety: the address still shows
        return ""
    return " ".join(x for x in (vendor, model) if x)


def _all_netdevs(context: pyudev.Context) -> frozenset[str] | None:
    """Every network interface name (``/sys/class/net``); None when it cannot be listed."""
    try:
        return frozenset(os.listdir(os.path.join(context.sys_path, "class", "net")))
    except OSError:
        return None


def rediscover_pf(host: Host, address: str, context: pyudev.Context | None = None,
                  with_netlink: bool = True) -> Host:
    """``host`` with one PF read again (a udev change named it or one of its VFs): what
    ``discover_host`` would say of it now, the other PFs as they were. A PF that is gone leaves
    the host; a device that is not (or no longer) a NIC PF is left out."""
    rd = _Reader()
    try:
        context = context or pyudev.Context()
        device = pyudev.Devices.from_path(context, f"/bus/pci/devices/{address}")
    except Exception:  # gone, or udev unusable: the PF is not there (any more)
        device = None
    others = tuple(pf for pf in host.pfs if pf.pci != address)
    addresses = set(host.pci_devices) - {vf.pci for pf in host.pfs if pf.pci == address for vf in pf.vfs}
    pfs = list(others)
    if device is not None and os.path.exists(os.path.join(device.sys_path, "sriov_totalvfs")) \
            and _network_class(rd, device.sys_path, address):
        try:
            pf = _read_pf(rd, device, address)
        except Exception as exc:
            rd.note(f"PF {address}: cannot be read ({type(exc).__name__}: {exc})")
        else:
            if with_netlink and pf.vfs and pf.netdevs:
                from vfpool_tui.core.host import netlink

                pf = _merge_netlink(pf, netlink.vf_admin_by_link())
            pfs.append(pf)
            addresses |= {pf.pci, *(vf.pci for vf in pf.vfs)}
    elif device is None:
        addresses.discard(address)
    pfs.sort(key=lambda p: _pci.split(p.pci))
    errors = tuple(e for e in host.errors if address not in e) + tuple(rd.errors)
    return dataclasses.replace(host, pfs=tuple(pfs), pci_devices=frozenset(addresses), errors=errors,
                               netdevs=_all_netdevs(context) if device is not None else host.netdevs)
