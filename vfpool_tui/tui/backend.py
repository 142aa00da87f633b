"""All blocking work, off the event loop: one libvirt thread, one event thread, one udev thread.

- ``vfpool-libvirt``: a single-thread executor. Every libvirt call (open, scan, register event
  callbacks, close) and the sysfs walk inside the scan go through it, so the connection is only
  ever used from that thread.
- ``vfpool-libvirt-events``: runs ``virEventRunDefaultImpl()`` so libvirt can deliver domain and
  network lifecycle events; a periodic timer wakes it so it notices ``stop()``.
- ``vfpool-udev-watch``: ``core.host.udev_watch.UdevWatcher`` for PCI/net changes (polls with a timeout,
  so it stops promptly).

Results reach the app only as messages from ``tui/messages.py`` (``post`` is the app's thread-safe
``post_message``). Scans are coalesced: while one is queued, asking again does nothing more.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from textual.message import Message

from vfpool_tui.core.model import Host, Scan
from vfpool_tui.core.virt.libvirt_events import ensure_event_loop
from vfpool_tui.tui.messages import ConnectionChanged, HostChanged, LibvirtEvent, ScanFailed, ScanReady

log = logging.getLogger(__name__)

# scanner(conn) -> Scan, called on the libvirt thread; conn is None when libvirt is unreachable
Scanner = Callable[[Any], Scan]

_DOMAIN_EVENTS = {0: "defined", 1: "undefined", 2: "started", 3: "suspended", 4: "resumed",
                  5: "stopped", 6: "shutdown", 7: "pmsuspended", 8: "crashed"}
_NETWORK_EVENTS = {0: "defined", 1: "undefined", 2: "started", 3: "stopped"}


class Backend:
    """Owns the threads; the app calls ``start``, ``request_scan``, ``reconnect`` and ``stop``."""

    def __init__(self, post: Callable[[Message], Any], *, uri: str | None, readonly: bool | None,
                 scanner: Scanner | None = None, discover: Callable[[], Host] | None = None,
                 use_libvirt: bool = True, watch_udev: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._post = post
        self.uri = uri
        self.readonly = readonly
        self._scanner = scanner or self._default_scan
        self._discover = discover
        self._use_libvirt = use_libvirt
        self._watch_udev = watch_udev
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vfpool-libvirt")
        self._stop = threading.Event()
        self._queued = threading.Lock()  # held while a scan is queued but not started
        self._conn: Any = None
        self._callbacks: list[tuple[str, int]] = []
        self._udev: Any = None
        self._first_host: Future | None = None
        self.connected = False
        self.events = False
        self.last_error: str | None = None
        self.timings: dict[str, float] = {}  # seconds, for the benchmark and the log

    # ------------------------------------------------------------------ app side (any thread)

    def start(self) -> None:
        if self._scanner == self._default_scan:
            # the first host discovery (sysfs, no libvirt) runs beside the libvirt connect
            self._first_host = Future()
            threading.Thread(target=self._discover_first, name="vfpool-discover", daemon=True).start()
        if self._use_libvirt:
            self._submit(self._connect)
        self.request_scan("startup")
        if self._watch_udev:
            # off the event loop: opening the monitor waits for its thread to be ready
            threading.Thread(target=self._start_udev, name="vfpool-udev-start", daemon=True).start()

    def request_scan(self, reason: str) -> bool:
        """Queue a scan unless one is already waiting. Returns True when one was queued."""
        if self._stop.is_set():
            return False
        if not self._queued.acquire(blocking=False):
            return False
        if not self._submit(self._scan_job, reason):
            self._queued.release()
            return False
        return True

    def reconnect(self) -> None:
        if self._use_libvirt:
            self._submit(self._disconnect)
            self._submit(self._connect)
        self.request_scan("reconnect")

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        if self._udev is not None:
            self._udev.stop(timeout=1.0)
            self._udev = None
        if self._use_libvirt:
            self._submit(self._disconnect)
        self._executor.shutdown(wait=False, cancel_futures=True)

    def call(self, fn: Callable[..., Any], *args: Any) -> Future | None:
        """Run ``fn(conn, *args)`` on the libvirt thread (for screens that act on libvirt later)."""
        return self._submit(lambda: fn(self._conn, *args))

    # ------------------------------------------------------------------ libvirt thread

    def _submit(self, fn: Callable[..., Any], *args: Any) -> Future | None:
        try:
            return self._executor.submit(fn, *args)
        except RuntimeError:  # shut down
            return None

    def _scan_job(self, reason: str) -> None:
        self._queued.release()
        if self._stop.is_set():
            return
        t0 = self._clock()
        try:
            scan = self._scanner(self._conn if self.connected else None)
        except Exception as err:  # a bug or a host we did not expect: keep the last good view
            log.exception("scan failed")
            self._post(ScanFailed(f"{type(err).__name__}: {err}", reason))
            return
        self._post(ScanReady(scan, reason, self._clock() - t0))

    def _default_scan(self, conn: Any) -> Scan:
        """The real path: ``core.scan.scan`` on our connection, or the hardware alone without one."""
        from vfpool_tui.core import scan as core_scan
        from vfpool_tui.core.virt.connection import LibvirtUnavailable

        first, self._first_host = self._first_host, None
        host = first.result(timeout=120) if first is not None else self._discover_host()
        if conn is not None:
            try:
                return core_scan.scan(uri=self.uri, readonly=self.readonly, host=host, conn=conn)
            except LibvirtUnavailable as err:  # the connection died under us
                self._disconnect()
                self.last_error = str(err)
                self._post(ConnectionChanged(False, self.uri, True, str(err)))
        return Scan(host=host, uri=self.uri, readonly=True,
                    libvirt_error=self.last_error or "libvirt is not connected")

    def _discover_host(self) -> Host:
        if self._discover is not None:
            return self._discover()
        from vfpool_tui.core.host.discovery import discover_host

        return discover_host()

    def _discover_first(self) -> None:
        future = self._first_host
        if future is None:
            return
        try:
            future.set_result(self._discover_host())
        except BaseException as err:  # surfaces in the scan job, which reports it
            future.set_exception(err)

    def _connect(self) -> None:
        if self._stop.is_set() or self.connected:
            return
        from vfpool_tui.core.virt.connection import LibvirtUnavailable, open_connection

        t0 = self._clock()
        events = ensure_event_loop()
        try:
            conn = open_connection(self.uri, self.readonly)
        except LibvirtUnavailable as err:
            self.connected, self.last_error = False, str(err)
            self._post(ConnectionChanged(False, self.uri, bool(self.readonly), str(err)))
            return
        self._conn = conn
        self.connected, self.last_error = True, None
        try:
            ro = bool(conn.isReadOnly()) if hasattr(conn, "isReadOnly") else bool(self.readonly)
        except Exception:
            ro = bool(self.readonly)
        self.events = events and self._register_events(conn)
        try:
            uri = conn.getURI()
        except Exception:
            uri = self.uri
        self.timings["connect"] = self._clock() - t0
        self._post(ConnectionChanged(True, uri, ro, None, self.events))

    def _register_events(self, conn: Any) -> bool:
        import libvirt

        def on_domain(_conn: Any, dom: Any, event: int, _detail: int, _opaque: Any) -> None:
            self._post(LibvirtEvent("domain", dom.name(), _DOMAIN_EVENTS.get(event, str(event))))

        def on_network(_conn: Any, net: Any, event: int, _detail: int, _opaque: Any) -> None:
            self._post(LibvirtEvent("network", net.name(), _NETWORK_EVENTS.get(event, str(event))))

        def on_close(_conn: Any, _reason: int, _opaque: Any) -> None:
            self.connected = False
            self._post(ConnectionChanged(False, self.uri, bool(self.readonly),
                                         "the libvirt connection was closed"))

        ok = True
        try:
            cid = conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, on_domain, None)
            self._callbacks.append(("domain", cid))
        except libvirt.libvirtError:
            ok = False
        try:
            cid = conn.networkEventRegisterAny(None, libvirt.VIR_NETWORK_EVENT_ID_LIFECYCLE, on_network, None)
            self._callbacks.append(("network", cid))
        except (libvirt.libvirtError, AttributeError):
            ok = False
        try:
            conn.registerCloseCallback(on_close, None)
        except (libvirt.libvirtError, AttributeError):
            pass
        return ok

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        self.connected = False
        if conn is None:
            return
        for kind, cid in self._callbacks:
            try:
                if kind == "domain":
                    conn.domainEventDeregisterAny(cid)
                else:
                    conn.networkEventDeregisterAny(cid)
            except Exception:
                pass
        self._callbacks.clear()
        try:
            conn.unregisterCloseCallback()
        except Exception:
            pass
        try:
            conn.close()
        except Exception:
            pass

    # ------------------------------------------------------------------ udev thread

    def _start_udev(self) -> None:
        from vfpool_tui.core.host.udev_watch import UdevWatcher

        def changed(change: Any) -> None:
            self._post(HostChanged(change.action, change.pci or change.sys_name))

        try:
            watcher = UdevWatcher(changed, on_error=lambda e: log.info("udev: %s", e)).start()
        except Exception as err:  # no netlink socket (container), no permission: no live host view
            log.info("udev monitor unavailable: %s", err)
            return
        if self._stop.is_set():
            watcher.stop(timeout=1.0)
        else:
            self._udev = watcher


def empty_scan(uri: str | None, error: str) -> Scan:
    """What the app shows before the first scan, or when there is nothing else."""
    return Scan(host=Host(), uri=uri, libvirt_error=error)
