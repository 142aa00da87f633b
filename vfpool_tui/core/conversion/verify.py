"""The verify step: what a converted guest runs with.

A started guest must report "running" within ``start_timeout``; then, for each converted device,
the VF it got (from the pool network's ports, else from its live XML) and its MAC. A shut-off guest
has no VF yet: its MACs come from the definition libvirt kept.
"""

from __future__ import annotations

import time
from typing import Callable

import libvirt
from lxml import etree

from vfpool_tui.core import pci
from vfpool_tui.core.conversion.guest_run import GuestRun
from vfpool_tui.core.virt import domain_xml, xmlutil


def wait_running(dom, *, start_timeout: float, poll_interval: float,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> bool:
    """Verify is short and bounded: a stop request does not cut it (that would undo a good start)."""
    deadline = clock() + start_timeout
    while True:
        try:
            if dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING:
                return True
            if not dom.isActive():
                return False
        except libvirt.libvirtError:
            return False
        if clock() >= deadline:
            return False
        sleep(min(0.1, poll_interval))


def what_it_got(conn, ctx: GuestRun) -> tuple[tuple[str | None, ...], tuple[str | None, ...]]:
    """For each converted device: the VF it got and its MAC; None when it cannot be known."""
    try:
        live = ctx.dom.XMLDesc(0)
    except libvirt.libvirtError:
        return tuple(None for _ in ctx.changes), tuple(ch.mac for ch in ctx.changes)
    ports: dict[str, str] = {}
    for name in ctx.pools:  # every pool it went onto (device by device: more than one)
        try:
            net = conn.networkLookupByName(name)
            for port in net.listAllPorts():
                owner, mac, vf = parse_port(port.XMLDesc())
                if owner == ctx.uuid and mac and vf:
                    ports[mac] = vf
        except (libvirt.libvirtError, xmlutil.XmlError, AttributeError):
            pass  # no port API (libvirt < 5.5, test driver): fall back to the live XML
    hostdev_ifaces = domain_xml.live_hostdev_interfaces(live)
    live_root = xmlutil.parse(live, "live domain XML")
    vfs, macs = [], []
    for ch in ctx.changes:
        mac = ch.mac
        el = iface_at(live_root, ch.guest_address, ch.alias, ch.mac)
        if el is not None:
            m = xmlutil.text_of(el, "mac", "address")
            mac = m.lower() if m else mac
        vf = ports.get(mac) if mac else None
        if vf is None:
            for hi in hostdev_ifaces:
                if (mac and hi.mac == mac) or (ch.guest_address and hi.guest_address == ch.guest_address):
                    vf = hi.host_pci
                    break
        vfs.append(vf)
        macs.append(mac)
    return tuple(vfs), tuple(macs)


def macs_from_config(ctx: GuestRun, xml: str) -> tuple[str | None, ...]:
    """For each converted device: its MAC in a definition (the planned one when it names none)."""
    root = xmlutil.parse(xml, "domain XML")
    out = []
    for ch in ctx.changes:
        el = iface_at(root, ch.guest_address, ch.alias, ch.mac)
        m = xmlutil.text_of(el, "mac", "address") if el is not None else None
        out.append(m.lower() if m else ch.mac)
    return tuple(out)


def parse_port(xml: str) -> tuple[str | None, str | None, str | None]:
    """(owner uuid, mac, VF address) of a <networkport>; the plug address has no type attr."""
    root = xmlutil.parse(xml, "network port XML")
    owner = (root.findtext("owner/uuid") or "").strip() or None
    mac = xmlutil.text_of(root, "mac", "address")
    addr = root.find("plug[@type='hostdev-pci']/address")
    vf = None
    if addr is not None:
        try:
            vf = pci.from_libvirt_attrs(addr)
        except (pci.PciAddressError, ValueError):
            vf = None
    return owner, mac.lower() if mac else None, vf


def iface_at(root: etree._Element, guest_address: str | None, alias: str | None,
             mac: str | None) -> etree._Element | None:
    """The <interface> of a domain XML at a guest PCI slot (else by user alias, else by MAC)."""
    ifaces = root.findall("devices/interface")
    if guest_address:
        for el in ifaces:
            if domain_xml.guest_pci_address(el) == guest_address:
                return el
    if alias:
        for el in ifaces:
            if xmlutil.text_of(el, "alias", "name") == alias:
                return el
    if mac:
        for el in ifaces:
            m = xmlutil.text_of(el, "mac", "address")
            if m and m.lower() == mac:
                return el
    return None
