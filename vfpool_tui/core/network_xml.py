"""Reading and writing libvirt network XML for hostdev pools.

A pool: ``<network><name>N</name><forward mode='hostdev' managed='yes'><pf dev='eth3'/></forward>``.
While ACTIVE, ``XMLDesc(0)`` also lists the pool's VFs as ``<address type='pci'/>`` children of
``<forward>``; the inactive XML shows only ``<pf>``. A pool may instead be an explicit address list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from vfpool_tui.core import pci, xmlutil


@dataclass(frozen=True)
class NetworkInfo:
    name: str
    uuid: str
    forward_mode: str | None
    managed: bool
    pf_devs: tuple[str, ...]
    addresses: tuple[str, ...]  # <address type='pci'> children of <forward>
    connections: int | None  # <network connections='N'> (active networks in use only)
    vlan: tuple[int, ...]

    @property
    def is_hostdev_pool(self) -> bool:
        return self.forward_mode == "hostdev"


def parse_network(xml: str | bytes) -> NetworkInfo:
    root = xmlutil.parse(xml, "network XML")
    if root.tag != "network":
        raise xmlutil.XmlError(f"not a network XML document (root element <{root.tag}>)")
    fwd = root.find("forward")
    addresses: list[str] = []
    pf_devs: tuple[str, ...] = ()
    mode = None
    managed = False
    if fwd is not None:
        mode = fwd.get("mode", "nat")
        managed = fwd.get("managed") == "yes"
        pf_devs = tuple(p.get("dev") for p in fwd.findall("pf") if p.get("dev"))
        for addr in fwd.findall("address"):
            if addr.get("type", "pci") == "pci":
                addresses.append(pci.from_libvirt_attrs(addr))
    conn = root.get("connections")
    tags = []
    for tag in root.findall("vlan/tag"):
        try:
            tags.append(int(tag.get("id", ""), 0))
        except ValueError:
            pass
    return NetworkInfo(
        name=(root.findtext("name") or "").strip(),
        uuid=(root.findtext("uuid") or "").strip(),
        forward_mode=mode,
        managed=managed,
        pf_devs=pf_devs,
        addresses=tuple(addresses),
        connections=int(conn) if conn and conn.isdigit() else None,
        vlan=tuple(tags),
    )


# libvirt (virNetworkDefParseXML / virXMLCheckIllegalChars): a name may not contain '/' and
# may not be empty; names are also used as file names, so keep to a conservative, portable set.
_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,49}$")


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a good network name, or None when it is."""
    if not name:
        return "the network name is empty"
    if "/" in name:
        return "a network name may not contain '/' (libvirt rejects it)"
    if any(ch.isspace() for ch in name):
        return "a network name may not contain white space"
    if not _NAME_OK.match(name):
        return ("use 1-50 characters: letters, digits and _ . + -, starting with a letter or digit "
                "(the name becomes a file name under /etc/libvirt/qemu/networks)")
    return None


def build_pool_network(name: str, pf_dev: str, managed: bool = True,
                       vlan: int | None = None) -> str:
    """The network XML for a hostdev pool over one PF."""
    root = etree.Element("network")
    etree.SubElement(root, "name").text = name
    fwd = etree.SubElement(root, "forward", mode="hostdev", managed="yes" if managed else "no")
    etree.SubElement(fwd, "pf", dev=pf_dev)
    if vlan is not None:
        v = etree.SubElement(root, "vlan")
        etree.SubElement(v, "tag", id=str(vlan))
    return xmlutil.to_string(root, pretty=True)


@dataclass(frozen=True)
class NetworkPortInfo:
    """A network port (libvirt >= 5.5, ``port.XMLDesc()``): which guest NIC holds which pool VF."""

    uuid: str
    owner_name: str | None
    owner_uuid: str | None
    mac: str | None
    plug_type: str | None  # "hostdev-pci" for a hostdev pool
    host_pci: str | None  # the VF under <plug><address .../> (no type attribute there)


def parse_network_port(xml: str | bytes) -> NetworkPortInfo:
    root = xmlutil.parse(xml, "network port XML")
    if root.tag != "networkport":
        raise xmlutil.XmlError(f"not a network port XML document (root element <{root.tag}>)")
    plug = root.find("plug")
    host_pci = None
    if plug is not None and plug.get("type") == "hostdev-pci":
        addr = plug.find("address")
        if addr is not None:
            host_pci = pci.from_libvirt_attrs(addr)
    mac = xmlutil.text_of(root, "mac", "address")
    owner_uuid = (root.findtext("owner/uuid") or "").strip() or None
    return NetworkPortInfo(
        uuid=(root.findtext("uuid") or "").strip(),
        owner_name=root.findtext("owner/name"),
        owner_uuid=owner_uuid.lower() if owner_uuid else None,
        mac=mac.lower() if mac else None,
        plug_type=plug.get("type") if plug is not None else None,
        host_pci=host_pci,
    )
