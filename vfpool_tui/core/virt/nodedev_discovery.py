"""Host discovery through libvirt's node-device API, for a hypervisor this machine's sysfs is not.

``discover_host_via_libvirt(conn)`` builds the same ``Host`` as ``core.host.discovery`` does from
pyudev and sysfs, from ``listAllDevices`` (PCI and net capabilities) and each device's XML:

- a PF is a PCI network controller (class 0x02xxxx) with ``<capability type='virt_functions'
  maxCount='N'>``; its ``<address>`` children are its VFs, in VF index order;
- a VF has ``<capability type='phys_function'>``; a net device's ``<parent>`` is its PCI device;
- ``<driver><name>``, ``<numa node>``, ``<iommuGroup number>``, ``<vendor id>`` and ``<product id>``
  with their names, the net device's ``<link state>``;
- in ``<capability type='pci'>``, ``<domain>``/``<bus>``/``<slot>``/``<function>`` are decimal;
  ``<address>`` attributes are hex (LIBVIRT-FACTS.md).

What libvirt does not say stays unknown (``None``): VF admin MAC/VLAN/spoofchk/trust (netlink),
switchdev representors and eswitch mode. VF offset and stride are worked out from the VF
addresses when there are enough of them. Reads only; never writes anything.
"""

from __future__ import annotations

import libvirt
from lxml import etree

from vfpool_tui.core import pci as _pci
from vfpool_tui.core.model import PF, VF, Host
from vfpool_tui.core.virt.connection import describe

_CAPS = libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_PCI_DEV | libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_NET


def _int(text: str | None, base: int = 10) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip(), base)
    except ValueError:
        return None


def _hex_id(el: etree._Element | None) -> str | None:
    if el is None or el.get("id") is None:
        return None
    value = _int(el.get("id"), 16)
    return None if value is None else f"{value:04x}"


class _Pci:
    """One PCI node device, read from its XML."""

    def __init__(self, name: str, root: etree._Element) -> None:
        self.name = name
        cap = root.find("capability[@type='pci']")
        self.parent = root.findtext("parent")
        self.driver = root.findtext("driver/name")
        parts = [_int(cap.findtext(tag)) for tag in ("domain", "bus", "slot", "function")]
        self.address = None if None in parts else _pci.format_address(*parts)
        cls = _int(cap.findtext("class"), 16) if cap.findtext("class") else None
        self.network_class = cls is None or (cls >> 16) == 0x02  # unknown class: keep the device
        self.vendor_id = _hex_id(cap.find("vendor"))
        self.device_id = _hex_id(cap.find("product"))
        self.vendor = (cap.findtext("vendor") or "").strip() or self.vendor_id
        self.model = (cap.findtext("product") or "").strip() or self.device_id
        self.numa = _int(cap.find("numa").get("node")) if cap.find("numa") is not None else None
        if self.numa is not None and self.numa < 0:
            self.numa = None
        grp = cap.find("iommuGroup")
        self.iommu_group = _int(grp.get("number")) if grp is not None else None
        vfs = cap.find("capability[@type='virt_functions']")
        self.is_pf = vfs is not None
        self.max_vfs = _int(vfs.get("maxCount")) if vfs is not None and vfs.get("maxCount") else None
        self.vf_addresses = tuple(a for a in (_pci.from_libvirt_attrs(dict(el.attrib))
                                              for el in (vfs.findall("address") if vfs is not None else ()))
                                  if a)
        pf = cap.find("capability[@type='phys_function']/address")
        self.pf_address = _pci.from_libvirt_attrs(dict(pf.attrib)) if pf is not None else None


def _offset_stride(pf_addr: str, vf_addrs: tuple[str, ...]) -> tuple[int | None, int | None]:
    """sriov_offset / sriov_stride from the addresses (routing IDs), when they can be told."""
    if not vf_addrs:
        return None, None
    rid = [_pci.routing_id(a) for a in (pf_addr, *vf_addrs)]
    offset = rid[1] - rid[0]
    if len(rid) < 3:
        return offset, None
    stride = rid[2] - rid[1]
    if stride <= 0 or any(rid[i + 1] - rid[i] != stride for i in range(1, len(rid) - 1)):
        return offset, None
    return offset, stride


def discover_host_via_libvirt(conn) -> Host:
    """The host behind ``conn``, from its node devices. Never raises for one bad device: the
    problem goes into ``Host.errors`` and the rest is read."""
    errors: list[str] = []
    try:
        devices = conn.listAllDevices(_CAPS)
    except libvirt.libvirtError as err:
        return Host(errors=(f"libvirt cannot list the host's devices: {describe(err)}",))
    pcis: dict[str, _Pci] = {}
    nets: list[tuple[str, str | None, str | None]] = []  # (interface, parent device name, link state)
    for dev in devices:
        try:
            name = dev.name()
            root = etree.fromstring(dev.XMLDesc(0).encode())
        except libvirt.libvirtError as err:
            if err.get_error_code() != libvirt.VIR_ERR_NO_NODE_DEVICE:  # gone while we looked
                errors.append(f"a host device cannot be read: {describe(err)}")
            continue
        except etree.XMLSyntaxError as err:
            errors.append(f"a host device's XML cannot be read: {err}")
            continue
        if root.find("capability[@type='pci']") is not None:
            try:
                pcis[name] = _Pci(name, root)
            except (AttributeError, ValueError, _pci.PciAddressError) as err:
                errors.append(f"PCI device {name}: cannot be read ({err})")
        cap = root.find("capability[@type='net']")
        if cap is not None and cap.findtext("interface"):
            link = cap.find("link")
            nets.append((cap.findtext("interface"), root.findtext("parent"),
                         link.get("state") if link is not None else None))
    by_address = {p.address: p for p in pcis.values() if p.address}
    netdevs_of: dict[str, list[str]] = {}
    link_of: dict[str, str | None] = {}
    for iface, parent, state in nets:
        if parent in pcis:
            netdevs_of.setdefault(pcis[parent].name, []).append(iface)
        link_of[iface] = state
    pfs = []
    for p in pcis.values():
        if not p.is_pf or not p.network_class or p.address is None:
            continue
        vfs = []
        for i, addr in enumerate(p.vf_addresses):
            v = by_address.get(addr)
            vnet = sorted(netdevs_of.get(v.name, ())) if v else []
            vfs.append(VF(index=i, pci=addr, pf_pci=p.address, driver=v.driver if v else None,
                          netdev=vnet[0] if vnet else None, iommu_group=v.iommu_group if v else None,
                          vendor_id=v.vendor_id if v else None, device_id=v.device_id if v else None))
        own = sorted(netdevs_of.get(p.name, ()))
        offset, stride = _offset_stride(p.address, p.vf_addresses)
        pfs.append(PF(pci=p.address, netdevs=tuple(own), driver=p.driver, vendor_id=p.vendor_id or "",
                      device_id=p.device_id or "", vendor=p.vendor or "", model=p.model or "",
                      numa_node=p.numa, totalvfs=p.max_vfs if p.max_vfs is not None else len(vfs),
                      numvfs=len(vfs), link=link_of.get(own[0]) if own else None, vfs=tuple(vfs),
                      vf_offset=offset, vf_stride=stride))
    pfs.sort(key=lambda pf: _pci.split(pf.pci))
    return Host(pfs=tuple(pfs), pci_devices=frozenset(by_address), errors=tuple(errors),
                netdevs=frozenset(iface for iface, _, _ in nets))
