"""Reading and writing libvirt network XML for hostdev pools.

A pool: ``<network><name>N</name><forward mode='hostdev' managed='yes'><pf dev='eth3'/></forward>``.
While ACTIVE, ``XMLDesc(0)`` also lists the pool's VFs as ``<address type='pci'/>`` children of
``<forward>``; the inactive XML shows only ``<pf>``. A pool may instead be an explicit address list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from vfpool_tui.core import pci
from vfpool_tui.core.virt import xmlutil


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


# What libvirt itself rejects in a network name (read from libvirt's source and checked against the
# test driver with conn.networkDefineXML):
# - an empty or missing <name> (VIR_ERR_NO_NAME "missing name information");
# - '/' anywhere (virNetworkDefParseXML: virXMLCheckIllegalChars("name", name, "/"),
#   VIR_ERR_XML_DETAIL "invalid char in name: /").
# The real network driver also writes /etc/libvirt/qemu/networks/NAME.xml (and the autostart link
# and /run/libvirt/network/NAME.xml), so a name longer than NAME_MAX - len(".xml") = 251 bytes fails
# there (ENAMETOOLONG) although the test driver, which writes no file, accepts it. Anything else
# (spaces, a leading '-', non-ASCII, '.', '..') libvirt accepts: those get warnings, not refusals.
_MAX_NAME_BYTES = 255 - len(".xml")
# characters XML 1.0 cannot carry at all (so the name could not even reach libvirt)
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_PORTABLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def name_problem(name: str) -> str | None:
    """Why libvirt would reject ``name`` as a network name, or None when it accepts it."""
    if not name:
        return "the network name is empty (libvirt: missing name information)"
    if "/" in name:
        return "a network name may not contain '/' (libvirt rejects it: invalid char in name)"
    if _XML_ILLEGAL.search(name):
        return "a network name may not contain control characters (XML cannot carry them)"
    if len(name.encode("utf-8")) > _MAX_NAME_BYTES:
        return (f"the network name is longer than {_MAX_NAME_BYTES} bytes: libvirt keeps it as a file "
                "name under /etc/libvirt/qemu/networks and cannot create that file")
    return None


def name_warnings(name: str) -> tuple[str, ...]:
    """Things libvirt accepts in ``name`` that make the network awkward to work with."""
    if name_problem(name) is not None:
        return ()
    out = []
    if name != name.strip():
        out.append("the name starts or ends with white space, which is easy to miss and to mistype")
    elif any(ch.isspace() for ch in name):
        out.append("the name contains white space: every virsh command needs it quoted")
    if name.startswith("-"):
        out.append("the name starts with '-': virsh would take it for an option")
    if name in (".", ".."):
        out.append(f"the name {name!r} looks like a directory entry in file listings")
    if not out and not _PORTABLE.match(name):
        out.append("the name has characters other than letters, digits and _ . + -: "
                   "scripts and shells may need it quoted")
    return tuple(out)


def vlan_problem(vlan: int | None) -> str | None:
    """Why ``vlan`` cannot be the pool's VLAN tag, or None (None means no VLAN)."""
    if vlan is None:
        return None
    if isinstance(vlan, bool) or not isinstance(vlan, int):
        return f"VLAN {vlan!r} is not a number"
    if not 1 <= vlan <= 4094:
        return f"VLAN {vlan} is out of range: use 1-4094 (0 is priority tagging, 4095 is reserved)"
    return None


def build_pool_network(name: str, pf_dev: str, managed: bool = True,
                       vlan: int | None = None) -> str:
    """The network XML for a hostdev pool over one PF (``<pf dev=...>``), pretty printed.

    ``vlan``: one 802.1Q tag that libvirt sets on each VF it hands out (no trunk: an SR-IOV VF takes
    a single tag). No ``<uuid>``: libvirt makes one, so an existing network of the same name can
    never be redefined by this XML (libvirt refuses: "network 'N' already exists with uuid ...").
    Raises ValueError for a name libvirt would reject or a bad VLAN.
    """
    problem = name_problem(name) or vlan_problem(vlan)
    if problem:
        raise ValueError(problem)
    if not pf_dev:
        raise ValueError("the PF has no network device name")
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
