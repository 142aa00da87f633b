"""All blocking work, off the event loop: one libvirt thread, one event thread, one udev thread.

- ``vfpool-libvirt``: a single thread running calls in order (``tui/libvirt_thread.py``, a daemon:
  a host whose connect hangs does not hold up quitting). Every libvirt call (open, scan, register event
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
- the host's cards (``tui/host_source.py``): with ``udev`` discovery (this machine) the first
  look (the cards, and libvirt when it is on this machine) is taken by a child process beside the
  connect (begun by ``vfpool-tui`` before it imported Textual, or forked here; else the discovery
  runs on ``vfpool-discover``) and ``vfpool-udev-watch`` follows PCI/net changes; with ``libvirt``
  discovery (a remote host, ``--discovery libvirt``) they are read through the node-device API on
  the libvirt thread and node-device events stand in for udev.

With several hosts the app runs one ``Backend`` per host (``key``: the host's URI as given), each
with its own threads, so a slow or lost host holds up only itself.

Results reach the app only as messages from ``tui/messages.py`` (``post`` is the app's thread-safe
``post_message``), each marked with the backend's ``key``. Scans are coalesced: while one is queued, asking again does nothing more.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from textual.message import Message

from vfpool_tui.core.model import Host, Scan
from vfpool_tui.core.scan import FirstLookOf, discovery_for, first_look_of
from vfpool_tui.core.virt.connection import named_uri
from vfpool_tui.core.virt.libvirt_events import Event, Subscription, ensure_event_loop, events_of
from vfpool_tui.tui.host_source import source_for
from vfpool_tui.tui.live_updates import LiveUpdates
from vfpool_tui.tui.libvirt_thread import LibvirtThread
from vfpool_tui.tui.messages import ConnectionChanged, LibvirtEvent, ScanFailed, ScanReady
from vfpool_tui.tui.reconcile import LOST, RECONCILE_EVERY, Reconciling
from vfpool_tui.tui.reconcile import alive as _alive

log = logging.getLogger(__name__)

# scanner(conn) -> Scan, called on the libvirt thread; conn is None when libvirt is unreachable
Scanner = Callable[[Any], Scan]

RECONNECT_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # then 30 s between attempts


class Backend(Reconciling):
    """Owns the threads; the app calls ``start``, ``request_scan``, ``reconnect`` and ``stop``."""

    def __init__(self, post: Callable[[Message], Any], *, uri: str | None, readonly: bool | None,
                 scanner: Scanner | None = None, discover: Callable[[], Host] | None = None,
                 use_libvirt: bool = True, watch_udev: bool = True,
                 reconcile_every: float | None = RECONCILE_EVERY,
                 reconnect_delays: tuple[float, ...] = RECONNECT_DELAYS,
                 clock: Callable[[], float] = time.monotonic, key: str | None = None,
                 discovery: str | None = None) -> None:
        self._post_to_app = post
        self.key = key  # marks every message (several hosts: the host's URI as given)
        self.uri = uri
        self.readonly = readonly
        self._scanner = scanner or self._default_scan
        self._use_libvirt = use_libvirt
        self._clock = clock
        self._reconcile_every = reconcile_every
        self._reconnect_delays = reconnect_delays or RECONNECT_DELAYS
        self._executor = LibvirtThread()
        self._stop = threading.Event()
        self._queued = threading.Lock()  # held while a scan is queued but not started
        self._conn: Any = None
        self._subs: list[Subscription] = []
        self._fingerprint: str | None = None  # libvirt's digest taken before the last scan
        self._reconciling = threading.Lock()  # held while a reconcile is queued or running
        self._reconnecting = threading.Lock()  # held while the reconnect thread runs
        # udev (this machine) or libvirt (the node devices of the host behind the URI); None: auto
        self.discovery = discovery_for(discovery, named_uri(uri))
        self.source = source_for(self.discovery, self._post, discover, watch_udev, self._stop)
        self.live = LiveUpdates(self, discover)  # events applied by parts (tui/live_updates.py)
        self.connected = False
        self.events = False
        self.last_error: str | None = None
        self.timings: dict[str, float] = {}  # seconds, for the benchmark and the log
        self.reconciles = 0  # digests taken by the periodic reconcile
        self.reconcile_scans = 0  # ... that found a change no event had announced
        self.reconnects = 0  # successful automatic reconnections

    # ------------------------------------------------------------------ app side (any thread)

    def start(self) -> None:
        self.source.start(first_beside_connect=self._scanner == self._default_scan, look=self._first_look())
        if self._use_libvirt:
            self._submit(self._show_first_look)
            self._submit(self._connect)
        self.request_scan("startup")
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

    def reconnect(self) -> None:
        if self._use_libvirt:
            self._submit(self._disconnect)
            self._submit(self._connect)
        self.request_scan("reconnect")

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self.source.stop()
        if self._use_libvirt:
            self._submit(self._disconnect)
        self._executor.shutdown(cancel_futures=True)

    def call(self, fn: Callable[..., Any], *args: Any) -> Future | None:
        """Run ``fn(conn, *args)`` on the libvirt thread (for screens that act on libvirt later)."""
        return self._submit(lambda: fn(self._conn, *args))

    def _post(self, msg: Message) -> None:
        msg.host = self.key  # type: ignore[attr-defined]  # HostMessage.host: whose it is
        self._post_to_app(msg)

    # ------------------------------------------------------------------ libvirt thread

    def _submit(self, fn: Callable[..., Any], *args: Any) -> Future | None:
        try:
            return self._executor.submit(fn, *args)
        except RuntimeError:  # shut down
            return None

    def _first_look(self) -> FirstLookOf | None:
        """The first look for a child process (``UdevSource``): the cards, and libvirt with this
        backend's URI and flags when it is on this machine (``core.scan.first_look_of``)."""
        return first_look_of(self.uri, self.readonly, self.discovery, self._use_libvirt)

    def _show_first_look(self) -> None:
        """Before this connection opens: the first look's scan, read by a child process while the
        UI started (``UdevSource.preview``), is shown as soon as it is there. The connect waits for
        it: both would read the same definitions at once, on the cores the UI's start-up needs
        (the test driver's open alone parses every definition). This connection's own read
        follows, as always; the views then show what it read."""
        t0 = self._clock()
        preview = self.source.preview()
        if preview is not None:
            self._post(ScanReady(preview, "startup", self._clock() - t0))

    def _scan_job(self, reason: str) -> None:
        self._queued.release()
        if self._stop.is_set():
            return
        t0 = self._clock()
        if not self.live.enabled:  # a test's scanner: digest libvirt before it reads
            self._take_fingerprint()
        try:
            scan = self._scanner(self._conn if self.connected else None)
        except Exception as err:  # a bug or a host we did not expect: keep the last good view
            log.exception("scan failed")
            self._post(ScanFailed(f"{type(err).__name__}: {err}", reason))
            return
        if self.live.enabled:  # the digest of what this scan read (it read every definition)
            self._fingerprint = self.live.scan.read_digest if self.live.scan is not None else None
        self._post(ScanReady(scan, reason, self._clock() - t0))

    def _default_scan(self, conn: Any) -> Scan:
        """The real path: a whole scan on our connection (kept for the updates by parts that
        follow), or the hardware alone without one (nothing, when it is read through libvirt)."""
        import libvirt

        from vfpool_tui.core.virt.connection import LibvirtUnavailable, describe

        # asked once, when it is needed: with a connection, after libvirt is read (a first discovery
        # still running on its own thread overlaps the round trips to libvirtd)
        host = functools.cache(lambda: self.source.host(conn))
        if conn is not None:
            try:
                try:
                    return self.live.full(conn, host)
                except libvirt.libvirtError as err:
                    raise LibvirtUnavailable(f"cannot read libvirt at {self.uri or 'the default URI'}: "
                                             f"{describe(err)}") from None
            except LibvirtUnavailable as err:  # the connection died under us
                self.live.scan = None
                if _alive(conn):
                    self._disconnect()
                    self.last_error = str(err)
                    self._post(ConnectionChanged(False, self.uri, True, str(err)))
                else:
                    self._lost(conn, str(err))
            if self.discovery == "libvirt":  # what libvirt said of the cards went with it
                host = functools.partial(self.source.host, None)
        return Scan(host=host(), uri=self.uri, readonly=True,
                    libvirt_error=self.last_error or "libvirt is not connected",
                    meta={"discovery": self.discovery})

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

        self._subs = [hub.on_domain(on_event), hub.on_network(on_event), hub.on_close(on_close),
                      *self.source.subscribe(hub, on_event)]  # node-device events: libvirt discovery
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


def empty_scan(uri: str | None, error: str) -> Scan:
    """What the app shows before the first scan, or when there is nothing else."""
    return Scan(host=Host(), uri=uri, libvirt_error=error)
