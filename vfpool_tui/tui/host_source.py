"""Where the TUI backend finds a host's SR-IOV cards, and what tells it they changed.

- ``UdevSource`` (``udev`` discovery: the hypervisor is this machine): pyudev and sysfs. The first
  discovery runs beside the libvirt connect: a forked child process takes the whole first look
  (``core.scan.first_look`` through ``core.forked_call``: the cards and, on this machine, every
  guest's definition), so that its CPU runs on another core instead of taking turns with the UI's
  start-up at the interpreter lock. ``vfpool-tui`` begins that child before it imports Textual
  (``core.head_start``) and the source takes it; else it forks one when this is still the
  process's only thread; else the discovery runs on its own thread (``vfpool-discover``). The
  udev watcher (``vfpool-udev-watch``, ``core.host.udev_watch``) posts ``HostChanged``.
- ``LibvirtSource`` (``libvirt`` discovery: a remote hypervisor, or ``--discovery libvirt``):
  ``discover_host_via_libvirt(conn)`` on the backend's libvirt thread, inside each scan; the
  connection's node-device events (one registration per connection, ``events_of(conn)``) stand in
  for udev. No udev watcher: this machine's udev knows nothing of another host's cards.

``core.scan.discovery_for`` picks the mode (``auto``: libvirt when the URI names another machine).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, wait
from typing import Any

from textual.message import Message

from vfpool_tui.core import head_start
from vfpool_tui.core.forked_call import ForkedCall, safe_to_fork
from vfpool_tui.core.model import Host, Scan
from vfpool_tui.core.scan import FirstLook, FirstLookOf
from vfpool_tui.core.virt.libvirt_events import ConnectionEvents, Event, Subscription
from vfpool_tui.tui.messages import HostChanged

log = logging.getLogger(__name__)

# seconds the backend's connect waits, at most, for the first look of the child process
PREVIEW_WAIT = 5.0

NOT_CONNECTED = ("this host's cards are read through libvirt's node-device API, and libvirt is not "
                 "connected")


class UdevSource:
    """This machine's cards: pyudev + sysfs, and the udev watcher."""

    mode = "udev"

    def __init__(self, post: Callable[[Message], Any], discover: Callable[[], Host] | None,
                 watch: bool, stopped: threading.Event) -> None:
        self._post = post
        self._discover = discover
        self._watch = watch
        self._stopped = stopped
        self._first: Future | None = None
        self._forked: ForkedCall | None = None  # the first look, in a child process
        self._looked: FirstLook | None = None  # what it found, until taken
        self._early = False  # the look was begun before the app (core.head_start)
        self._udev: Any = None

    def start(self, first_beside_connect: bool, look: FirstLookOf | None = None) -> None:
        """``look``: the first look at this machine (``core.scan.first_look_of``, with the
        backend's URI and flags) for a child process."""
        if first_beside_connect:
            # the first look (the cards, and libvirt when ``look`` reads it) runs beside the
            # libvirt connect: in a child process when the discovery is the real one (a test's
            # callable may act on this process: it runs here), the one begun before the UI was
            # imported (``core.head_start``) or else forked now if that is safe; else the
            # discovery alone on a thread
            if look is not None and self._discover is None:
                self._forked = head_start.take(look)
                self._early = self._forked is not None
                if self._forked is None and safe_to_fork():
                    self._forked = ForkedCall.start(look)
            if self._forked is None:
                self._first = Future()
                threading.Thread(target=self._discover_first, name="vfpool-discover", daemon=True).start()
        if self._watch:
            # off the event loop: opening the monitor waits for its thread to be ready
            threading.Thread(target=self._start_udev, name="vfpool-udev-start", daemon=True).start()

    def wait_first(self, timeout: float) -> None:
        """Wait (up to ``timeout`` seconds) for the first discovery, which runs on its own thread.
        The app calls this before it builds its screens: sysfs discovery makes thousands of short
        system calls, and after each one it waits for the GIL while another thread computes (the
        interpreter hands it over every 5 ms): beside Textual's start-up, discovering 1,000 VFs
        took 370 ms instead of 80. Waiting here lets it run alone; a sysfs read that hangs holds
        the screens back ``timeout`` seconds at most. A discovery in a child process takes
        nothing from this one: no wait."""
        first = self._first
        if first is not None:
            wait([first], timeout=timeout)

    def preview(self, wait: float = PREVIEW_WAIT) -> Scan | None:
        """The whole first scan as the child process read it (once; on the libvirt thread, which
        waits for the child up to ``wait`` seconds), or None: no child, it failed, it could not
        read libvirt, or it is still at it (a sysfs read that hangs): then the backend connects
        without it, and the host is waited for where it is needed (``host``), as before."""
        forked = self._forked
        if forked is not None and not forked.ready(wait):
            return None
        looked = self._take_look()
        if looked is None or looked.scan is None:
            return None
        self._looked = FirstLook(looked.host)
        return looked.scan

    def host(self, conn: Any) -> Host:
        """The host now (on the libvirt thread; ``conn`` is not needed). When the child process
        could not give the first one, it is discovered here, errors and all. A child begun before
        the app read sysfs before the udev watcher was listening: a change meanwhile would have
        told nobody, so the cards are read again here (the first paint has shown the child's)."""
        looked = self._take_look()
        if looked is not None:
            self._looked = None
            if not self._early:
                return looked.host
        first, self._first = self._first, None
        return first.result(timeout=120) if first is not None else self._discover_host()

    def subscribe(self, hub: ConnectionEvents, on_event: Callable[[Event], None]) -> list[Subscription]:
        return []  # udev tells, not libvirt

    def stop(self) -> None:
        forked = self._forked  # (the libvirt thread may take it meanwhile: cancel is then a no-op)
        if forked is not None:
            forked.cancel()
        if self._udev is not None:
            self._udev.stop(timeout=1.0)
            self._udev = None

    def _take_look(self) -> FirstLook | None:
        forked, self._forked = self._forked, None
        if forked is not None:
            self._looked = forked.result(timeout=120, expect=FirstLook)
        return self._looked

    def _discover_host(self) -> Host:
        if self._discover is not None:
            return self._discover()
        from vfpool_tui.core.host.discovery import discover_host

        return discover_host()

    def _discover_first(self) -> None:
        future = self._first
        if future is None:
            return
        try:
            future.set_result(self._discover_host())
        except BaseException as err:  # surfaces in the scan job, which reports it
            future.set_exception(err)

    def _start_udev(self) -> None:
        from vfpool_tui.core.host.udev_watch import UdevWatcher

        def changed(change: Any) -> None:
            self._post(HostChanged(change.action, change.pci or change.sys_name))

        try:
            watcher = UdevWatcher(changed, on_error=lambda e: log.info("udev: %s", e)).start()
        except Exception as err:  # no netlink socket (container), no permission: no live host view
            log.info("udev monitor unavailable: %s", err)
            return
        if self._stopped.is_set():
            watcher.stop(timeout=1.0)
        else:
            self._udev = watcher


class LibvirtSource:
    """The cards of the host behind the connection, from its node devices; node-device events."""

    mode = "libvirt"

    def start(self, first_beside_connect: bool, look: FirstLookOf | None = None) -> None:
        pass  # nothing to read before the connection is open

    def preview(self, wait: float = 0.0) -> Scan | None:
        return None  # no first look: the cards come with the connection

    def wait_first(self, timeout: float) -> None:
        pass  # read on the libvirt thread, inside the first scan

    def host(self, conn: Any) -> Host:
        """On the libvirt thread. Without a connection nothing is known of the host's cards."""
        if conn is None:
            return Host(errors=(NOT_CONNECTED,))
        from vfpool_tui.core.virt.nodedev_discovery import discover_host_via_libvirt

        return discover_host_via_libvirt(conn)

    def subscribe(self, hub: ConnectionEvents, on_event: Callable[[Event], None]) -> list[Subscription]:
        return [hub.on_nodedev(on_event)]

    def stop(self) -> None:
        pass


def source_for(mode: str, post: Callable[[Message], Any], discover: Callable[[], Host] | None,
               watch_udev: bool, stopped: threading.Event) -> UdevSource | LibvirtSource:
    if mode == "libvirt":
        return LibvirtSource()
    return UdevSource(post, discover, watch_udev, stopped)
