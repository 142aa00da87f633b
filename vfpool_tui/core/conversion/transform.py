"""The domain XML transform: hard-coded VF devices -> interfaces on a hostdev pool network.

Pure lxml, no libvirt. Input is a guest's persistent (inactive) domain XML exactly as libvirt
printed it; output is the same document with each selected VF device replaced, in place, by

    <interface type='network'>
      <mac address='...'/>
      <source network='NET'/>
      ... what the guest depends on ...
    </interface>

Two device forms are converted (selected by their host VF address, the ``<source><address>``):

- ``<hostdev mode='subsystem' type='pci'>`` whose source is a VF (the caller knows which sources
  are VFs; this module does not look at the host),
- ``<interface type='hostdev'>``.

Carried over: ``<mac>`` (for a bare hostdev the caller passes the VF's administrative MAC, or one
the operator entered; without one libvirt generates a MAC and the guest sees a new one), ``<vlan>``,
``<virtualport>``, ``<driver>``, ``<boot>``, ``<rom>``, user aliases (``ua-*``), the guest-side
``<address>``, ``<acpi>``, ``<teaming>``, ``<model>`` and ``trustGuestRxFilters``. Replaced without
a note: the host ``<source><address>`` (the pool picks the VF), ``managed='yes'`` and
libvirt-generated aliases (libvirt itself ignores them on define). Everything else that is left
out gets a note with its true reason (``DROP_REASONS``); every drop is in ``DeviceChange.dropped``.
A MAC written in upper case comes back in lower case, as libvirt stores it, and the notes say so.
A device with ``<address type='unassigned'/>`` (given to the guest, invisible in it) is refused with
libvirt's own reason: it is not a guest NIC. Everything else in the document is left byte-for-byte.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from lxml import etree

from vfpool_tui.core import pci

# children of a VF device that the guest depends on and that are valid on <interface type='network'>
from vfpool_tui.core.virt import domain_xml, xmlutil

CARRIED = ("mac", "vlan", "virtualport", "driver", "model", "teaming", "boot", "rom", "alias",
           "address", "acpi")

# attributes of the device element carried onto the new <interface> (valid there, same meaning)
CARRIED_ATTRS = ("trustGuestRxFilters",)

# replaced without a note: the host address (the pool hands out a VF) and managed='yes'; managed='no'
# has a note of its own (``TransformResult.notes``)
_QUIET_DROPS = ("source", "managed='yes'", "managed='no'")

# valid on <interface type='network'>, but libvirt applies only the MAC, VLAN and virtualport to a
# VF it passes through: these configure a host tap device (or its bridge port), which a VF has none of
_TAP_ONLY = ("target", "guest", "backend", "filterref", "bandwidth", "tune", "coalesce", "link", "mtu",
             "ip", "route", "port", "script")

DROP_REASONS = {
    "filterref": "libvirt applies network filters to a host tap device; a passed-through VF has none, "
                 "so it filtered nothing",
    "backend": "names the host's tap and vhost devices; a passed-through VF uses neither",
    "target": "the host-side device name; a VF from the pool has no host device to name",
}
_TAP_REASON = "valid on a network interface, but libvirt does not apply it to a passed-through VF"
_NOT_VALID = "not valid on a network interface"

UNASSIGNED_REASON = ("it has <address type='unassigned'/>: the VF is given to the guest but not visible "
                     "in it, so it is not a guest NIC; libvirt refuses that on an interface (\"address of "
                     "type 'unassigned' is supported only for hostdevs\")")

_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")

FORM_HOSTDEV = "hostdev"
FORM_INTERFACE_HOSTDEV = "interface-hostdev"


class TransformError(ValueError):
    """The requested transform cannot be done. ``str()`` is one line for the operator."""


@dataclass(frozen=True)
class DeviceChange:
    """What happened to one converted device."""

    source_pci: str  # the host VF the device was hard-coded to
    form: str  # FORM_HOSTDEV | FORM_INTERFACE_HOSTDEV
    mac: str | None  # the MAC the new interface carries; None: libvirt will generate one
    mac_origin: str | None  # "config" (was in the XML) | "given" (VF admin MAC or operator) | None
    guest_address: str | None
    boot_order: int | None
    vlan: tuple[int, ...]
    alias: str | None
    kept: tuple[str, ...]  # child element names carried over
    dropped: tuple[str, ...]  # what was left out, e.g. "source", "managed='yes'", "alias hostdev0"
    mac_written: str | None = None  # the MAC as the old definition wrote it, when not lower case

    @property
    def new_mac(self) -> bool:
        """True when the guest will see a different MAC than before (libvirt picks one)."""
        return self.mac is None


@dataclass(frozen=True)
class TransformResult:
    xml: str
    changes: tuple[DeviceChange, ...]

    @property
    def notes(self) -> tuple[str, ...]:
        out = []
        for ch in self.changes:
            if ch.new_mac:
                out.append(
                    f"{ch.source_pci}: the VF's MAC is not known, so libvirt will pick a new one "
                    "and the guest will see a new MAC (give one to keep it)"
                )
            if "managed='no'" in ch.dropped:
                out.append(f"{ch.source_pci}: was managed='no'; the pool network's own 'managed' "
                           "setting decides who binds its VFs to vfio-pci from now on")
            if ch.mac_written:
                out.append(f"{ch.source_pci}: MAC {ch.mac_written} is written {ch.mac} (libvirt keeps "
                           "MACs in lower case; the same address)")
            extra = [d for d in ch.dropped if d not in _QUIET_DROPS and not d.startswith("alias ")]
            if extra:
                out.append(f"{ch.source_pci}: left out: " + "; ".join(f"{d} ({drop_reason(d)})" for d in extra))
        return tuple(out)


def drop_reason(dropped: str) -> str:
    """Why a child element or attribute of a hard-coded device is not on the new interface."""
    if dropped.startswith("<source "):
        return "a setting of the hard-coded device's source; <source network=...> has no such attribute"
    if dropped.startswith("<source>"):
        return "part of the hard-coded device's source; the pool picks the VF"
    if "=" in dropped:
        return "an attribute of the hard-coded device, not of <interface>"
    if dropped in DROP_REASONS:
        return DROP_REASONS[dropped]
    if dropped in _TAP_ONLY:
        return _TAP_REASON
    return _NOT_VALID


def is_mac(text: str) -> bool:
    return bool(_MAC.match(text or ""))


def vf_device_elements(root: etree._Element) -> dict[str, tuple[str, etree._Element]]:
    """Hard-coded PCI devices of a domain, by host address: ``{pci: (form, element)}``.

    Both forms are listed whatever the device is (the caller decides which are VFs).
    """
    out: dict[str, tuple[str, etree._Element]] = {}
    devices = root.find("devices")
    if devices is None:
        return out
    for el in devices:
        if not isinstance(el.tag, str):
            continue
        form = None
        if el.tag == "hostdev" and el.get("mode", "subsystem") == "subsystem" and el.get("type") == "pci":
            form = FORM_HOSTDEV
        elif el.tag == "interface" and el.get("type") == "hostdev":
            form = FORM_INTERFACE_HOSTDEV
        if form is None:
            continue
        addr = el.find("source/address")
        if addr is None or addr.get("type", "pci") != "pci":
            continue
        try:
            out[pci.from_libvirt_attrs(addr)] = (form, el)
        except (pci.PciAddressError, ValueError):
            continue
    return out


def hardcoded_sources(xml: str | bytes) -> tuple[str, ...]:
    """Host PCI addresses hard-coded in a domain XML (both forms), in document order."""
    root = xmlutil.parse(xml, "domain XML")
    return tuple(vf_device_elements(root))


def convert_domain(inactive_xml: str | bytes, network: str | Mapping[str, str],
                   sources: list[str] | tuple[str, ...],
                   macs: dict[str, str] | None = None) -> TransformResult:
    """Replace the devices hard-coded to ``sources`` by interfaces on ``network``.

    ``network``: one pool for every source, or ``{source: pool}`` to put each device on its own pool
    (device by device; every source needs an entry). ``macs`` maps a source address to the MAC to give a converted bare ``<hostdev>`` (an
    ``<interface type='hostdev'>`` keeps its own MAC; an entry for it must agree or is refused).
    Raises TransformError when a source is not in the XML, is listed twice, or a MAC is malformed.
    """
    if not sources:
        raise TransformError("no VF selected to convert")
    macs = {pci.normalize(k): v.lower() for k, v in (macs or {}).items()}
    for src, mac in macs.items():
        if not is_mac(mac):
            raise TransformError(f"{src}: {mac!r} is not a MAC address (aa:bb:cc:dd:ee:ff)")
    wanted = []
    for src in sources:
        try:
            norm = pci.normalize(src)
        except pci.PciAddressError as err:
            raise TransformError(str(err)) from None
        if norm in wanted:
            raise TransformError(f"{norm} is listed twice")
        wanted.append(norm)
    nets = _networks_by_source(network, wanted)

    root = xmlutil.parse(inactive_xml, "domain XML")
    if root.tag != "domain":
        raise TransformError(f"not a domain XML document (root element <{root.tag}>)")
    found = vf_device_elements(root)
    missing = [s for s in wanted if s not in found]
    if missing:
        raise TransformError(
            "no hard-coded <hostdev> or <interface type='hostdev'> for "
            + ", ".join(missing) + " in the guest's definition"
        )
    text = inactive_xml.decode("utf-8") if isinstance(inactive_xml, bytes) else inactive_xml
    changes = []
    edits: list[tuple[etree._Element, etree._Element]] = []
    for src in wanted:
        form, el = found[src]
        new_el, change = _convert_element(el, form, src, nets[src], macs.get(src))
        edits.append((el, new_el))
        changes.append(change)
    spliced = _splice_lines(text, edits)
    for el, new_el in edits:
        el.getparent().replace(el, new_el)
    xml = spliced if spliced is not None else xmlutil.to_string(root)
    return TransformResult(xml=xml, changes=tuple(changes))


def _networks_by_source(network: str | Mapping[str, str], sources: list[str]) -> dict[str, str]:
    if isinstance(network, str):
        if not network:
            raise TransformError("no network name given")
        return {s: network for s in sources}
    given = {}
    for src, net in network.items():
        try:
            given[pci.normalize(src)] = net
        except pci.PciAddressError as err:
            raise TransformError(str(err)) from None
    out = {}
    for s in sources:
        if not given.get(s):
            raise TransformError(f"{s}: no network name given")
        out[s] = given[s]
    return out


def convert_domain_xml(inactive_xml: str | bytes, network: str | Mapping[str, str], sources: list[str] | tuple[str, ...],
                       macs: dict[str, str] | None = None) -> str:
    """``convert_domain(...).xml``."""
    return convert_domain(inactive_xml, network, sources, macs).xml


def _convert_element(el: etree._Element, form: str, src: str, network: str,
                     given_mac: str | None) -> tuple[etree._Element, DeviceChange]:
    dropped: list[str] = []
    if domain_xml.is_unassigned(el):
        raise TransformError(f"{src}: {UNASSIGNED_REASON}")
    new = etree.Element("interface", type="network")
    for attr, value in el.attrib.items():
        if attr in ("mode", "type"):
            continue
        if attr in CARRIED_ATTRS and form == FORM_INTERFACE_HOSTDEV:
            new.set(attr, value)
            continue
        dropped.append(f"{attr}='{value}'")

    new.tail = el.tail
    child_indent, last_tail = _child_whitespace(el)

    config_mac = mac_written = None
    mac_el = el.find("mac")
    if mac_el is not None and mac_el.get("address"):
        config_mac = mac_el.get("address").lower()
        if mac_el.get("address") != config_mac:
            mac_written = mac_el.get("address")
    if given_mac and config_mac and given_mac != config_mac:
        raise TransformError(
            f"{src}: the guest's definition has MAC {config_mac}; refusing to replace it with {given_mac}"
        )
    mac = config_mac or given_mac
    mac_origin = "config" if config_mac else ("given" if given_mac else None)

    children: list[etree._Element] = []
    if mac is not None:
        children.append(etree.Element("mac", address=mac))
    kept: list[str] = []
    source_done = False
    for child in el:
        if not isinstance(child.tag, str):
            continue  # comments inside a device are not kept
        tag = child.tag
        if tag == "source":
            children.append(etree.Element("source", network=network))
            source_done = True
            dropped.append("source")
            dropped.extend(f"<source {a}='{v}'>" for a, v in child.attrib.items())
            dropped.extend(f"<source><{c.tag}>" for c in child
                           if isinstance(c.tag, str) and c.tag != "address")
            continue
        if tag == "mac":
            continue  # already placed first
        if tag == "alias" and not (child.get("name") or "").startswith("ua-"):
            dropped.append(f"alias {child.get('name')}")
            continue
        if tag not in CARRIED:
            dropped.append(tag)
            continue
        clone = etree.fromstring(etree.tostring(child))  # deep copy without the tail
        clone.tail = None
        children.append(clone)
        kept.append(tag)
    if not source_done:  # unreachable for devices found by vf_device_elements, kept for safety
        children.insert(1 if mac else 0, etree.Element("source", network=network))

    new.text = child_indent
    for i, c in enumerate(children):
        c.tail = last_tail if i == len(children) - 1 else child_indent
        new.append(c)

    change = DeviceChange(
        source_pci=src,
        form=form,
        mac=mac,
        mac_origin=mac_origin,
        guest_address=_guest_address(new),
        boot_order=_boot_order(new),
        vlan=domain_xml.vlan_tags(new),
        alias=xmlutil.text_of(new, "alias", "name"),
        kept=tuple(kept),
        dropped=tuple(dropped),
        mac_written=mac_written,
    )
    return new, change


def _child_whitespace(el: etree._Element) -> tuple[str | None, str | None]:
    """The whitespace libvirt put before the first child and after the last one."""
    kids = [c for c in el if isinstance(c.tag, str)]
    if not kids:
        return None, None
    return el.text, kids[-1].tail



def _splice_lines(text: str, edits: list[tuple[etree._Element, etree._Element]]) -> str | None:
    """Replace each old device's lines in ``text`` by the new device, written the way libvirt writes.

    Keeps every other byte of the document as it was, so a diff shows only the converted devices
    (lxml would re-quote every attribute). Returns None when the text is not laid out one device
    per line block (then the caller serialises the whole tree).
    """
    lines = text.splitlines(keepends=True)
    spans = []
    for old, new in edits:
        if old.sourceline is None:
            return None
        start = old.sourceline - 1
        end = start + etree.tostring(old, with_tail=False, encoding="unicode").count("\n")
        if end >= len(lines):
            return None
        segment = "".join(lines[start:end + 1])
        body = segment.strip()
        try:
            reparsed = etree.fromstring(body.encode("utf-8"))
        except etree.XMLSyntaxError:
            return None
        if _c14n(reparsed) != _c14n(old):
            return None
        indent = segment[: len(segment) - len(segment.lstrip())]
        newline = segment[len(segment.rstrip()):]
        spans.append((start, end, indent + libvirt_format(new) + newline))
    for start, end, replacement in sorted(spans, reverse=True):
        lines[start:end + 1] = [replacement]
    return "".join(lines)


def _c14n(el: etree._Element) -> bytes:
    """Exclusive c14n: namespace declarations inherited from the root (``xmlns:qemu`` on
    ``<domain>``) are not part of a device, so they must not make its text compare different."""
    clone = etree.fromstring(etree.tostring(el, with_tail=False))
    return etree.tostring(clone, method="c14n", exclusive=True)


def _escape_attr(value: str) -> str:
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("'", "&apos;").replace('"', "&quot;").replace("\n", "&#10;"))


def _escape_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def libvirt_format(el: etree._Element) -> str:
    """An element (without its tail) as libvirt prints it: single-quoted attributes, ``<x/>``."""
    out: list[str] = []
    _format(el, out)
    return "".join(out)


def _format(el: etree._Element, out: list[str]) -> None:
    if not isinstance(el.tag, str):
        out.append(etree.tostring(el, with_tail=False, encoding="unicode"))
        return
    out.append("<" + el.tag)
    for name, value in el.attrib.items():
        out.append(f" {name}='{_escape_attr(value)}'")
    kids = list(el)
    if not kids and not el.text:
        out.append("/>")
        return
    out.append(">")
    if el.text:
        out.append(_escape_text(el.text))
    for child in kids:
        _format(child, out)
        if child.tail:
            out.append(_escape_text(child.tail))
    out.append(f"</{el.tag}>")


def _guest_address(el: etree._Element) -> str | None:
    try:
        return domain_xml.guest_pci_address(el)
    except (pci.PciAddressError, ValueError):
        return None


def _boot_order(el: etree._Element) -> int | None:
    value = xmlutil.text_of(el, "boot", "order")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def unified_diff(old: str, new: str, name: str, context: int = 3) -> str:
    """A unified diff of two XML documents, labelled with the guest's name."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True),
        fromfile=f"{name} (now)", tofile=f"{name} (on the pool)", n=context,
    )
    out = "".join(lines)
    if out and not out.endswith("\n"):
        out += "\n"
    return out
