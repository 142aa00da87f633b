"""All blocking work, off the event loop: one libvirt thread, one event thread, one udev thread.

- ``vfpool-libvirt``: a single-thread executor. Every libvirt call (open, scan, register event
  callbacks, close) and the sysfs walk inside the scan go through it, so the connection is only
  ever used from that thread.
- ``vfpool-libvirt-events``: runs ``virEventRunDefaultImpl()`` so libvirt can deliver domain and
  network events and the close callback (``core/virt/libvirt_events.py``). The backend subscribes to
  the connection's ONE registration (``events_of(conn)``), which the conversion engine's shutdown
  wait shares on the same connection.
- ``vfpool-reconcile``: every ``reconcile_every`` seconds (longer on a host so big that the digest
  would take more than 1.5 % of the time) asks the libvirt thread for a cheap digest of libvirt
  (``core/virt/fingerprint.py``) and rescans when it moved: changes that emit no event
  (``attach-device --config``, autostart) show within a few seconds without ``r``.
- ``vfpool-reconnect``: when the connection closes (libvirtd stopped or restarted), reconnects by
  itself with backoff (0.5 s doubling to 30 s), telling the app each attempt; the read-write state
  comes back with the connection.
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
from vfpool_tui.core.virt.libvirt_events import Event, Subscription, ensure_event_loop, events_of
from vfpool_tui.tui.messages import ConnectionChanged, HostChanged, LibvirtEvent, ScanFailed, ScanReady

log = logging.getLogger(__name__)

# scanner(conn) -> Scan, called on the libvirt thread; conn is None when libvirt is unreachable
Scanner = Callable[[Any], Scan]

RECONCILE_EVERY = 2.0  # seconds between two digests of libvirt, at least (bench/reconcile_bench.py)
RECONCILE_BUDGET = 0.015  # ... and at most this share of the time spent taking them (a big host waits longer)
RECONNECT_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # then 30 s between attempts
LOST = "the libvirt connection was closed (libvirtd stopped or restarted?)"


class Backend:
    """Owns the threads; the app calls ``start``, ``request_scan``, ``reconnect`` and ``stop``."""

    def __init__(self, post: Callable[[Message], Any], *, uri: str | None, readonly: bool | None,
                 scanner: Scanner | None = None, discover: Callable[[], Host] | None = None,
                 use_libvirt: bool = True, watch_udev: bool = True,
                 reconcile_every: float | None = RECONCILE_EVERY,
                 reconnect_delays: tuple[float, ...] = RECONNECT_DELAYS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._post = post
        self.uri = uri
        self.readonly = readonly
        self._scanner = scanner or self._default_scan
        self._discover = discover
        self._use_libvirt = use_libvirt
        self._watch_udev = watch_udev
        self._clock = clock
        self._reconcile_every = reconcile_every
        self._reconnect_delays = reconnect_delays or RECONNECT_DELAYS
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vfpool-libvirt")
        self._stop = threading.Event()
        self._queued = threading.Lock()  # held while a scan is queued but not started
        self._conn: Any = None
        self._subs: list[Subscription] = []
        self._fingerprint: str | None = None  # libvirt's digest taken before the last scan
        self._reconciling = threading.Lock()  # held while a reconcile is queued or running
        self._reconnecting = threading.Lock()  # held while the reconnect thread runs
        self._udev: Any = None
        self._first_host: Future | None = None
        self._live: Any = None  # core.scan.LiveScan on the current connection (default scanner only)
        self._changes: set[tuple[str, str]] = set()  # (kind, name) events not yet applied
        self._changes_lock = threading.Lock()
        self.connected = False
        self.events = False
        self.last_error: str | None = None
        self.timings: dict[str, float] = {}  # seconds, for the benchmark and the log
        self.reconciles = 0  # digests taken by the periodic reconcile
        self.reconcile_scans = 0  # ... that found a change no event had announced
        self.reconnects = 0  # successful automatic reconnections

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
        if self._use_libvirt and self._reconcile_every:
            threading.Thread(target=self._reconcile_loop, name="vfpool-reconcile", daemon=True).start()

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

    @property
    def incremental(self) -> bool:
        """Events update the view by parts here (the default scanner): the app need not rescan."""
        return self._scanner == self._default_scan

    def apply_changes(self, changes: set[tuple[str, str]]) -> None:
        """Events the app gathered (``("domain"|"network", name)``, ``("host", pci)``): re-read those
        parts on the libvirt thread, in one update (any thread)."""
        with self._changes_lock:
            first = not self._changes
            self._changes |= changes
        if first and not self._submit(self._apply_changes):
            with self._changes_lock:
                self._changes.clear()

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
        self._take_fingerprint()
        try:
            scan = self._scanner(self._conn if self.connected else None)
        except Exception as err:  # a bug or a host we did not expect: keep the last good view
            log.exception("scan failed")
            self._post(ScanFailed(f"{type(err).__name__}: {err}", reason))
            return
        self._post(ScanReady(scan, reason, self._clock() - t0))

    def _apply_changes(self) -> None:
        """The events gathered so far, each part re-read (issue 14: not the whole host)."""
        with self._changes_lock:
            changes, self._changes = self._changes, set()
        if self._stop.is_set() or not changes:
            return
        live = self._live
        if live is None or not self.connected or live.conn is not self._conn:
            self.request_scan("event")
            return
        t0 = self._clock()
        try:
            scan = None
            if any(kind == "network" for kind, _ in changes):
                scan = live.networks()
            for kind, name in sorted(changes):
                if kind == "domain":
                    scan = live.domain_named(name)
                elif kind == "host":
                    scan = live.pf(name)
        except Exception as err:  # a connection gone mid-way, a bug: a full scan says what it can
            log.info("incremental update failed (%s): full scan", err)
            self._live = None
            self.request_scan("event")
            return
        if scan is not None:
            self._post(ScanReady(scan, "event", self._clock() - t0))

    def _default_scan(self, conn: Any) -> Scan:
        """The real path: a ``core.scan.LiveScan`` on our connection (events then update it by
        parts, ``_apply_changes``), or the hardware alone without one."""
        import libvirt

        from vfpool_tui.core import scan as core_scan
        from vfpool_tui.core.virt.connection import LibvirtUnavailable, describe

        first, self._first_host = self._first_host, None
        host = first.result(timeout=120) if first is not None else self._discover_host()
        if conn is not None:
            try:
                self._live = core_scan.LiveScan(conn, self.uri, bool(self.readonly), host=host,
                                                discover_host=self._discover)
                return self._live._result()
            except (libvirt.libvirtError, LibvirtUnavailable) as err:  # the connection died under us
                self._live = None
                why = str(err) if isinstance(err, LibvirtUnavailable) else \
                    f"cannot read libvirt at {self.uri or 'the default URI'}: {describe(err)}"
                self._handle_unavailable(conn, why)
        return Scan(host=host, uri=self.uri, readonly=True,
                    libvirt_error=self.last_error or "libvirt is not connected")

    def _handle_unavailable(self, conn: Any, why: str) -> None:
        """The connection failed under a scan: disconnected (it still lives) or lost (it died)."""
        if _alive(conn):
            self._disconnect()
            self.last_error = why
            self._post(ConnectionChanged(False, self.uri, True, why))
        else:
            self._lost(conn, why)

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

    def _connect(self) -> bool:
        """Open the connection and subscribe to its events. True when connected."""
        if self._stop.is_set():
            return False
        if self.connected:
            return True
        from vfpool_tui.core.virt.connection import LibvirtUnavailable, open_connection

        t0 = self._clock()
        events = ensure_event_loop()  # before the open: remote connections only deliver events then
        try:
            conn = open_connection(self.uri, self.readonly)
        except LibvirtUnavailable as err:
            self.connected, self.last_error = False, str(err)
            self._post(ConnectionChanged(False, self.uri, bool(self.readonly), str(err),
                                         reconnecting=self._reconnecting.locked()))
            return False
        self._conn = conn
        self.connected, self.last_error = True, None
        self._fingerprint = None
        try:
            ro = bool(conn.isReadOnly()) if hasattr(conn, "isReadOnly") else bool(self.readonly)
        except Exception:
            ro = bool(self.readonly)
        self.events = events and self._subscribe(conn)
        try:
            uri = conn.getURI()
        except Exception:
            uri = self.uri
        self.timings["connect"] = self._clock() - t0
        self._post(ConnectionChanged(True, uri, ro, None, self.events))
        return True

    def _subscribe(self, conn: Any) -> bool:
        """Domain and network events and the close callback, from the connection's one registration
        (shared with the conversion engine on this connection). True when both kinds of events come."""
        hub = events_of(conn)

        def on_event(ev: Event) -> None:
            self._post(LibvirtEvent(ev.kind, ev.name, ev.event))

        def on_close(reason: int) -> None:  # event-loop thread: no libvirt call here
            self._submit(self._lost, conn, f"{LOST} (close reason {reason})")

        self._subs = [hub.on_domain(on_event), hub.on_network(on_event), hub.on_close(on_close)]
        return self._subs[0].active and self._subs[1].active

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        self.connected = False
        self._fingerprint = None
        subs, self._subs = self._subs, []
        for sub in subs:  # the close callback first goes: closing the connection would fire it
            sub.cancel()
        if conn is None:
            return
        events_of(conn).close()
        try:
            conn.close()
        except Exception:
            pass

    def _lost(self, conn: Any, why: str) -> None:
        """The connection died under us (close callback, or a call failed with the socket closed):
        drop it, say so, and reconnect by itself."""
        if self._stop.is_set() or conn is not self._conn:
            return  # already replaced (a reconnect came first), or we are stopping
        log.info("libvirt connection lost: %s", why)
        self._disconnect()
        self.last_error = why
        self._start_reconnecting(why)

    # ------------------------------------------------------------------ reconnect thread

    def _start_reconnecting(self, why: str) -> None:
        if self._stop.is_set() or not self._reconnecting.acquire(blocking=False):
            return  # one reconnect thread at a time
        self._post(ConnectionChanged(False, self.uri, True, why, reconnecting=True))
        threading.Thread(target=self._reconnect_loop, args=(why,), name="vfpool-reconnect",
                         daemon=True).start()

    def _reconnect_loop(self, why: str) -> None:
        try:
            attempt = 0
            while not self._stop.is_set():
                delay = self._reconnect_delays[min(attempt, len(self._reconnect_delays) - 1)]
                attempt += 1
                if self._stop.wait(delay):
                    return
                if self.connected:  # `r` was quicker
                    return
                fut = self._submit(self._connect)
                if fut is None:
                    return
                try:
                    ok = fut.result()
                except Exception:  # noqa: BLE001 - a bug in connect must not end the retries
                    log.exception("reconnect attempt failed")
                    ok = False
                if ok:
                    self.reconnects += 1
                    self.request_scan("reconnected")
                    return
                nxt = self._reconnect_delays[min(attempt, len(self._reconnect_delays) - 1)]
                self._post(ConnectionChanged(False, self.uri, True,
                                             f"{self.last_error or why}; reconnecting by itself (attempt "
                                             f"{attempt + 1} in {nxt:g} s)", reconnecting=True))
        finally:
            self._reconnecting.release()

    # ------------------------------------------------------------------ reconcile thread

    def reconcile_period(self) -> float:
        """Seconds to the next digest: ``reconcile_every``, longer when the last digest took more than
        ``RECONCILE_BUDGET`` of that (500 guests on a real libvirtd: ~70 ms, so ~4.6 s)."""
        base = float(self._reconcile_every or RECONCILE_EVERY)
        return max(base, self.timings.get("reconcile", 0.0) / RECONCILE_BUDGET)

    def _reconcile_loop(self) -> None:
        while not self._stop.wait(self.reconcile_period()):
            if not self.connected or not self._reconciling.acquire(blocking=False):
                continue  # not connected, or the last one still runs (a slow daemon)
            if self._submit(self._reconcile_job) is None:
                self._reconciling.release()
                return

    def _reconcile_job(self) -> None:
        """On the libvirt thread: rescan when libvirt's digest moved since the last scan."""
        try:
            conn = self._conn
            if self._stop.is_set() or not self.connected or conn is None:
                return
            from vfpool_tui.core.virt.fingerprint import libvirt_fingerprint

            import libvirt

            t0 = time.perf_counter()
            try:
                digest = libvirt_fingerprint(conn)
            except libvirt.libvirtError as err:
                if not _alive(conn):
                    self._lost(conn, f"{LOST}: {err.get_error_message()}")
                return
            self.timings["reconcile"] = time.perf_counter() - t0
            self.reconciles += 1
            if self._fingerprint is not None and digest != self._fingerprint:
                self.reconcile_scans += 1
                self.request_scan("reconcile")
            self._fingerprint = digest
        finally:
            self._reconciling.release()

    def _take_fingerprint(self) -> None:
        """Before a scan: the digest the next reconcile compares with (a change made during the scan
        then shows as a difference, one scan too many rather than one too few)."""
        if not self._reconcile_every or not self.connected or self._conn is None:
            return
        from vfpool_tui.core.virt.fingerprint import libvirt_fingerprint

        import libvirt

        try:
            self._fingerprint = libvirt_fingerprint(self._conn)
        except libvirt.libvirtError:
            self._fingerprint = None

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


def _alive(conn: Any) -> bool:
    """False when libvirt says the connection is dead (the daemon went away)."""
    try:
        return bool(conn.isAlive())
    except Exception:  # noqa: BLE001 - no answer is no connection
        return False


def empty_scan(uri: str | None, error: str) -> Scan:
    """What the app shows before the first scan, or when there is nothing else."""
    return Scan(host=Host(), uri=uri, libvirt_error=error)
