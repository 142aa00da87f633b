"""Reading a guest's domain XML: which devices use (or may use) an SR-IOV VF.

Three forms matter (LIBVIRT-FACTS.md):
- ``<hostdev mode='subsystem' type='pci'>`` with ``<source><address .../></source>``,
- ``<interface type='hostdev'>`` with ``<source><address type='pci' .../></source>``,
- ``<interface type='network'><source network='NET'/>`` — a pool use when NET is a hostdev network.

Classify from the INACTIVE XML. The live XML of a running pool guest shows the pool interface as
``<interface type='hostdev'>`` with the allocated VF; ``live_hostdev_interfaces`` reads that so the
inventory can tell which VF a running pool guest actually got.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from lxml import etree

from vfpool_tui.core import pci

# device kinds as found in XML (the inventory maps them onto model.UseKind)
from vfpool_tui.core.virt import xmlutil

HOSTDEV = "hostdev"
INTERFACE_HOSTDEV = "interface-hostdev"
INTERFACE_NETWORK = "interface-network"
INTERFACE_DIRECT = "interface-direct"  # macvtap on a host netdev (may be a VF's): not a VF holder


@dataclass(frozen=True)
class DeviceRef:
    """One candidate device of a domain, with what conversion must carry over."""

    kind: str  # HOSTDEV | INTERFACE_HOSTDEV | INTERFACE_NETWORK | INTERFACE_DIRECT
    position: int  # index among the <devices> children, to find the element again
    source_pci: str | None  # host PCI address (hostdev forms); None for network interfaces
    network: str | None  # network name (INTERFACE_NETWORK)
    mac: str | None
    vlan: tuple[int, ...]
    alias: str | None
    guest_address: str | None  # guest-side <address type='pci'>; None: libvirt assigns a slot
    boot_order: int | None
    managed: bool | None
    xml: str
    source_dev: str | None = None  # host netdev of a direct (macvtap) interface
    source_mode: str | None = None  # its mode: vepa, bridge, private, passthrough
    unassigned: bool = False  # <address type='unassigned'/>: given to the guest, invisible in it


@dataclass(frozen=True)
class ParsedDomain:
    name: str
    uuid: str
    devices: tuple[DeviceRef, ...]
    # PCI hostdevs, any device (the inventory keeps those that are VFs)
    problems: tuple[str, ...] = ()


def parse_domain(xml: str | bytes) -> ParsedDomain:
    root = xmlutil.parse(xml, "domain XML")
    if root.tag != "domain":
        raise xmlutil.XmlError(f"not a domain XML document (root element <{root.tag}>)")
    name = (root.findtext("name") or "").strip()
    uuid = (root.findtext("uuid") or "").strip()
    devices_el = root.find("devices")
    refs: list[DeviceRef] = []
    problems: list[str] = []
    if devices_el is not None:
        for position, el in enumerate(devices_el):
            if not isinstance(el.tag, str):
                continue  # comments, processing instructions
            try:
                ref = device_ref(el, position)
            except (xmlutil.XmlError, pci.PciAddressError, ValueError) as err:
                problems.append(f"<{el.tag}> #{position}: {err}")
                continue
            if ref is not None:
                refs.append(ref)
    return ParsedDomain(name=name, uuid=uuid, devices=tuple(refs), problems=tuple(problems))


def device_ref(el: etree._Element, position: int) -> DeviceRef | None:
    """A DeviceRef for a VF-candidate device element, else None."""
    if el.tag == "hostdev":
        if el.get("mode", "subsystem") != "subsystem" or el.get("type") != "pci":
            return None
        addr = _source_address(el)
        if addr is None:
            raise xmlutil.XmlError("PCI hostdev without a source address")
        return _ref(el, HOSTDEV, position, source_pci=pci.from_libvirt_attrs(addr))
    if el.tag == "interface":
        itype = el.get("type")
        if itype == "hostdev":
            addr = _source_address(el)
            if addr is None:
                raise xmlutil.XmlError("hostdev interface without a source address")
            if addr.get("type", "pci") != "pci":
                return None
            return _ref(el, INTERFACE_HOSTDEV, position, source_pci=pci.from_libvirt_attrs(addr))
        if itype == "network":
            net = _child(el, "source")
            network = net.get("network") if net is not None else None
            if not network:
                raise xmlutil.XmlError("network interface without a network name")
            return _ref(el, INTERFACE_NETWORK, position, network=network)
        if itype == "direct":
            src = _child(el, "source")
            dev = src.get("dev") if src is not None else None
            if not dev:
                return None
            return dataclasses.replace(_ref(el, INTERFACE_DIRECT, position), source_dev=dev,
                                       source_mode=src.get("mode", "vepa"))
    return None


def _child(el: etree._Element, tag: str) -> etree._Element | None:
    for child in el:
        if child.tag == tag:
            return child
    return None


def _source_address(el: etree._Element) -> etree._Element | None:
    """``<source><address .../>`` (the host side), without lxml's Python-level path search."""
    source = _child(el, "source")
    return None if source is None else _child(source, "address")


def _ref(el: etree._Element, kind: str, position: int, source_pci: str | None = None,
         network: str | None = None) -> DeviceRef:
    # One pass over the children (lxml's find() goes through ElementPath in Python: with 500
    # guests x several devices, eight find() calls per device were most of a scan's time).
    mac = alias = boot = guest_address = None
    vlan: list[int] = []
    for child in el:
        tag = child.tag
        if tag == "mac":
            if mac is None:
                mac = child.get("address")
        elif tag == "alias":
            if alias is None:
                alias = child.get("name")
        elif tag == "boot":
            if boot is None:
                boot = child.get("order")
        elif tag == "address":
            if guest_address is None and child.get("type") == "pci":
                guest_address = pci.guest_slot_from_attrs(child)
        elif tag == "vlan":
            for tag_el in child:
                if tag_el.tag == "tag":
                    value = _int(tag_el.get("id"))
                    if value is not None:
                        vlan.append(value)
    managed = el.get("managed")
    return DeviceRef(
        kind=kind,
        position=position,
        source_pci=source_pci,
        network=network,
        mac=_lower(mac),
        vlan=tuple(vlan),
        alias=alias,
        guest_address=guest_address,
        boot_order=_int(boot),
        managed=None if managed is None else managed == "yes",
        unassigned=is_unassigned(el),
        xml=etree.tostring(el, encoding="unicode", with_tail=False),
    )


def is_unassigned(el: etree._Element) -> bool:
    """A device with ``<address type='unassigned'/>``: passed to the guest but not visible in it."""
    return any(c.get("type") == "unassigned" for c in el if c.tag == "address")


def vlan_tags(el: etree._Element) -> tuple[int, ...]:
    tags = []
    for tag in el.findall("vlan/tag"):
        value = _int(tag.get("id"))
        if value is not None:
            tags.append(value)
    return tuple(tags)


def guest_pci_address(el: etree._Element) -> str | None:
    """The guest-side PCI slot: the device's own <address type='pci'>, never the one under <source>.

    None when libvirt assigns the slot (no address, or one without a slot: ``pci.guest_slot_from_attrs``).
    """
    for addr in el.findall("address"):
        if addr.get("type") == "pci":
            return pci.guest_slot_from_attrs(addr)
    return None


@dataclass(frozen=True)
class LiveHostdevInterface:
    """An ``<interface type='hostdev'>`` of a running guest's live XML."""

    mac: str | None
    alias: str | None
    host_pci: str
    guest_address: str | None


def live_hostdev_interfaces(xml: str | bytes) -> tuple[LiveHostdevInterface, ...]:
    """Every hostdev interface of a live domain XML, with the host VF it is attached to."""
    root = xmlutil.parse(xml, "live domain XML")
    out = []
    for el in root.findall("devices/interface"):
        if el.get("type") != "hostdev":
            continue
        addr = el.find("source/address")
        if addr is None or addr.get("type", "pci") != "pci":
            continue
        try:
            host = pci.from_libvirt_attrs(addr)
        except (pci.PciAddressError, ValueError):
            continue
        out.append(
            LiveHostdevInterface(
                mac=_lower(xmlutil.text_of(el, "mac", "address")),
                alias=xmlutil.text_of(el, "alias", "name"),
                host_pci=host,
                guest_address=guest_pci_address(el),
            )
        )
    return tuple(out)


def _without_tail(el: etree._Element) -> etree._Element:
    import copy

    clone = copy.deepcopy(el)
    clone.tail = None
    return clone


def _lower(value: str | None) -> str | None:
    return value.lower() if value else value


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value, 0)
    except ValueError:
        return None
