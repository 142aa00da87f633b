"""libvirt's event loop (once per process) and ONE event registration per connection, fanned out.

The event loop: lifecycle events (a guest stopped, a network started) and the close callback are
only delivered while an event implementation runs, and remote connections only deliver them when it
was registered BEFORE the connection was opened. The CLI's conversion engine and the TUI's backend
both need it; whoever comes first registers it (``ensure_event_loop``), the other finds it running.
A timer wakes the loop every half second so an interpreter shutdown is never stuck behind it.

The registrations: libvirt-python allows one domain lifecycle callback per connection (a second
``domainEventRegisterAny`` fails with code 8, "event callback already tracked", whatever the Python
callback), and one close callback. So nobody registers directly: ``events_of(conn)`` is the one
``ConnectionEvents`` of a connection, which registers with libvirt on the first subscriber of a kind
and hands every event to every subscriber (the TUI's backend and the conversion engine's shutdown
wait share one connection in the TUI). Subscribers are called on the event-loop thread: they must be
quick and must not call libvirt (post a message, set a ``threading.Event``).

Domain events: lifecycle (``started``, ``stopped``, ``defined``...) and device hot-plug
(``device-added``, ``device-removed``: a live attach changes the VF a guest holds without any
lifecycle event). Changes with no event at all (``attach-device --config``, autostart) are found by
the TUI's periodic reconcile (``core.virt.fingerprint``).

Node-device events (``on_nodedev``): lifecycle (``created``, ``deleted``, ``defined``,
``undefined``) and ``updated``, for a host whose cards are read through libvirt's node-device API
(``core.virt.nodedev_discovery``): they stand in for udev. ``Event.uuid`` is empty for them.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import libvirt

log = logging.getLogger(__name__)

_lock = threading.Lock()
_running = False


def ensure_event_loop() -> bool:
    """Start libvirt's default event loop if not running yet. False: not available (poll instead)."""
    global _running
    with _lock:
        if _running:
            return True
        try:
            libvirt.virEventRegisterDefaultImpl()
            libvirt.virEventAddTimeout(500, lambda _timer, _opaque: None, None)
        except libvirt.libvirtError as err:
            log.info("libvirt events unavailable: %s", err)
            return False

        def run() -> None:
            while True:
                try:
                    libvirt.virEventRunDefaultImpl()
                except libvirt.libvirtError:
                    time.sleep(0.5)

        threading.Thread(target=run, name="vfpool-libvirt-events", daemon=True).start()
        _running = True
        return True


def event_loop_running() -> bool:
    return _running


# --------------------------------------------------------------------------- one registration per connection

DOMAIN_LIFECYCLE = {0: "defined", 1: "undefined", 2: "started", 3: "suspended", 4: "resumed",
                    5: "stopped", 6: "shutdown", 7: "pmsuspended", 8: "crashed"}
NETWORK_LIFECYCLE = {0: "defined", 1: "undefined", 2: "started", 3: "stopped"}
NODEDEV_LIFECYCLE = {0: "created", 1: "deleted", 2: "defined", 3: "undefined"}


@dataclass(frozen=True)
class Event:
    """A domain or network event, as every subscriber sees it."""

    kind: str  # "domain" | "network" | "nodedev"
    name: str
    uuid: str
    event: str  # "started", "stopped", "defined", ..., "device-added", "device-removed"
    detail: int | str = 0  # libvirt's detail code; the device alias for device events


DOMAIN, NETWORK, NODEDEV, CLOSE = "domain", "network", "nodedev", "close"


class Subscription:
    """One subscriber's hold on a connection's events. ``active``: libvirt delivers them."""

    def __init__(self, owner: ConnectionEvents | None, kind: str, fn: Callable, active: bool) -> None:
        self._owner = owner
        self.kind = kind
        self.fn = fn
        self.active = active

    def cancel(self) -> None:
        owner, self._owner = self._owner, None
        if owner is not None:
            owner._remove(self)
        self.active = False


class ConnectionEvents:
    """The domain, network, node-device and close callbacks of ONE connection, registered once,
    fanned out.

    ``on_domain(fn)`` / ``on_network(fn)`` / ``on_nodedev(fn)``: ``fn(Event)``; ``on_close(fn)``: ``fn(reason)`` (libvirt's
    ``VIR_CONNECT_CLOSE_REASON_*``). Each returns a ``Subscription``; the libvirt registration of a
    kind goes away with its last subscriber, or with ``close()``. Thread-safe: subscribe from any
    thread; the event-loop thread reads the subscriber tuples without a lock.
    """

    def __init__(self, conn) -> None:
        self._conn = weakref.ref(conn)
        self._lock = threading.Lock()  # subscribe / unsubscribe / (de)register; never held by dispatch
        self._subs: dict[str, tuple[Subscription, ...]] = {DOMAIN: (), NETWORK: (), NODEDEV: (), CLOSE: ()}
        self._ids: dict[str, list[int]] = {DOMAIN: [], NETWORK: [], NODEDEV: []}
        self._registered: dict[str, bool] = {DOMAIN: False, NETWORK: False, NODEDEV: False, CLOSE: False}
        self._closed = False

    # ------------------------------------------------------------------ subscribers

    def on_domain(self, fn: Callable[[Event], None]) -> Subscription:
        return self._add(DOMAIN, fn)

    def on_network(self, fn: Callable[[Event], None]) -> Subscription:
        return self._add(NETWORK, fn)

    def on_nodedev(self, fn: Callable[[Event], None]) -> Subscription:
        return self._add(NODEDEV, fn)

    def on_close(self, fn: Callable[[int], None]) -> Subscription:
        return self._add(CLOSE, fn)

    def registered(self, kind: str) -> bool:
        return self._registered[kind]

    def close(self) -> None:
        """Deregister everything (before the connection is closed); subscriptions go inactive."""
        with self._lock:
            self._closed = True
            for kind in (DOMAIN, NETWORK, NODEDEV, CLOSE):
                for sub in self._subs[kind]:
                    sub.active = False
                    sub._owner = None
                self._subs[kind] = ()
                self._deregister(kind)
        conn = self._conn()
        if conn is not None:
            with _hubs_lock:
                if _hubs.get(conn) is self:
                    del _hubs[conn]

    def _add(self, kind: str, fn: Callable) -> Subscription:
        with self._lock:
            if self._closed or not event_loop_running():
                return Subscription(None, kind, fn, False)
            if not self._registered[kind]:
                self._registered[kind] = self._register(kind)
            sub = Subscription(self, kind, fn, self._registered[kind])
            self._subs[kind] = self._subs[kind] + (sub,)
            return sub

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            left = tuple(s for s in self._subs[sub.kind] if s is not sub)
            self._subs[sub.kind] = left
            if not left:
                self._deregister(sub.kind)

    # ------------------------------------------------------------------ libvirt side (under the lock)

    def _register(self, kind: str) -> bool:
        conn = self._conn()
        if conn is None:
            return False
        try:
            if kind == DOMAIN:
                ids = [conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                   self._domain_lifecycle, None)]
                for event_id, cb in ((libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, self._device_added),
                                     (libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, self._device_removed)):
                    try:
                        ids.append(conn.domainEventRegisterAny(None, event_id, cb, None))
                    except libvirt.libvirtError:  # a driver without device events: lifecycle only
                        pass
                self._ids[DOMAIN] = ids
            elif kind == NETWORK:
                self._ids[NETWORK] = [conn.networkEventRegisterAny(
                    None, libvirt.VIR_NETWORK_EVENT_ID_LIFECYCLE, self._network_lifecycle, None)]
            elif kind == NODEDEV:
                ids = [conn.nodeDeviceEventRegisterAny(None, libvirt.VIR_NODE_DEVICE_EVENT_ID_LIFECYCLE,
                                                       self._nodedev_lifecycle, None)]
                try:
                    ids.append(conn.nodeDeviceEventRegisterAny(None, libvirt.VIR_NODE_DEVICE_EVENT_ID_UPDATE,
                                                               self._nodedev_update, None))
                except libvirt.libvirtError:  # lifecycle only
                    pass
                self._ids[NODEDEV] = ids
            else:
                conn.registerCloseCallback(self._closed_cb, None)
        except (libvirt.libvirtError, AttributeError, TypeError) as err:
            log.info("libvirt %s events unavailable: %s", kind, err)
            return False
        return True

    def _deregister(self, kind: str) -> None:
        if not self._registered[kind]:
            return
        self._registered[kind] = False
        conn = self._conn()
        if conn is None:
            return
        try:
            if kind == DOMAIN:
                for cid in self._ids[DOMAIN]:
                    conn.domainEventDeregisterAny(cid)
            elif kind == NETWORK:
                for cid in self._ids[NETWORK]:
                    conn.networkEventDeregisterAny(cid)
            elif kind == NODEDEV:
                for cid in self._ids[NODEDEV]:
                    conn.nodeDeviceEventDeregisterAny(cid)
            else:
                conn.unregisterCloseCallback()
        except (libvirt.libvirtError, AttributeError, KeyError):
            pass  # the connection is already gone: so are its registrations
        if kind in self._ids:
            self._ids[kind] = []

    # ------------------------------------------------------------------ event-loop thread

    def _fan_out(self, kind: str, arg) -> None:
        for sub in self._subs[kind]:  # a tuple, replaced (never changed) by _add / _remove
            try:
                sub.fn(arg)
            except Exception:  # one broken subscriber must not starve the others
                log.exception("libvirt %s event subscriber failed", kind)

    def _domain(self, dom, event: str, detail: int | str) -> None:
        try:
            ev = Event(DOMAIN, dom.name(), dom.UUIDString(), event, detail)  # both local, no RPC
        except libvirt.libvirtError:
            return
        self._fan_out(DOMAIN, ev)

    def _domain_lifecycle(self, _conn, dom, event: int, detail: int, _opaque) -> None:
        self._domain(dom, DOMAIN_LIFECYCLE.get(event, str(event)), detail)

    def _device_added(self, _conn, dom, alias: str, _opaque) -> None:
        self._domain(dom, "device-added", alias)

    def _device_removed(self, _conn, dom, alias: str, _opaque) -> None:
        self._domain(dom, "device-removed", alias)

    def _network_lifecycle(self, _conn, net, event: int, detail: int, _opaque) -> None:
        try:
            ev = Event(NETWORK, net.name(), net.UUIDString(), NETWORK_LIFECYCLE.get(event, str(event)), detail)
        except libvirt.libvirtError:
            return
        self._fan_out(NETWORK, ev)

    def _nodedev(self, dev, event: str, detail: int) -> None:
        try:
            ev = Event(NODEDEV, dev.name(), "", event, detail)  # local, no RPC
        except libvirt.libvirtError:
            return
        self._fan_out(NODEDEV, ev)

    def _nodedev_lifecycle(self, _conn, dev, event: int, detail: int, _opaque) -> None:
        self._nodedev(dev, NODEDEV_LIFECYCLE.get(event, str(event)), detail)

    def _nodedev_update(self, _conn, dev, _opaque) -> None:
        self._nodedev(dev, "updated", 0)

    def _closed_cb(self, _conn, reason: int, _opaque) -> None:
        self._fan_out(CLOSE, reason)


_hubs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_hubs_lock = threading.Lock()


def events_of(conn) -> ConnectionEvents:
    """The one ``ConnectionEvents`` of ``conn`` (made on first use)."""
    with _hubs_lock:
        hub = _hubs.get(conn)
        if hub is None:
            hub = _hubs[conn] = ConnectionEvents(conn)
        return hub
