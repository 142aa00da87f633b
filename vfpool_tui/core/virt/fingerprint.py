"""A cheap digest of what libvirt holds, for changes that emit no event.

libvirt sends no event at all for ``attach-device --config`` / ``detach-device --config`` (the
persistent definition of a running guest changes), ``virsh autostart [--disable]`` and
``virsh net-autostart`` (measured on libvirt 9.0). The TUI's backend compares this digest every few
seconds and rescans when it moved.

What it covers: the set of guests, which are active, paused, persistent and autostarted (four
``listAllDomains`` calls with filters), every persistent guest's inactive XML (the definition a
conversion or a hard-coded VF lives in), and every network's XML, active, persistent and autostart
flags. Not the live XML of running guests: starting, stopping and hot-plugging emit events
(lifecycle, device-added, device-removed). Cost: one inactive ``XMLDesc`` per guest plus a few list
calls; ``bench/reconcile_bench.py`` measures it on the large benchmark host.
"""

from __future__ import annotations

import hashlib

import libvirt

_DOMAIN_SETS = (
    ("active", "VIR_CONNECT_LIST_DOMAINS_ACTIVE"),
    ("paused", "VIR_CONNECT_LIST_DOMAINS_PAUSED"),
    ("persistent", "VIR_CONNECT_LIST_DOMAINS_PERSISTENT"),
    ("autostart", "VIR_CONNECT_LIST_DOMAINS_AUTOSTART"),
)


def _ignorable(err: libvirt.libvirtError) -> bool:
    """The object vanished between the list and the read: the next round sees the new list."""
    return err.get_error_code() in (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_NO_NETWORK)


def libvirt_fingerprint(conn) -> str:
    """A short hex digest; equal digests mean nothing the scan shows changed (see the module doc).

    Raises ``libvirt.libvirtError`` when the connection itself fails (the caller reconnects).
    """
    h = hashlib.blake2b(digest_size=16)
    persistent: set[str] = set()
    for label, flag in _DOMAIN_SETS:
        uuids = sorted(d.UUIDString() for d in conn.listAllDomains(getattr(libvirt, flag)))
        h.update(f"{label}:{','.join(uuids)};".encode())
        if label == "persistent":
            persistent = set(uuids)
    for dom in sorted(conn.listAllDomains(0), key=lambda d: d.UUIDString()):
        uuid = dom.UUIDString()
        if uuid not in persistent:
            continue  # a transient guest has no definition apart from its live XML
        try:
            xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        except libvirt.libvirtError as err:
            if not _ignorable(err):
                raise
            xml = "<gone/>"
        h.update(f"dom:{uuid}:".encode())
        h.update(xml.encode())
    for net in sorted(conn.listAllNetworks(0), key=lambda n: n.UUIDString()):
        try:
            flags = (net.isActive(), net.isPersistent(), net.autostart() if net.isPersistent() else 0)
            xml = net.XMLDesc(0)
        except libvirt.libvirtError as err:
            if not _ignorable(err):
                raise
            flags, xml = (), "<gone/>"
        h.update(f"net:{net.UUIDString()}:{flags}:".encode())
        h.update(xml.encode())
    return h.hexdigest()
