"""One event registration per connection, fanned out (core/virt/libvirt_events.py), and the digest
the TUI's reconcile compares (core/virt/fingerprint.py), on the real libvirt test driver.

libvirt refuses a second domain lifecycle callback on one connection (code 8, "event callback
already tracked"; the test driver does the same as a real daemon). The real-daemon tier
(tests/real/) checks the same on libvirtd 9.0, with the TUI backend and the engine together.
"""

from __future__ import annotations

import threading
import time

import libvirt
import pytest
from _scan_host import HOLDERS_URI

from vfpool_tui.core.conversion.shutdown import LifecycleWatcher
from vfpool_tui.core.virt.connection import open_connection
from vfpool_tui.core.virt.fingerprint import libvirt_fingerprint
from vfpool_tui.core.virt.libvirt_events import ensure_event_loop, events_of


@pytest.fixture
def conn():
    assert ensure_event_loop()  # before the open, as the backend and the CLI do
    c = open_connection(HOLDERS_URI, readonly=False)
    yield c
    events_of(c).close()
    c.close()


def _wait(pred, timeout=5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


def test_every_subscriber_gets_every_event_from_one_registration(conn):
    seen_a, seen_b, nets = [], [], []
    hub = events_of(conn)
    assert events_of(conn) is hub  # one per connection
    a = hub.on_domain(seen_a.append)
    b = hub.on_domain(seen_b.append)
    n = hub.on_network(nets.append)
    assert a.active and b.active and n.active
    # a direct second registration is what libvirt refuses: the hub holds the only one
    with pytest.raises(libvirt.libvirtError) as err:
        conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, lambda *a: None, None)
    assert err.value.get_error_code() == libvirt.VIR_ERR_INVALID_ARG

    dom = conn.lookupByName("web1")
    dom.destroy()
    assert _wait(lambda: any(e.event == "stopped" for e in seen_a)
                 and any(e.event == "stopped" for e in seen_b))
    ev = next(e for e in seen_a if e.event == "stopped")
    assert (ev.kind, ev.name, ev.uuid) == ("domain", "web1", dom.UUIDString())

    # the last subscriber of a kind takes the registration with it; the next one registers again
    a.cancel()
    assert hub.registered("domain")
    b.cancel()
    assert not hub.registered("domain") and not a.active
    c = hub.on_domain(seen_a.append)
    assert c.active
    dom.create()
    assert _wait(lambda: any(e.event == "started" for e in seen_a))
    conn.networkLookupByName(conn.listNetworks()[0]).destroy()
    assert _wait(lambda: any(e.event == "stopped" for e in nets))


def test_engine_watcher_shares_the_registration_of_the_backend(conn):
    """The TUI's backend subscribes first; the engine's watcher on the same connection is active too
    (it used to register its own callback, get code 8, and fall back to polling)."""
    backend_seen = []
    backend = events_of(conn).on_domain(backend_seen.append)
    watcher = LifecycleWatcher(conn)
    try:
        assert backend.active and watcher.active
        dom = conn.lookupByName("web1")
        stopped = watcher.watch(dom.UUIDString())
        t0 = time.monotonic()
        threading.Timer(0.2, dom.destroy).start()
        assert stopped.wait(5.0)
        assert time.monotonic() - t0 < 2.0
        assert _wait(lambda: any(e.event == "stopped" and e.name == "web1" for e in backend_seen))
    finally:
        watcher.close()
        backend.cancel()


def test_a_broken_subscriber_does_not_starve_the_others(conn):
    seen = []

    def broken(_ev):
        raise RuntimeError("boom")

    events_of(conn).on_domain(broken)
    events_of(conn).on_domain(seen.append)
    conn.lookupByName("web1").destroy()
    assert _wait(lambda: any(e.event == "stopped" for e in seen))


def test_closed_hub_gives_inactive_subscriptions(conn):
    hub = events_of(conn)
    sub = hub.on_domain(lambda ev: None)
    hub.close()
    assert not sub.active and not hub.registered("domain")
    assert not hub.on_domain(lambda ev: None).active
    assert events_of(conn) is not hub  # a fresh one for whoever comes next


def test_fingerprint_moves_on_changes_that_emit_no_event(conn):
    """Autostart and a persistent definition change: what the reconcile is for."""
    first = libvirt_fingerprint(conn)
    assert libvirt_fingerprint(conn) == first  # stable while nothing changes
    dom = conn.lookupByName("web1")
    dom.setAutostart(not dom.autostart())
    second = libvirt_fingerprint(conn)
    assert second != first
    net = conn.networkLookupByName(conn.listNetworks()[0])
    net.setAutostart(not net.autostart())
    third = libvirt_fingerprint(conn)
    assert third != second
    xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE).replace("</devices>", "<watchdog model='i6300esb'/></devices>")
    conn.defineXML(xml)
    assert libvirt_fingerprint(conn) != third


def test_node_device_events_fan_out_from_one_registration():
    """test:///default has a vport-capable HBA: the test driver creates and destroys a vHBA, and
    sends the node-device lifecycle events a real libvirtd sends when udev sees a device come and go."""
    assert ensure_event_loop()
    c = open_connection("test:///default", readonly=False)
    try:
        hub = events_of(c)
        seen_a, seen_b = [], []
        a, b = hub.on_nodedev(seen_a.append), hub.on_nodedev(seen_b.append)
        assert a.active and b.active and hub.registered("nodedev")
        dev = c.nodeDeviceCreateXML(
            "<device><parent>scsi_host1</parent><capability type='scsi_host'><capability type='fc_host'>"
            "<wwnn>2000000012345678</wwnn><wwpn>1000000012345678</wwpn></capability></capability></device>", 0)
        name = dev.name()
        dev.destroy()
        assert _wait(lambda: [e.event for e in seen_a] == ["created", "deleted"] == [e.event for e in seen_b])
        assert {(e.kind, e.name) for e in seen_a} == {("nodedev", name)}
        a.cancel()
        b.cancel()
        assert not hub.registered("nodedev")
    finally:
        events_of(c).close()
        c.close()


def test_a_full_read_digests_what_it_read_as_the_reconcile_does(conn):
    """The backend's full scan takes its digest from its own reads instead of reading every
    definition a second time: equal to the reconcile's digest while nothing changes (else the
    reconcile would rescan at every tick), different once something changed after the read."""
    from vfpool_tui.core.model import Host
    from vfpool_tui.core.virt.inventory import LiveInventory

    inv = LiveInventory(conn, Host())
    assert inv.read_digest == libvirt_fingerprint(conn)
    dom = conn.lookupByName("web1")
    dom.setAutostart(not dom.autostart())  # no event: only the digest tells
    assert LiveInventory(conn, Host()).read_digest == libvirt_fingerprint(conn) != inv.read_digest


def test_a_network_the_scan_cannot_parse_still_counts_in_its_digest(conn, monkeypatch):
    # libvirt's XML always parses here; a network our parser refused (stood in for by this patch:
    # no real part makes libvirt hand out XML we refuse) was left out of the scan's digest, and
    # the digests never met: a rescan every few seconds
    from vfpool_tui.core.model import Host
    from vfpool_tui.core.virt import inventory, xmlutil

    def refuse(xml):
        raise xmlutil.XmlError("refused")

    monkeypatch.setattr(inventory.network_xml, "parse_network", refuse)
    inv = inventory.LiveInventory(conn, Host())
    assert inv.inventory().errors  # the refusal is reported
    assert inv.read_digest == libvirt_fingerprint(conn)
