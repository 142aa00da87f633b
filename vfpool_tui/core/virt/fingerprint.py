"""A cheap digest of what libvirt holds, for changes that emit no event.

libvirt sends no event at all for ``attach-device --config`` / ``detach-device --config`` (the
persistent definition of a running guest changes), ``virsh autostart [--disable]`` and
``virsh net-autostart`` (measured on libvirt 9.0). The TUI's backend compares this digest every few
seconds and rescans when it moved.

What it covers: the set of guests, which are running, paused, shut off, persistent and
autostarted (five ``listAllDomains`` calls with filters), every persistent guest's inactive XML
(the definition a conversion or a hard-coded VF lives in), and every network's XML, active,
persistent and autostart flags. Not the live XML of running guests: starting, stopping and
hot-plugging emit events (lifecycle, device-added, device-removed). Cost: one inactive ``XMLDesc``
per guest plus a few list calls; ``bench/reconcile_bench.py`` measures it on the large benchmark
host. A full scan reads all of it anyway: its digest is made from its own reads (``digest``), so
the backend does not read every definition twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import libvirt

# the bulk listings a full scan reads too (core/virt/inventory.py), in this order
DOMAIN_SETS = (
    ("running", "VIR_CONNECT_LIST_DOMAINS_RUNNING"),
    ("paused", "VIR_CONNECT_LIST_DOMAINS_PAUSED"),
    ("shutoff", "VIR_CONNECT_LIST_DOMAINS_SHUTOFF"),
    ("persistent", "VIR_CONNECT_LIST_DOMAINS_PERSISTENT"),
    ("autostart", "VIR_CONNECT_LIST_DOMAINS_AUTOSTART"),
)


def _ignorable(err: libvirt.libvirtError) -> bool:
    """The object vanished between the list and the read: the next round sees the new list."""
    return err.get_error_code() in (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_NO_NETWORK)


def digest(sets: Mapping[str, Iterable[str]], definitions: Iterable[tuple[str, str]],
           networks: Iterable[tuple[str, tuple, str]]) -> str:
    """The digest of what was read: ``sets`` (each of ``DOMAIN_SETS``' names: the UUIDs libvirt
    listed), ``definitions`` (UUID, inactive XML) of the persistent guests, ``networks`` (UUID,
    (active, persistent, autostart), XML). ``libvirt_fingerprint`` reads them now; a full scan
    hands in what it read, so its digest is the state it shows (``LiveInventory.read_digest``)."""
    h = hashlib.blake2b(digest_size=16)
    for label, _flag in DOMAIN_SETS:
        h.update(f"{label}:{','.join(sorted(sets.get(label, ())))};".encode())
    for uuid, xml in sorted(definitions):
        h.update(f"dom:{uuid}:".encode())
        h.update(xml.encode())
    for uuid, flags, xml in sorted(networks, key=lambda n: n[0]):
        h.update(f"net:{uuid}:{tuple(int(f) for f in flags)}:".encode())
        h.update(xml.encode())
    return h.hexdigest()


def libvirt_fingerprint(conn) -> str:
    """A short hex digest; equal digests mean nothing the scan shows changed (see the module doc).

    Raises ``libvirt.libvirtError`` when the connection itself fails (the caller reconnects).
    """
    sets = {label: {d.UUIDString() for d in conn.listAllDomains(getattr(libvirt, flag))}
            for label, flag in DOMAIN_SETS}
    definitions = []
    for dom in conn.listAllDomains(0):
        uuid = dom.UUIDString()
        if uuid not in sets["persistent"]:
            continue  # a transient guest has no definition apart from its live XML
        try:
            xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        except libvirt.libvirtError as err:
            if not _ignorable(err):
                raise
            xml = "<gone/>"
        definitions.append((uuid, xml))
    networks = []
    for net in conn.listAllNetworks(0):
        try:
            persistent = net.isPersistent()
            flags = (net.isActive(), persistent, net.autostart() if persistent else 0)
            xml = net.XMLDesc(0)
        except libvirt.libvirtError as err:
            if not _ignorable(err):
                raise
            flags, xml = (), "<gone/>"
        networks.append((net.UUIDString(), flags, xml))
    return digest(sets, definitions, networks)
